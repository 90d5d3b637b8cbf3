"""The lab's DCOM/WMI responder, driven by impacket's own client (what the msrpc transport uses).

Each test builds the hierarchy scenario, starts the responder on 127.0.0.x:135 (root only: DCOM has no
port option) and stops it; the last test proves nothing is left listening or running.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path
from typing import NamedTuple

import pytest
from impacket.dcerpc.v5.dcom import wmi
from impacket.dcerpc.v5.dcomrt import INTERFACE, DCOMConnection
from impacket.dcerpc.v5.dtypes import NULL
from impacket.dcerpc.v5.rpcrt import (RPC_C_AUTHN_LEVEL_CONNECT, RPC_C_AUTHN_LEVEL_PKT_INTEGRITY,
                                      DCERPCException)

from smslab.dcom import WmiResponder, free_loopback_addresses, lab_credentials, wmio
from smslab.scenario import build_state_dir
from smslab.state import HostState

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: DCOM starts at port 135 (binding it needs root)")


def ns(path: str) -> str:
    """A namespace as a local WMI path (``\\\\.\\root\\cimv2``), what NTLMLogin takes."""
    return "\\\\.\\" + path


ROOT = Path(__file__).resolve().parents[2]
HIERARCHY = ROOT / "lab" / "scenarios" / "hierarchy.yml"
INSTALLER = "C:\\SMSHOTFIX\\Q244405\\Q244405.exe"


class Hierarchy(NamedTuple):
    """The hierarchy scenario's state folder, its host names and each host's 127.0.0.x."""
    state_dir: Path
    names: list[str]
    addresses: dict[str, str]


@pytest.fixture
def hierarchy(tmp_path):
    """The hierarchy with every host on the ``w2k`` profile: these tests drive impacket's own client, whose
    ``CoCreateInstanceEx`` needs IRemoteSCMActivator (COM 5.6); ``nt4`` is tested in test_dcom_profiles.py."""
    state_dir = tmp_path / "state"
    names = build_state_dir(HIERARCHY, state_dir)
    for name in names:
        set_host(state_dir, name, profile="w2k")
    return Hierarchy(state_dir, names, free_loopback_addresses(names))


def set_host(state_dir, name, **changes):
    state = HostState.load(state_dir / "hosts" / name)
    for key, value in changes.items():
        if key in ("wmi_down", "wmi_unavailable", "wmi_access_denied", "wmi_query_hangs", "rpc_unavailable"):
            state.faults[key] = value
        else:
            state.data[key] = value
    state.save()


@pytest.fixture
def responder(hierarchy):
    state_dir, names, addresses = hierarchy
    started = []

    def start(prepare=None):
        if prepare:
            prepare(state_dir)
        lab = WmiResponder(state_dir, names, addresses.__getitem__).start()
        started.append(lab)
        return lab

    yield start
    for lab in started:
        lab.stop()


class Client:
    """impacket's DCOM client for one host; closes every socket it opened."""

    def __init__(self, address, user, password, level=None):
        self.address = address
        kwargs = {"authLevel": level} if level else {}
        self.dcom = DCOMConnection(address, user, password, "", **kwargs)

    def login(self):
        return wmi.IWbemLevel1Login(self.dcom.CoCreateInstanceEx(wmi.CLSID_WbemLevel1Login, wmi.IID_IWbemLevel1Login))

    def rows(self, services, query):
        enum = services.ExecQuery(query)
        found = []
        while True:
            try:
                found.append(enum.Next(0xFFFFFFFF, 1)[0])
            except wmi.DCERPCSessionError as exc:
                assert exc.get_error_code() == 1            # WBEM_S_FALSE: the end
                return found

    @staticmethod
    def values(obj):
        return {name: prop["value"] for name, prop in obj.getProperties().items()}

    def close(self):
        for entry in INTERFACE.CONNECTIONS.get(self.address, {}).get(threading.current_thread().name, {}).values():
            entry["dce"].get_rpc_transport().disconnect()
        self.dcom.disconnect()


