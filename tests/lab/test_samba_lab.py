"""The lab's msrpc hosts (lab/smslab/samba): real smbd + samba-dcerpcd per host, the lab's \\svcctl.

Every check goes through impacket, the client the msrpc transport uses: SMB1 (NT LM 0.12) and
SMB2/3 sessions, the admin shares, \\winreg (MS-RRP) and \\svcctl (MS-SCMR). Each test starts its
own servers on 127.0.0.1 and the fixture checks that none is left after stop.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest
from impacket.dcerpc.v5 import rrp, scmr, transport
from impacket.dcerpc.v5.rpcrt import DCERPCException
from impacket.nt_errors import STATUS_ACCESS_DENIED, STATUS_BAD_NETWORK_NAME, STATUS_LOGON_FAILURE
from impacket.smb import SMB_DIALECT, SessionError as Smb1SessionError
from impacket.smbconnection import SessionError, SMBConnection

from smslab.samba import HostOptions, SambaError, SambaHost, SambaLab, host as samba_host
from smslab.samba.testing import require_samba
from smslab.scenario import build_state_dir
from smslab.state import HostState

FILETIME_1970 = 116444736000000000
ERROR_ACCESS_DENIED = 5         # impacket names it rpc_s_access_denied (the same number)
DIALECTS = pytest.mark.parametrize("dialect", [SMB_DIALECT, None], ids=["smb1", "smb2+"])
USER, PASSWORD = "Administrator", "Lab-Pass-1999"
SCENARIO = {
    "seed": 7,
    "credentials": {"user": USER, "password": PASSWORD},
    "sites": [
        {"name": "sms600", "site_code": "600", "build": "sp2", "logging": "on",
         "packages": {"active": ["60000001"]}},
        {"name": "sms610", "site_code": "610", "parent": "600", "build": "sp1", "logging": "on",
         "drives": ["D", "E"], "log_bytes": 300000, "log_shared": True,
         "packages": {"active": ["60000001", "61000001"], "leftovers": ["60000012", "60000014"]}},
        {"name": "sms620", "site_code": "620", "parent": "600", "build": "rtm", "platform": "alpha",
         "faults": {"service_wont_stop": ["SMS_SITE_COMPONENT_MANAGER"],
                    "service_stop_seconds": {"SMS_EXECUTIVE": 1.5}}},
    ],
}


@pytest.fixture
def samba_scenario(request):
    """SCENARIO on the oldest profile a test claims: nt4 (the default) for SMB1, modern for the SMB2+ runs."""
    callspec = getattr(request.node, "callspec", None)
    if callspec is not None and callspec.params.get("dialect", SMB_DIALECT) is None:
        return {**SCENARIO, "sites": [dict(site, profile="modern") for site in SCENARIO["sites"]]}
    return SCENARIO


@pytest.fixture
def state_dir(tmp_path):
    require_samba()
    folder = tmp_path / "state"
    build_state_dir(SCENARIO, folder)
    return folder


def connect(lab: SambaLab, name: str, dialect=None, password: str | None = None) -> SMBConnection:
    host = lab.hosts[name]
    conn = SMBConnection(host.address, host.address, sess_port=host.port, preferredDialect=dialect, timeout=60)
    conn.login(host.user, host.password if password is None else password, host.domain)
    return conn


def pipe(conn: SMBConnection, lab: SambaLab, name: str, pipe_name: str, uuid):
    host = lab.hosts[name]
    rpc = transport.SMBTransport(host.address, host.port, pipe_name, smb_connection=conn)
    dce = rpc.get_dce_rpc()
    dce.connect()
    dce.bind(uuid)
    return dce


def service_state(lab: SambaLab, name: str, service: str) -> str:
    return HostState.load(lab.hosts[name].host_root).services[service]["state"]


# ---- SMB: sessions, shares, files ----------------------------------------------------------------

@DIALECTS
def test_lists_package_files_with_sizes_and_times(samba_lab, dialect):
    conn = connect(samba_lab, "sms610", dialect)
    if dialect == SMB_DIALECT:
        assert conn.getDialect() == SMB_DIALECT
    else:
        assert conn.getDialect() != SMB_DIALECT
    state = HostState.load(samba_lab.hosts["sms610"].host_root)
    for drive in ("D", "E"):
        # FILETIME as sent (impacket's get_mtime_epoch drops the low 20 bits: ~0.1 s)
        listed = {f.get_longname(): (f.get_filesize(), (f.get_mtime() - FILETIME_1970) / 1e7)
                  for f in conn.listPath(f"{drive}$", "\\SMSPKG\\*.PCK")}
        expected = {}
        for name in state.listdir(f"{drive}:\\SMSPKG"):
            if name.upper().endswith(".PCK"):
                info = os.stat(state.local_path(f"{drive}:\\SMSPKG\\{name}"))
                expected[name] = (info.st_size, info.st_mtime)
        assert expected and set(listed) == set(expected), (drive, listed, expected)
        for name, (size, mtime) in expected.items():
            assert listed[name][0] == size and abs(listed[name][1] - mtime) < 1e-3, (name, listed[name], size, mtime)
    shares = {s["shi1_netname"][:-1] for s in conn.listShares()}
    assert {"C$", "D$", "E$", "ADMIN$", "IPC$"} <= shares, shares
    conn.logoff()


def test_big_shared_log_is_one_real_file_with_the_same_bytes(tmp_path):
    require_samba()
    state_dir = tmp_path / "state"
    build_state_dir(SCENARIO, state_dir)
    log = "C:\\SMS\\Logs\\Distmgr.log"
    before = HostState.load(state_dir / "hosts" / "sms610")
    assert before.generated(log), "the scenario should share the log's padding"
    digest, size = before.sha256(log), before.file_size(log)
    with SambaLab(state_dir, ["sms610"]) as lab:
        conn = connect(lab, "sms610")
        chunks = []
        conn.getFile("C$", "\\SMS\\Logs\\Distmgr.log", chunks.append)
        data = b"".join(chunks)
        assert len(data) == size > 300000 and hashlib.sha256(data).hexdigest() == digest
        after = HostState.load(state_dir / "hosts" / "sms610")
        assert not after.generated(log) and after.sha256(log) == digest     # the WinRM twins agree
        conn.logoff()


def test_wrong_password_is_a_logon_failure(samba_lab):
    with pytest.raises(SessionError) as caught:
        connect(samba_lab, "sms600", SMB_DIALECT, password="wrong-password")
    assert caught.value.getErrorCode() == STATUS_LOGON_FAILURE


# ---- registry ------------------------------------------------------------------------------------

@DIALECTS
def test_registry_answers_what_host_json_says(samba_lab, dialect):
    conn = connect(samba_lab, "sms620", dialect)
    dce = pipe(conn, samba_lab, "sms620", r"\winreg", rrp.MSRPC_UUID_RRP)
    hklm = rrp.hOpenLocalMachine(dce)["phKey"]
    state = HostState.load(samba_lab.hosts["sms620"].host_root)

    def value(key: str, name: str):
        handle = rrp.hBaseRegOpenKey(dce, hklm, key)["phkResult"]
        kind, data = rrp.hBaseRegQueryValue(dce, handle, name)
        rrp.hBaseRegCloseKey(dce, handle)
        return kind, data.rstrip("\0") if isinstance(data, str) else data

    sms = "SOFTWARE\\Microsoft\\SMS"
    setup = state.registry_key(f"HKLM\\{sms}\\Setup")
    assert value(f"{sms}\\Setup", "Full Version") == (rrp.REG_SZ, setup["Full Version"]) == (1, "2.00.1239.0000")
    assert value(f"{sms}\\Identification", "Site Code") == (rrp.REG_SZ, "620")
    assert value(f"{sms}\\Identification", "Parent Site Code") == (rrp.REG_SZ, "600")
    tracing = f"{sms}\\Tracing\\SMS_DISTRIBUTION_MANAGER"
    assert value(tracing, "Enabled") == (rrp.REG_DWORD, 0)
    assert value(tracing, "MaxFileSize") == (rrp.REG_DWORD, 1048576)
    for service, record in state.services.items():
        assert value(f"SYSTEM\\CurrentControlSet\\Services\\{service}", "ImagePath") == (rrp.REG_SZ, record["path"])
        assert record["path"].startswith("C:\\SMS\\bin\\alpha\\")
    dce.disconnect()
    conn.logoff()


# ---- services ------------------------------------------------------------------------------------

@DIALECTS
def test_query_stop_start_a_service_and_host_json_follows(samba_lab, dialect):
    conn = connect(samba_lab, "sms600", dialect)
    dce = pipe(conn, samba_lab, "sms600", r"\svcctl", scmr.MSRPC_UUID_SCMR)
    manager = scmr.hROpenSCManagerW(dce)["lpScHandle"]
    service = scmr.hROpenServiceW(dce, manager, "SMS_EXECUTIVE")["lpServiceHandle"]
    assert scmr.hRQueryServiceStatus(dce, service)["lpServiceStatus"]["dwCurrentState"] == scmr.SERVICE_RUNNING
    stopped = scmr.hRControlService(dce, service, scmr.SERVICE_CONTROL_STOP)["lpServiceStatus"]
    assert stopped["dwCurrentState"] == scmr.SERVICE_STOPPED
    assert service_state(samba_lab, "sms600", "SMS_EXECUTIVE") == "stopped"
    with pytest.raises(DCERPCException, match="ERROR_SERVICE_NOT_ACTIVE"):
        scmr.hRControlService(dce, service, scmr.SERVICE_CONTROL_STOP)
    scmr.hRStartServiceW(dce, service)
    assert scmr.hRQueryServiceStatus(dce, service)["lpServiceStatus"]["dwCurrentState"] == scmr.SERVICE_RUNNING
    assert service_state(samba_lab, "sms600", "SMS_EXECUTIVE") == "running"
    with pytest.raises(DCERPCException, match="ERROR_SERVICE_ALREADY_RUNNING"):
        scmr.hRStartServiceW(dce, service)
    config = scmr.hRQueryServiceConfigW(dce, service)["lpServiceConfig"]
    assert config["lpBinaryPathName"].rstrip("\0") == "C:\\SMS\\bin\\i386\\smsexec.exe"
    assert config["dwStartType"] == scmr.SERVICE_AUTO_START
    with pytest.raises(DCERPCException, match="ERROR_SERVICE_DOES_NOT_EXIST"):
        scmr.hROpenServiceW(dce, manager, "NO_SUCH_SERVICE")
    scmr.hRCloseServiceHandle(dce, service)
    dce.disconnect()
    conn.logoff()


def test_service_faults_wont_stop_and_slow_stop(samba_lab):
    conn = connect(samba_lab, "sms620")
    dce = pipe(conn, samba_lab, "sms620", r"\svcctl", scmr.MSRPC_UUID_SCMR)
    manager = scmr.hROpenSCManagerW(dce)["lpScHandle"]
    stuck = scmr.hROpenServiceW(dce, manager, "SMS_SITE_COMPONENT_MANAGER")["lpServiceHandle"]
    with pytest.raises(DCERPCException, match="ERROR_SERVICE_REQUEST_TIMEOUT"):
        scmr.hRControlService(dce, stuck, scmr.SERVICE_CONTROL_STOP)
    assert service_state(samba_lab, "sms620", "SMS_SITE_COMPONENT_MANAGER") == "running"

    slow = scmr.hROpenServiceW(dce, manager, "SMS_EXECUTIVE")["lpServiceHandle"]
    answer = scmr.hRControlService(dce, slow, scmr.SERVICE_CONTROL_STOP)["lpServiceStatus"]
    assert answer["dwCurrentState"] == scmr.SERVICE_STOP_PENDING and answer["dwWaitHint"] > 0
    assert service_state(samba_lab, "sms620", "SMS_EXECUTIVE") == "stop_pending"
    with pytest.raises(DCERPCException, match="ERROR_SERVICE_ALREADY_RUNNING"):
        scmr.hRStartServiceW(dce, slow)                 # the SCM starts only a stopped service
    deadline = time.monotonic() + 10
    while scmr.hRQueryServiceStatus(dce, slow)["lpServiceStatus"]["dwCurrentState"] != scmr.SERVICE_STOPPED:
        assert time.monotonic() < deadline, "StopPending never ended"
        time.sleep(0.2)
    assert service_state(samba_lab, "sms620", "SMS_EXECUTIVE") == "stopped"
    dce.disconnect()
    conn.logoff()


# ---- per-host options: NTLMv1, SMB1 refused, share missing, not an administrator -----------------

def test_ntlmv1_only_when_the_host_allows_it(state_dir):
    options = {"sms610": HostOptions(ntlmv1=True)}
    with SambaLab(state_dir, ["sms600", "sms610"], options=options) as lab:
        def ntlmv1_login(name: str) -> None:
            host = lab.hosts[name]
            conn = SMBConnection(host.address, host.address, sess_port=host.port, preferredDialect=SMB_DIALECT)
            conn.getSMBServer().login_extended(host.user, host.password, host.domain, "", "", use_ntlmv2=False)
            conn.close()

        with pytest.raises(Smb1SessionError) as caught:      # the SMB1 layer's own exception class
            ntlmv1_login("sms600")
        assert caught.value.get_error_code() == STATUS_LOGON_FAILURE
        ntlmv1_login("sms610")


def test_smb1_refused_and_missing_share(state_dir):
    options = {"sms600": HostOptions(smb1=False, missing_shares=["D$"], profile="modern")}   # nt4 speaks only SMB1
    with SambaLab(state_dir, ["sms600"], options=options) as lab:
        with pytest.raises(Exception) as caught:        # impacket: no common dialect / connection reset
            connect(lab, "sms600", SMB_DIALECT)
        assert not isinstance(caught.value, AssertionError)
        conn = connect(lab, "sms600")
        with pytest.raises(SessionError) as missing:
            conn.connectTree("D$")
        assert missing.value.getErrorCode() == STATUS_BAD_NETWORK_NAME
        conn.logoff()


def test_plain_user_is_refused_shares_and_service_control(state_dir):
    with SambaLab(state_dir, ["sms600"], options={"sms600": HostOptions(admin=False)}) as lab:
        conn = connect(lab, "sms600")
        with pytest.raises(SessionError) as denied:
            conn.connectTree("C$")
        assert denied.value.getErrorCode() == STATUS_ACCESS_DENIED
        dce = pipe(conn, lab, "sms600", r"\svcctl", scmr.MSRPC_UUID_SCMR)
        with pytest.raises(DCERPCException) as refused:
            scmr.hROpenSCManagerW(dce)                  # impacket asks for more than Everyone gets
        assert refused.value.get_error_code() == ERROR_ACCESS_DENIED
        manager = scmr.hROpenSCManagerW(dce, dwDesiredAccess=scmr.SC_MANAGER_CONNECT)["lpScHandle"]
        with pytest.raises(DCERPCException) as refused:
            scmr.hROpenServiceW(dce, manager, "SMS_EXECUTIVE", dwDesiredAccess=scmr.SERVICE_STOP)
        assert refused.value.get_error_code() == ERROR_ACCESS_DENIED
        service = scmr.hROpenServiceW(dce, manager, "SMS_EXECUTIVE",
                                      dwDesiredAccess=scmr.SERVICE_QUERY_STATUS)["lpServiceHandle"]
        assert scmr.hRQueryServiceStatus(dce, service)["lpServiceStatus"]["dwCurrentState"] == scmr.SERVICE_RUNNING
        with pytest.raises(DCERPCException) as refused:
            scmr.hRControlService(dce, service, scmr.SERVICE_CONTROL_STOP)
        assert refused.value.get_error_code() == ERROR_ACCESS_DENIED
        assert service_state(lab, "sms600", "SMS_EXECUTIVE") == "running"
        conn.logoff()


# ---- lifecycle -----------------------------------------------------------------------------------

def test_inventory_vars_reach_the_host(samba_lab):
    variables = samba_lab.inventory_vars("sms610")
    assert variables["q244405_transport"] == "msrpc" and variables["ansible_connection"] == "local"
    assert variables["ansible_host"].startswith("127.")
    conn = SMBConnection(variables["ansible_host"], variables["ansible_host"],
                         sess_port=variables["q244405_msrpc_port"], timeout=15)
    conn.login(variables["q244405_msrpc_user"], variables["q244405_msrpc_password"],
               variables["q244405_msrpc_domain"])
    assert variables["q244405_msrpc_domain"] == "SMS610"
    conn.logoff()


def listening_sockets(pids) -> list[tuple[str, str]]:
    """(table, local address in hex) of every listening TCP socket the processes hold."""
    inodes = set()
    for pid in pids:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        except OSError:
            continue
    found = []
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/net/{table}").read_text(encoding="ascii").splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:
                found.append((table, fields[1]))
    return found


def test_stop_leaves_no_process_and_listens_on_loopback_only(state_dir):
    lab = SambaLab(state_dir, ["sms600", "sms620"])
    lab.start()
    try:
        pids = lab.pids()
        assert len(pids) >= 4, pids          # smbd and samba-dcerpcd with children, per host
        sockets = listening_sockets(pids)
        ports = {f"{host.port:04X}" for host in lab.hosts.values()}
        assert ports <= {address.split(":")[1] for _table, address in sockets}, (ports, sockets)
        for table, address in sockets:       # 127.0.0.0/8 only (little-endian hex: ends in 7F)
            assert table == "tcp" and address.split(":")[0].endswith("7F"), (table, address)
    finally:
        lab.stop()
    assert lab.pids() == []
    assert all(not host.pids() for host in lab.hosts.values())


def test_refuses_to_start_without_smbd(state_dir, monkeypatch):
    monkeypatch.setattr(samba_host, "_which", lambda *names: None)
    reason = samba_host.samba_available()
    assert reason and "smbd" in reason and "apt-get install samba" in reason
    with pytest.raises(SambaError, match="apt-get install samba"):
        SambaLab(state_dir, ["sms600"]).start()
    with pytest.raises(SambaError, match="sms600: .*apt-get install samba"):
        SambaHost("sms600", state_dir, USER, PASSWORD).start()


def test_registry_writes_reach_host_json_and_an_idle_run_changes_nothing(state_dir):
    host_json = state_dir / "hosts" / "sms620" / "host.json"
    with SambaLab(state_dir, ["sms600", "sms620"]) as lab:
        untouched = (state_dir / "hosts" / "sms600" / "host.json").read_bytes()
        conn = connect(lab, "sms620", SMB_DIALECT)
        dce = pipe(conn, lab, "sms620", r"\winreg", rrp.MSRPC_UUID_RRP)
        hklm = rrp.hOpenLocalMachine(dce)["phKey"]
        key = rrp.hBaseRegOpenKey(dce, hklm, "SOFTWARE\\Microsoft\\SMS\\Tracing\\SMS_DISTRIBUTION_MANAGER",
                                  samDesired=rrp.KEY_SET_VALUE | rrp.KEY_QUERY_VALUE)["phkResult"]
        rrp.hBaseRegSetValue(dce, key, "Enabled", rrp.REG_DWORD, 1)
        dce.disconnect()
        conn.logoff()
    tracing = HostState.load(host_json.parent).registry_key(
        "HKLM\\SOFTWARE\\Microsoft\\SMS\\Tracing\\SMS_DISTRIBUTION_MANAGER")
    assert tracing == {"Enabled": 1, "MaxFileSize": 1048576}
    assert (state_dir / "hosts" / "sms600" / "host.json").read_bytes() == untouched


def test_read_only_session_leaves_the_hosts_folder_byte_identical(state_dir, hosts_digest):
    with SambaLab(state_dir, ["sms600"]) as lab:
        before = hosts_digest()
        conn = connect(lab, "sms600", SMB_DIALECT)
        conn.listPath("D$", "\\SMSPKG\\*")
        conn.getFile("C$", "\\SMS\\bin\\i386\\Distmgr.dll", lambda data: None)
        conn.getFile("C$", "\\SMS\\Logs\\Distmgr.log", lambda data: None)
        dce = pipe(conn, lab, "sms600", r"\winreg", rrp.MSRPC_UUID_RRP)
        hklm = rrp.hOpenLocalMachine(dce)["phKey"]
        key = rrp.hBaseRegOpenKey(dce, hklm, "SOFTWARE\\Microsoft\\SMS\\Setup")["phkResult"]
        rrp.hBaseRegQueryValue(dce, key, "Full Version")
        dce = pipe(conn, lab, "sms600", r"\svcctl", scmr.MSRPC_UUID_SCMR)
        manager = scmr.hROpenSCManagerW(dce)["lpScHandle"]
        for name in HostState.load(lab.hosts["sms600"].host_root).services:
            service = scmr.hROpenServiceW(dce, manager, name)["lpServiceHandle"]
            scmr.hRQueryServiceStatus(dce, service)
            scmr.hRQueryServiceConfigW(dce, service)
        conn.logoff()
    assert hosts_digest() == before
