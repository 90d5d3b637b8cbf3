"""The lab's DCOM responder imitates each host profile (``smslab.profiles``) on the wire, driven by impacket.

``nt4`` (COM 5.4): IActivation, IObjectExporter without ServerAlive2, IRemUnknown only; a bind to
IRemoteSCMActivator or IRemUnknown2 is refused per context (bind_ack, provider_rejection /
abstract_syntax_not_supported), so today's impacket ``CoCreateInstanceEx`` cannot activate there. ``w2k``
(5.6): both activators. On every profile an ORPC call is dispatched by its IPID, RemQueryInterface answers
one REMQIRESULT per IID, a fault PDU has the 16-byte body, and an RTM provider's SMS_Package lacks
ActionInProgress. Root only (port 135).
"""

from __future__ import annotations

import os
import socket
import struct
import threading
from pathlib import Path

import pytest
from impacket.dcerpc.v5 import dcomrt, transport
from impacket.dcerpc.v5.dcom import wmi
from impacket.dcerpc.v5.dcomrt import INTERFACE, DCOMConnection, IObjectExporter
from impacket.dcerpc.v5.dtypes import NULL
from impacket.dcerpc.v5.rpcrt import RPC_C_AUTHN_LEVEL_PKT_PRIVACY, DCERPCException

from smslab.dcom import WmiResponder, free_loopback_addresses, lab_credentials
from smslab.dcom.exporter import RemQueryInterfaceArrayResponse
from smslab.dcom.rpc_server import RpcConnection
from smslab.scenario import build_state_dir
from smslab.state import HostState

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: DCOM starts at port 135 (binding it needs root)")


HIERARCHY = Path(__file__).resolve().parents[2] / "lab" / "scenarios" / "hierarchy.yml"
NT4, W2K = "sms711", "sms712"           # sms711 keeps the lab's default profile (nt4); sms712 is set to w2k


@pytest.fixture
def lab(tmp_path):
    state_dir = tmp_path / "state"
    names = build_state_dir(HIERARCHY, state_dir)
    for name, profile in ((NT4, "nt4"), (W2K, "w2k")):
        state = HostState.load(state_dir / "hosts" / name)
        state.data["profile"] = profile
        state.save()
    state = HostState.load(state_dir / "hosts" / "sms713")     # build: rtm in the scenario
    state.data["profile"] = "w2k"
    state.save()
    addresses = free_loopback_addresses(names)
    responder = WmiResponder(state_dir, names, addresses.__getitem__).start()
    opened = []
    yield addresses, lab_credentials(state_dir), opened
    for dce in opened:
        try:
            dce.get_rpc_transport().disconnect()
        except Exception:       # noqa: BLE001 - already closed by the server
            pass
    for address in addresses.values():
        for entry in INTERFACE.CONNECTIONS.pop(address, {}).get(threading.current_thread().name, {}).values():
            entry["dce"].get_rpc_transport().disconnect()
        DCOMConnection.PORTMAPS.pop(address, None)
    responder.stop()


def resolver(lab, name):
    """An authenticated, unbound connection to ``name``'s port 135."""
    addresses, (user, password), opened = lab
    rpc = transport.DCERPCTransportFactory(f"ncacn_ip_tcp:{addresses[name]}")
    rpc.set_credentials(user, password, "")
    dce = rpc.get_dce_rpc()
    dce.set_auth_level(RPC_C_AUTHN_LEVEL_PKT_PRIVACY)
    dce.connect()
    opened.append(dce)
    return dce


def login_w2k(lab):
    addresses, (user, password), _opened = lab
    dcom = DCOMConnection(addresses[W2K], user, password, "")
    return wmi.IWbemLevel1Login(dcom.CoCreateInstanceEx(wmi.CLSID_WbemLevel1Login, wmi.IID_IWbemLevel1Login))


@pytest.mark.parametrize("iid", [dcomrt.IID_IRemoteSCMActivator, dcomrt.IID_IRemUnknown2])
def test_nt4_refuses_a_bind_to_the_com_5_6_interfaces(lab, iid):
    with pytest.raises(DCERPCException, match="abstract_syntax_not_supported"):
        resolver(lab, NT4).bind(iid)
    resolver(lab, W2K).bind(iid)                                  # Windows 2000 has them