@pytest.fixture
def client(hierarchy):
    state_dir, addresses = hierarchy.state_dir, hierarchy.addresses
    user, password = lab_credentials(state_dir)
    opened = []

    def connect(name, password_override=None, level=None):
        opened.append(Client(addresses[name], user, password_override or password, level))
        return opened[-1]

    yield connect
    for item in opened:
        try:
            item.close()
        except Exception:       # noqa: BLE001 - a refused connection has nothing to close
            pass


def test_queries_answer_the_scenario_state(responder, client, hierarchy):
    state_dir = hierarchy.state_dir
    responder()
    state = HostState.load(state_dir / "hosts" / "sms712")
    conn = client("sms712")
    login = conn.login()
    provider = login.NTLMLogin(ns("root\\SMS"), NULL, NULL)
    [location] = conn.rows(provider, "select SiteCode, NamespacePath from SMS_ProviderLocation "
                                     "where ProviderForLocalSite = true")
    assert conn.values(location) == {"SiteCode": "712", "NamespacePath": "\\\\SMS712\\root\\SMS\\site_712"}
    site = login.NTLMLogin(ns("root\\SMS\\site_712"), NULL, NULL)
    packages = [conn.values(o) for o in conn.rows(site, "select PackageID, ActionInProgress from SMS_Package")]
    expected = [{"PackageID": p["PackageID"], "ActionInProgress": p["ActionInProgress"]}
                for p in state.wmi["packages"]]
    assert packages == expected
    assert {"PackageID": "71200001", "ActionInProgress": 3} in packages
    [row] = conn.rows(site, "select SiteCode, ReportingSiteCode, Type, Version, BuildNumber, InstallDir "
                            "from SMS_Site where SiteCode = '712'")
    assert conn.values(row) == {key: state.wmi["site"][key] for key in
                                ("SiteCode", "ReportingSiteCode", "Type", "Version", "BuildNumber", "InstallDir")}


def test_an_instance_is_served_by_its_key_path(responder, client, hierarchy):
    """IWbemServices::GetObject with an instance path (the msrpc probe reads SMS_Site so: one call, not a query and
    a Next), read with impacket's own object decoder."""
    responder()
    state = HostState.load(hierarchy.state_dir / "hosts" / "sms712")
    conn = client("sms712")
    site = conn.login().NTLMLogin(ns("root\\SMS\\site_712"), NULL, NULL)
    instance, _result = site.GetObject('sms_site.sitecode="712"')          # class and key ignore case, as in WMI
    values = conn.values(instance)
    assert {key: values[key] for key in state.wmi["site"] if key in values} == {
        key: value for key, value in state.wmi["site"].items() if key in values}
    assert values["SiteCode"] == "712" and values["InstallDir"] == state.wmi["site"]["InstallDir"]


@pytest.mark.parametrize("path, code", [
    ('SMS_Site.SiteCode="999"', 0x80041002),                  # WBEM_E_NOT_FOUND: no such instance
    ('SMS_Advertisement.AdvertisementID="X"', 0x80041010),    # WBEM_E_INVALID_CLASS
    ('SMS_Site.SiteName="Central"', 0x8004103A),              # WBEM_E_INVALID_OBJECT_PATH: not the key
    ('SMS_Site.SiteCode="712",', 0x8004103A),                 # a key missing after the comma
    ('SMS_Site.SiteCode=712', 0x8004103A),                    # a string key unquoted (the lab: stricter than WMI may be)
    ("SMS_Site.", 0x8004103A),
])
def test_a_bad_instance_path_is_refused_with_the_wmi_error(responder, client, path, code):
    responder()
    site = client("sms712").login().NTLMLogin(ns("root\\SMS\\site_712"), NULL, NULL)
    with pytest.raises(wmi.DCERPCSessionError) as raised:
        site.GetObject(path)
    assert raised.value.get_error_code() == code


def test_integrity_and_connect_levels_are_served(responder, client):
    responder()
    for level in (RPC_C_AUTHN_LEVEL_PKT_INTEGRITY, RPC_C_AUTHN_LEVEL_CONNECT):
        conn = client("sms711", level=level)
        site = conn.login().NTLMLogin(ns("root\\SMS\\site_711"), NULL, NULL)
        ids = {conn.values(o)["PackageID"] for o in conn.rows(site, "select PackageID from SMS_Package")}
        assert ids == {"70000001"}
        conn.close()


