"""The lab's \\svcctl as clients other than the collection see it: Samba's ``net rpc service`` (samba-common-bin)
and raw MS-SCMR / MS-RPCE PDUs through impacket, over the real smbd of each host profile.

``rpcclient`` 4.17 has no svcctl commands (its ``help`` lists none), so ``net`` is Samba's only service
client. ``net`` 4.17 refuses SMB1 unless told (``client min protocol``): nt4 and w2k hosts speak only SMB1.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess

import pytest
from impacket.dcerpc.v5 import scmr, transport
from impacket.dcerpc.v5.rpcrt import DCERPCException
from impacket.smbconnection import SMBConnection

from smslab.state import HostState

USER, PASSWORD = "Administrator", "Lab-Pass-1999"
SITES = {"sms600": "nt4", "sms610": "w2k", "sms620": "modern"}
SCENARIO = {
    "seed": 11,
    "credentials": {"user": USER, "password": PASSWORD},
    "sites": [
        {"name": "sms600", "site_code": "600", "build": "sp1", "profile": "nt4"},
        {"name": "sms610", "site_code": "610", "parent": "600", "build": "sp1", "profile": "w2k"},
        {"name": "sms620", "site_code": "620", "parent": "600", "build": "sp2", "profile": "modern"},
    ],
}
ERROR_ACCESS_DENIED, ERROR_INSUFFICIENT_BUFFER, ERROR_MORE_DATA = 5, 122, 234
NCA_S_OP_RNG_ERROR = 0x1C010002
EVERY_HOST = pytest.mark.parametrize("name", list(SITES), ids=[f"{n}-{p}" for n, p in SITES.items()])


@pytest.fixture
def samba_scenario():
    return SCENARIO


def net(lab, name: str, *args: str) -> subprocess.CompletedProcess:
    """``net rpc service <args>`` against one lab host, as an administrator would type it."""
    host = lab.hosts[name]
    binary = shutil.which("net")
    assert binary, "Samba's net (samba-common-bin) is not installed"
    argv = [binary, "rpc", "service", *args, "-I", host.address, "-p", str(host.port),
            "-U", f"{host.domain}\\{host.user}%{host.password}", "--option=client min protocol=NT1"]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)


def _bound(host, pipe_name: str, interface):
    conn = SMBConnection(host.address, host.address, sess_port=host.port, timeout=60)
    conn.login(host.user, host.password, host.domain)
    rpc = transport.SMBTransport(host.address, host.port, pipe_name, smb_connection=conn)
    dce = rpc.get_dce_rpc()
    dce.connect()
    dce.bind(interface)
    return conn, dce, rpc


def services_of(lab, name: str) -> dict:
    return HostState.load(lab.hosts[name].host_root).services


def scm_pipe(lab, name: str):
    """(SMB connection, DCE/RPC bound to \\svcctl, its SMB transport) for raw calls."""
    return _bound(lab.hosts[name], r"\svcctl", scmr.MSRPC_UUID_SCMR)


# ---- Samba's net ---------------------------------------------------------------------------------
@EVERY_HOST
def test_net_rpc_service_list_shows_every_service_of_the_host(samba_lab, name):
    done = net(samba_lab, name, "list")
    assert done.returncode == 0, done.stdout + done.stderr
    listed = re.findall(r'^(\S+)\s+"([^"]*)"$', done.stdout, re.MULTILINE)
    assert [service for service, _display in listed] == sorted(services_of(samba_lab, name))


@EVERY_HOST
def test_net_rpc_service_status_shows_state_and_configuration(samba_lab, name):
    record = services_of(samba_lab, name)["SMS_EXECUTIVE"]
    done = net(samba_lab, name, "status", "SMS_EXECUTIVE")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SMS_EXECUTIVE service is running." in done.stdout
    assert "Start Type           = 0x2" in done.stdout        # auto
    assert f"Executable Path      = {record['path']}" in done.stdout
    assert "Start Name           = LocalSystem" in done.stdout


def test_net_rpc_service_stop_and_start_reach_host_json(samba_lab):
    stopped = net(samba_lab, "sms600", "stop", "SMS_EXECUTIVE")
    assert stopped.returncode == 0 and "SMS_EXECUTIVE service is stopped." in stopped.stdout, stopped.stdout
    assert services_of(samba_lab, "sms600")["SMS_EXECUTIVE"]["state"] == "stopped"
    started = net(samba_lab, "sms600", "start", "SMS_EXECUTIVE")
    assert started.returncode == 0 and "Successfully started service: SMS_EXECUTIVE" in started.stdout, started.stdout
    assert services_of(samba_lab, "sms600")["SMS_EXECUTIVE"]["state"] == "running"


def test_net_reads_a_fault_for_a_call_the_lab_does_not_serve(samba_lab):
    # RDeleteService is not served: the fault must be one Samba can read (a 12-byte fault body gives
    # "ndr_pull_error(Buffer Size Error)" instead of the fault's status).
    done = net(samba_lab, "sms600", "delete", "SMS_SITE_BACKUP")
    assert "NT_STATUS_RPC_PROCNUM_OUT_OF_RANGE" in done.stdout + done.stderr
    assert "Buffer Size Error" not in done.stdout + done.stderr
    assert "SMS_SITE_BACKUP" in services_of(samba_lab, "sms600")


# ---- raw PDUs ------------------------------------------------------------------------------------
def test_fault_pdu_has_the_16_byte_body_of_ms_rpce(samba_lab):
    conn, dce, rpc = scm_pipe(samba_lab, "sms600")
    dce.call(44, b"")                       # RCreateServiceWOW64W: not served
    answer = rpc.recv()
    ptype, flags, frag_len = answer[2], answer[3], struct.unpack_from("<H", answer, 8)[0]
    alloc_hint, context, cancel_count, reserved, status, reserved2 = struct.unpack_from("<IHBBII", answer, 16)
    assert (ptype, len(answer), frag_len) == (3, 32, 32)      # 16-byte header + 16-byte fault body
    assert (context, cancel_count, reserved, reserved2) == (0, 0, 0, 0) and alloc_hint == 0
    assert status == NCA_S_OP_RNG_ERROR and flags & 0x20       # did not execute
    conn.logoff()


def test_query_config_with_a_small_buffer_answers_the_size_needed(samba_lab):
    conn, dce, _rpc = scm_pipe(samba_lab, "sms600")
    manager = scmr.hROpenSCManagerW(dce, dwDesiredAccess=scmr.SC_MANAGER_CONNECT)["lpScHandle"]
    service = scmr.hROpenServiceW(dce, manager, "SMS_EXECUTIVE", dwDesiredAccess=scmr.SERVICE_QUERY_CONFIG)["lpServiceHandle"]
    request = scmr.RQueryServiceConfigW()
    request["hService"] = service
    request["cbBufSize"] = 0
    with pytest.raises(DCERPCException) as short:
        dce.request(request)
    assert short.value.get_error_code() == ERROR_INSUFFICIENT_BUFFER
    needed = short.value.get_packet()["pcbBytesNeeded"]
    request["cbBufSize"] = needed - 1
    with pytest.raises(DCERPCException) as still_short:
        dce.request(request)
    assert still_short.value.get_error_code() == ERROR_INSUFFICIENT_BUFFER
    request["cbBufSize"] = needed
    config = dce.request(request)["lpServiceConfig"]
    assert config["lpBinaryPathName"] == services_of(samba_lab, "sms600")["SMS_EXECUTIVE"]["path"] + "\0"
    conn.logoff()


def test_enum_services_pages_a_small_buffer_with_more_data_and_the_resume_index(samba_lab):
    conn, dce, _rpc = scm_pipe(samba_lab, "sms600")
    manager = scmr.hROpenSCManagerW(dce, dwDesiredAccess=scmr.SC_MANAGER_ENUMERATE_SERVICE)["lpScHandle"]
    names, resume = [], 0
    for _page in range(10):
        # handle, dwServiceType, dwServiceState, cbBufSize (room for one record with its two names, not two),
        # lpResumeIndex (a non-null pointer: referent id, value)
        dce.call(scmr.REnumServicesStatusW.opnum, bytes(manager) + struct.pack(
            "<IIIII", scmr.SERVICE_WIN32_OWN_PROCESS, scmr.SERVICE_STATE_ALL, 160, 0x20000, resume))
        stub = dce.recv()
        (size,) = struct.unpack_from("<I", stub, 0)
        buffer, rest = stub[4:4 + size], stub[4 + size + (-size % 4):]
        needed, returned, referent, resume, code = struct.unpack_from("<IIIII", rest)
        assert referent and returned == 1 and size == 160
        (name_offset,) = struct.unpack_from("<I", buffer, 0)
        names.append(buffer[name_offset:].decode("utf-16-le").split("\0")[0])
        if code == 0:
            assert needed == 0 and resume == 0
            break
        assert code == ERROR_MORE_DATA and needed > 0
    assert names == sorted(services_of(samba_lab, "sms600"))
    active = scmr.hREnumServicesStatusW(dce, manager, dwServiceState=scmr.SERVICE_ACTIVE)
    assert {r["lpServiceName"][:-1] for r in active} == {
        n for n, s in services_of(samba_lab, "sms600").items() if s["state"] != "stopped"}
    conn.logoff()


# ---- access rights -------------------------------------------------------------------------------
def test_each_call_needs_its_right_on_the_handle(samba_lab):
    conn, dce, _rpc = scm_pipe(samba_lab, "sms600")
    connect_only = scmr.hROpenSCManagerW(dce, dwDesiredAccess=scmr.SC_MANAGER_CONNECT)["lpScHandle"]
    with pytest.raises(DCERPCException) as refused:
        scmr.hREnumServicesStatusW(dce, connect_only)          # needs SC_MANAGER_ENUMERATE_SERVICE
    assert refused.value.get_error_code() == ERROR_ACCESS_DENIED
    enumerate_only = scmr.hROpenSCManagerW(dce, dwDesiredAccess=scmr.SC_MANAGER_ENUMERATE_SERVICE)["lpScHandle"]
    # OpenSCManager implies SC_MANAGER_CONNECT, which OpenService needs: net rpc service status relies on it
    status_only = scmr.hROpenServiceW(dce, enumerate_only, "SMS_EXECUTIVE",
                                      dwDesiredAccess=scmr.SERVICE_QUERY_STATUS)["lpServiceHandle"]
    assert scmr.hRQueryServiceStatus(dce, status_only)["lpServiceStatus"]["dwCurrentState"] == scmr.SERVICE_RUNNING
    for call in (lambda: scmr.hRQueryServiceConfigW(dce, status_only),
                 lambda: scmr.hRControlService(dce, status_only, scmr.SERVICE_CONTROL_STOP),
                 lambda: scmr.hRStartServiceW(dce, status_only)):
        with pytest.raises(DCERPCException) as refused:
            call()
        assert refused.value.get_error_code() == ERROR_ACCESS_DENIED
    config_only = scmr.hROpenServiceW(dce, connect_only, "SMS_EXECUTIVE",
                                      dwDesiredAccess=scmr.SERVICE_QUERY_CONFIG)["lpServiceHandle"]
    with pytest.raises(DCERPCException) as refused:
        scmr.hRQueryServiceStatus(dce, config_only)
    assert refused.value.get_error_code() == ERROR_ACCESS_DENIED
    stop_only = scmr.hROpenServiceW(dce, connect_only, "SMS_EXECUTIVE", dwDesiredAccess=scmr.SERVICE_STOP)["lpServiceHandle"]
    assert scmr.hRControlService(dce, stop_only, scmr.SERVICE_CONTROL_STOP)["lpServiceStatus"]["dwCurrentState"] \
        == scmr.SERVICE_STOPPED
    assert services_of(samba_lab, "sms600")["SMS_EXECUTIVE"]["state"] == "stopped"
    conn.logoff()