def test_impacket_cocreateinstanceex_cannot_activate_on_nt4(lab):
    addresses, (user, password), _opened = lab
    dcom = DCOMConnection(addresses[NT4], user, password, "")
    with pytest.raises(DCERPCException, match="abstract_syntax_not_supported"):
        dcom.CoCreateInstanceEx(wmi.CLSID_WbemLevel1Login, wmi.IID_IWbemLevel1Login)


def test_nt4_exporter_has_no_server_alive2_and_w2k_reports_5_6(lab):
    old = IObjectExporter(resolver(lab, NT4))
    old.ServerAlive()
    with pytest.raises(DCERPCException, match="nca_s_op_rng_error"):
        old.ServerAlive2()
    dce = resolver(lab, W2K)
    dce.bind(dcomrt.IID_IObjectExporter)
    answer = dce.request(dcomrt.ServerAlive2())
    assert (answer["pComVersion"]["MajorVersion"], answer["pComVersion"]["MinorVersion"]) == (5, 6)


def test_an_orpc_call_goes_where_its_ipid_points(lab):
    """ExecQuery (IWbemServices opnum 20) sent on a context bound to IWbemLevel1Login, as aiowmi does."""
    services = login_w2k(lab).NTLMLogin("\\\\.\\root\\SMS\\site_712", NULL, NULL)
    request = wmi.IWbemServices_ExecQuery()
    request["strQueryLanguage"]["asData"] = "WQL"
    request["strQuery"]["asData"] = "select PackageID from SMS_Package"
    request["lFlags"] = 0
    request["pCtx"] = NULL
    answer = services.request(request, iid=wmi.IID_IWbemLevel1Login, uuid=services.get_iPid())
    assert answer["ErrorCode"] == 0 and answer["ppEnum"]["abData"]


def test_rem_query_interface_answers_one_result_per_iid(lab):
    login = login_w2k(lab)
    request = dcomrt.RemQueryInterface()
    request["ORPCthis"] = login.get_cinstance().get_ORPCthis()
    request["ORPCthis"]["flags"] = 0
    request["ripid"] = login.get_iPid()
    request["cRefs"] = 1
    request["cIids"] = 2
    for iid in (wmi.IID_IWbemLevel1Login[:16], wmi.IID_IWbemServices[:16]):
        item = dcomrt.IID()
        item["Data"] = iid
        request["iids"].append(item)
    login.connect(dcomrt.IID_IRemUnknown)
    dce = login.get_dce_rpc()
    dce.call(request.opnum, request, login.get_ipidRemUnknown())
    raw = dce.recv()
    answer = RemQueryInterfaceArrayResponse(raw)
    assert [result["hResult"] for result in answer["ppQIResults"]] == [0, 0x80004002]   # S_OK, E_NOINTERFACE
    assert answer["ppQIResults"][0]["std"]["ipid"] == login.get_iPid()
    assert answer["ErrorCode"] == 0                  # the call succeeded; each entry says what was found


def test_a_fault_pdu_has_the_16_byte_body():
    ours, theirs = socket.socketpair()
    try:
        RpcConnection(ours, None, set(), "HOST", lambda user: None, (False, True), threading.Event()) \
            ._send_fault(7, 1, 0x1C010002)
        pdu = theirs.recv(100)
    finally:
        ours.close()
        theirs.close()
    frag_len, auth_len, call_id = struct.unpack("<HHL", pdu[8:16])
    assert (pdu[2], frag_len, len(pdu), auth_len, call_id) == (3, 32, 32, 0, 7)        # 16 header + 16 body
    assert struct.unpack("<LHBBLL", pdu[16:]) == (0, 1, 0, 0, 0x1C010002, 0)


def test_an_rtm_provider_has_no_action_in_progress(lab):
    addresses, (user, password), _opened = lab
    dcom = DCOMConnection(addresses["sms713"], user, password, "")
    login = wmi.IWbemLevel1Login(dcom.CoCreateInstanceEx(wmi.CLSID_WbemLevel1Login, wmi.IID_IWbemLevel1Login))
    site = login.NTLMLogin("\\\\.\\root\\SMS\\site_713", NULL, NULL)
    with pytest.raises(DCERPCException) as raised:
        site.ExecQuery("select PackageID, ActionInProgress from SMS_Package")
    assert raised.value.get_error_code() == 0x80041017                                 # WBEM_E_INVALID_QUERY
    row = site.ExecQuery("select * from SMS_Package").Next(0xFFFFFFFF, 1)[0]
    assert "ActionInProgress" not in row.getProperties() and row.getProperties()["PackageID"]["value"]