@pytest.mark.parametrize("query, code", [
    ("select PackageID from SMS_Advertisement", 0x80041010),           # WBEM_E_INVALID_CLASS
    ("select Nonsense from SMS_Package", 0x80041017),                  # WBEM_E_INVALID_QUERY
    ("delete from SMS_Package", 0x80041017),
])
def test_other_queries_are_refused_with_the_wmi_error(responder, client, query, code):
    responder()
    conn = client("sms711")
    site = conn.login().NTLMLogin(ns("root\\SMS\\site_711"), NULL, NULL)
    with pytest.raises(wmi.DCERPCSessionError) as raised:
        site.ExecQuery(query)
    assert raised.value.get_error_code() == code


def test_a_namespace_of_another_site_does_not_exist(responder, client):
    responder()
    with pytest.raises(wmi.DCERPCSessionError) as raised:
        client("sms711").login().NTLMLogin(ns("root\\SMS\\site_712"), NULL, NULL)
    assert raised.value.get_error_code() == 0x8004100E                 # WBEM_E_INVALID_NAMESPACE


def test_nt4_win32_process_has_no_command_line_unless_the_host_says_so(responder, client, hierarchy):
    state_dir = hierarchy.state_dir

    def console(folder):
        console_line = 'C:\\WINNT\\System32\\mmc.exe "C:\\SMS\\bin\\i386\\sms.msc"'
        set_host(folder, "sms711", processes=[{"name": "mmc.exe", "command_line": console_line}])
        set_host(folder, "sms712", processes=[{"name": "mmc.exe", "command_line": "mmc.exe sms.msc"}],
                 wmi={**HostState.load(folder / "hosts" / "sms712").wmi, "process_command_line": True})
    responder(console)
    nt4 = client("sms711")
    [row] = nt4.rows(nt4.login().NTLMLogin(ns("root\\cimv2"), NULL, NULL),
                     "select * from Win32_Process where Name = 'mmc.exe'")
    assert "CommandLine" not in nt4.values(row)
    assert nt4.values(row)["ExecutablePath"] == "C:\\WINNT\\System32\\mmc.exe"
    newer = client("sms712")
    [row] = newer.rows(newer.login().NTLMLogin(ns("root\\cimv2"), NULL, NULL), "select * from Win32_Process")
    assert newer.values(row)["CommandLine"] == "mmc.exe sms.msc"


def test_create_runs_the_installer_twin_and_the_process_ends(responder, client, hierarchy):
    state_dir = hierarchy.state_dir
    lab = responder()
    conn = client("sms711")
    cimv2 = conn.login().NTLMLogin(ns("root\\cimv2"), NULL, NULL)
    process_class, _call_result = cimv2.GetObject("Win32_Process")
    out = conn.values(process_class.Create(f"{INSTALLER} /s", "C:\\SMSHOTFIX\\Q244405", None))
    assert out["ReturnValue"] == 0
    pid = out["ProcessId"]
    query = f"select ProcessId from Win32_Process where ProcessId = {pid}"
    assert [conn.values(o) for o in conn.rows(cimv2, query)] == [{"ProcessId": pid}]
    deadline = time.monotonic() + 10
    while conn.rows(cimv2, query):
        assert time.monotonic() < deadline, "the installer's process never ended"
        time.sleep(0.3)
    state = HostState.load(state_dir / "hosts" / "sms711")
    assert state.file_version("C:\\SMS\\bin\\i386\\Distmgr.dll") == "2.00.1380.1083"
    assert b"Q244405 hotfix installed" in state.read_bytes("C:\\SMS\\Logs\\Q244405.log")
    [record] = lab.started_processes("sms711")
    assert (record["pid"], record["exit_code"]) == (pid, 0)


def test_create_of_a_missing_program_returns_path_not_found(responder, client):
    responder()
    conn = client("sms711")
    process_class, _call_result = conn.login().NTLMLogin(ns("root\\cimv2"), NULL, NULL).GetObject("Win32_Process")
    assert conn.values(process_class.Create("C:\\nowhere\\Q244405.exe /s", "C:\\", None))["ReturnValue"] == 9


def test_class_object_carries_the_create_signature():
    cls = wmio.CimClass("Win32_Process", (wmio.Prop("Handle", wmio.STRING, key=True),),
                        methods=(wmio.Method("Create", (wmio.Prop("CommandLine", wmio.STRING),),
                                             (wmio.Prop("ReturnValue", wmio.UINT32),)),))
    unit = wmi.ENCODING_UNIT(wmio.class_object(cls, "SMS711", "root\\cimv2"))
    unit["ObjectBlock"].parseObject()
    methods = unit["ObjectBlock"].ctCurrent["methods"]
    assert list(methods["Create"]["InParams"]) == ["CommandLine"]
    assert list(methods["Create"]["OutParams"]) == ["ReturnValue"]


def test_instances_round_trip_through_impacket_parser():
    cls = wmio.CimClass("SMS_Package", (wmio.Prop("PackageID", wmio.STRING, key=True),
                                        wmio.Prop("Name", wmio.STRING), wmio.Prop("ActionInProgress", wmio.UINT32),
                                        wmio.Prop("Flag", wmio.BOOLEAN), wmio.Prop("Zero", wmio.UINT32)))
    name, values = wmio.decode(wmio.instance_object(
        cls, {"PackageID": "71200001", "Name": "Bürosoftware ☃", "ActionInProgress": 3, "Flag": True, "Zero": 0},
        "SMS712", "root\\SMS\\site_712"))
    assert name == "SMS_Package"
    assert values == {"PackageID": "71200001", "Name": "Bürosoftware ☃", "ActionInProgress": 3, "Flag": "True",
                      "Zero": 0}
    assert wmio.decode(wmio.instance_object(cls, {"PackageID": "X"}))[1]["ActionInProgress"] is None


def test_wrong_password_is_refused(responder, client):
    responder()
    with pytest.raises(DCERPCException, match="rpc_s_access_denied"):
        client("sms711", password_override="not-the-password").login()


def test_fault_wmi_unavailable_means_no_sms_namespace(responder, client):
    responder(lambda folder: set_host(folder, "sms711", wmi_unavailable=True))
    login = client("sms711").login()
    for namespace in (ns("root\\SMS"), ns("root\\SMS\\site_711")):
        with pytest.raises(wmi.DCERPCSessionError) as raised:
            login.NTLMLogin(namespace, NULL, NULL)
        assert raised.value.get_error_code() == 0x8004100E
    login.NTLMLogin(ns("root\\cimv2"), NULL, NULL)                     # WMI itself still answers


def test_fault_access_denied_refuses_the_activation(responder, client):
    responder(lambda folder: set_host(folder, "sms711", wmi_access_denied=True))
    with pytest.raises(DCERPCException) as raised:
        client("sms711").login()
    assert raised.value.get_error_code() == 0x80070005                 # E_ACCESSDENIED


def test_fault_wmi_down_fails_the_activation(responder, client):
    responder(lambda folder: set_host(folder, "sms711", wmi_down=True))
    with pytest.raises(DCERPCException) as raised:
        client("sms711").login()
    assert raised.value.get_error_code() == 0x80080005                 # CO_E_SERVER_EXEC_FAILURE


def test_fault_rpc_unavailable_closes_port_135(responder, hierarchy):
    addresses = hierarchy.addresses
    responder(lambda folder: set_host(folder, "sms711", rpc_unavailable=True))
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((addresses["sms711"], 135), timeout=2).close()
    socket.create_connection((addresses["sms712"], 135), timeout=2).close()   # the others listen


def test_fault_query_never_answers(responder, client):
    responder(lambda folder: set_host(folder, "sms711", wmi_query_hangs=True))
    conn = client("sms711")
    site = conn.login().NTLMLogin(ns("root\\SMS\\site_711"), NULL, NULL)
    for entry in INTERFACE.CONNECTIONS[conn.address][threading.current_thread().name].values():
        entry["dce"].get_rpc_transport().get_socket().settimeout(1.5)
    started = time.monotonic()
    with pytest.raises((socket.timeout, DCERPCException, OSError)):
        site.ExecQuery("select PackageID, ActionInProgress from SMS_Package")
    assert time.monotonic() - started >= 1.4


def test_nothing_is_left_after_stop(hierarchy, client):
    state_dir, names, addresses = hierarchy
    before = {t.ident for t in threading.enumerate()}
    lab = WmiResponder(state_dir, names, addresses.__getitem__).start()
    conn = client("sms711")
    conn.login().NTLMLogin(ns("root\\SMS\\site_711"), NULL, NULL)       # a connection open during stop
    lab.stop()
    leftover = [t.name for t in threading.enumerate() if t.ident not in before and t.is_alive()]
    assert leftover == []
    for name in names:
        with pytest.raises(OSError):
            socket.create_connection((addresses[name], 135), timeout=1).close()


def test_only_loopback_addresses_are_served(hierarchy):
    state_dir, names = hierarchy.state_dir, hierarchy.names
    with pytest.raises(ValueError, match="loopback only"):
        WmiResponder(state_dir, names, lambda name: "0.0.0.0").start()


def test_ntlmv1_only_where_the_host_accepts_it(responder, client, hierarchy):
    from impacket import ntlm
    responder(lambda folder: set_host(folder, "sms712", ntlmv1=True))
    ntlm.USE_NTLMv2 = False                                  # impacket's client switch for every bind
    try:
        with pytest.raises(DCERPCException, match="rpc_s_access_denied"):
            client("sms711").login()                          # NTLMv1 refused by default
        client("sms712").login().NTLMLogin(ns("root\\SMS\\site_712"), NULL, NULL)
    finally:
        ntlm.USE_NTLMv2 = True


def test_an_nt4_before_sp4_refuses_ntlmv2(responder, client):
    responder(lambda folder: set_host(folder, "sms711", ntlmv1=True, ntlmv2=False))
    with pytest.raises(DCERPCException, match="rpc_s_access_denied"):
        client("sms711").login()


def test_the_oxid_resolver_answers_on_port_135(responder, client, hierarchy):
    from impacket.dcerpc.v5 import transport
    from impacket.dcerpc.v5.dcomrt import IObjectExporter
    from impacket.dcerpc.v5.rpcrt import RPC_C_AUTHN_LEVEL_PKT_PRIVACY
    state_dir, addresses = hierarchy.state_dir, hierarchy.addresses
    responder()
    login = client("sms711").login()
    user, password = lab_credentials(state_dir)
    rpc = transport.DCERPCTransportFactory(f"ncacn_ip_tcp:{addresses['sms711']}")
    rpc.set_credentials(user, password, "")
    dce = rpc.get_dce_rpc()
    dce.set_auth_level(RPC_C_AUTHN_LEVEL_PKT_PRIVACY)
    try:
        exporter = IObjectExporter(dce)
        expected = f"{addresses['sms711']}[135]"
        assert [b["aNetworkAddr"].rstrip("\x00") for b in exporter.ServerAlive2()] == [expected]
        assert [b["aNetworkAddr"].rstrip("\x00") for b in exporter.ResolveOxid2(login.get_oxid(), [7])] == [expected]
        with pytest.raises(DCERPCException) as raised:
            exporter.ResolveOxid2(login.get_oxid() ^ 1, [7])
        assert raised.value.get_error_code() == 0x776                      # OR_INVALID_OXID
    finally:
        dce.get_rpc_transport().disconnect()


def test_rem_unknown_query_interface_add_ref_and_release(responder, client):
    from impacket.dcerpc.v5.dcom.wmi import IID_IWbemLevel1Login
    responder()
    login = client("sms711").login()
    same = wmi.IWbemLevel1Login(login.RemQueryInterface(1, [IID_IWbemLevel1Login[:16]]))
    same.NTLMLogin(ns("root\\SMS\\site_711"), NULL, NULL)
    login.RemAddRef()      # an interface the object lacks: test_dcom_profiles (E_NOINTERFACE inside the array)
    for _reference in range(5 + 1 + 1):                                    # OBJREF's 5, the QI's 1, the AddRef's 1
        login.RemRelease()
    with pytest.raises(DCERPCException, match="RPC_E_INVALID_OBJECT"):    # a fault PDU, 0x80010114
        login.NTLMLogin(ns("root\\SMS\\site_711"), NULL, NULL)
