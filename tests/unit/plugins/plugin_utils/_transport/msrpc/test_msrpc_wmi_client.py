"""WMI over DCOM (msrpc transport), without a network: error messages, the never-empty active list, the
console check's reading of Win32_Process, the installer's result, the timeout watchdog."""

from __future__ import annotations

import contextlib
import errno
import socket
import threading
from types import SimpleNamespace

import pytest
from impacket.dcerpc.v5.dcom.wmi import DCERPCSessionError
from impacket.dcerpc.v5.rpcrt import DCERPCException

from ansible_collections.sms.remediation.plugins.plugin_utils._transport.base import TransportError
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc import wmi


def session(**overrides):
    settings = dict(host="site610", address="192.0.2.10", user="smsadmin", password="pw", domain="SMS610",
                    timeout=7, allow_ntlmv1=False)
    settings.update(overrides)
    return SimpleNamespace(settings=SimpleNamespace(**settings))


@pytest.mark.parametrize("exc, expected", [
    (DCERPCSessionError(error_code=0x8004100E), "WBEM_E_INVALID_NAMESPACE (0x8004100e): the namespace does not "
                                                "exist: the SMS Provider is not installed or not running"),
    (DCERPCSessionError(error_code=0x80041003), "WBEM_E_ACCESS_DENIED (0x80041003)"),
    (DCERPCException(error_code=0x80070005), "E_ACCESSDENIED (0x80070005): DCOM refused the account: it must be "
                                             "a local administrator"),
    (DCERPCException("rpc_s_access_denied"), "rpc_s_access_denied (0x00000005): logon refused: wrong user, "
                                             "domain or password"),
    (ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"),
     "RPC_S_SERVER_UNAVAILABLE (0x800706ba): nothing answers on TCP port 135"),
    (DCERPCException("Could not connect: [Errno 111] Connection refused"), "RPC_S_SERVER_UNAVAILABLE"),
    (DCERPCSessionError(error_code=0x80041017), "WBEM_E_INVALID_QUERY (0x80041017)"),
    (DCERPCSessionError(error_code=0x8004102F), "error 0x8004102f"),
    (ValueError("odd"), "ValueError: odd"),
])
def test_errors_name_the_hresult_and_what_it_means(exc, expected):
    assert expected in wmi.describe(exc, "WMI namespace root\\SMS\\site_610")
    assert wmi.describe(exc, "x").startswith("x: ")


def test_a_wmi_error_is_a_transport_error_naming_the_host():
    error = wmi.WmiError("site610", "wmi", "E_ACCESSDENIED (0x80070005): ...", 0x80070005)
    assert isinstance(error, TransportError)
    assert str(error) == "site610: wmi: E_ACCESSDENIED (0x80070005): ..."


def test_target_reads_the_session_settings_and_the_wmi_address_override():
    target = wmi.target_of(session(), timeout=3)
    assert (target.host, target.address, target.user, target.domain, target.timeout) == (
        "site610", "192.0.2.10", "smsadmin", "SMS610", 3)
    assert wmi.target_of(session(wmi_address="127.0.0.9")).address == "127.0.0.9"
    assert wmi.target_of(session()).timeout == 7


class FakeConnection:
    """Stands in for WmiConnection: answers by namespace and query, or raises."""

    def __init__(self, answers=None, error=None, pids=(4242,)):
        self.answers = answers or {}
        self.error = error
        self.queries = []
        self.pids = list(pids)
        self.created = []
        self.target = wmi.target_of(session())

    def query(self, namespace, wql):
        self.queries.append((namespace, wql))
        if self.error:
            raise self.error
        for (ns, start), rows in self.answers.items():
            if ns == namespace and wql.startswith(start):
                return rows() if callable(rows) else rows
        return []

    def instance(self, namespace, path):         # GetObject: the first row of the answer whose key starts the path
        rows = self.query(namespace, path)
        return rows[0] if rows else None

    def create_process(self, command, folder):
        self.created.append((command, folder))
        return self.pids.pop(0)


@pytest.fixture
def fake(monkeypatch):
    holder = {}

    def use(connection=None, open_error=None):
        @contextlib.contextmanager
        def connected(_session, _timeout=None):
            if open_error:
                raise open_error
            yield connection
        monkeypatch.setattr(wmi, "connected", connected)
        holder["connection"] = connection
        return connection
    return use


def test_active_packages_come_from_the_site_namespace(fake):
    conn = fake(FakeConnection({("root\\SMS\\site_610", "select PackageID, ActionInProgress"): [
        {"PackageID": "61000001", "ActionInProgress": 0, "SourceSite": "610"},
        {"PackageID": "60000013", "ActionInProgress": 3, "SourceSite": "600"}]}))
    answer = wmi.active_packages(session(), "610", 5)
    assert answer == {"available": True, "error": None, "namespace": "root\\SMS\\site_610", "packages": [
        {"PackageID": "61000001", "SourceSite": "610", "ActionInProgress": 0},
        {"PackageID": "60000013", "SourceSite": "600", "ActionInProgress": 3}]}
    assert conn.queries == [("root\\SMS\\site_610", "select PackageID, ActionInProgress, SourceSite from SMS_Package")]


def test_an_unknown_site_code_is_found_through_the_provider_location(fake):
    conn = fake(FakeConnection({
        ("root\\SMS", "select SiteCode, NamespacePath from SMS_ProviderLocation"): [
            {"SiteCode": "610", "NamespacePath": "\\\\SMS610\\root\\SMS\\site_610"}],
        ("root\\SMS\\site_610", "select PackageID"): []}))
    answer = wmi.active_packages(session(), None, 5)
    assert (answer["available"], answer["namespace"], answer["packages"]) == (True, "root\\SMS\\site_610", [])
    assert conn.queries[0][1].endswith("where ProviderForLocalSite = true")


@pytest.mark.parametrize("error", [
    wmi.WmiError("site610", "wmi", "WMI namespace root\\SMS\\site_610: WBEM_E_INVALID_NAMESPACE (0x8004100e)"),
    wmi.WmiError("site610", "wmi", "no answer from WMI on 192.0.2.10 within 5 s (timeout)"),
])
def test_unavailable_wmi_leaves_the_active_list_unknown_never_empty(fake, error):
    fake(FakeConnection(error=error))
    answer = wmi.active_packages(session(), "610", 5)
    assert answer["available"] is False
    assert answer["packages"] is None
    assert error.message in answer["error"]
    fake(open_error=error)
    assert wmi.active_packages(session(), "610", 5)["packages"] is None


def test_a_site_code_the_provider_names_is_checked_before_it_goes_into_a_path(fake):
    conn = fake(FakeConnection({("root\\SMS", "select SiteCode, NamespacePath from SMS_ProviderLocation"): [
        {"SiteCode": '6"0', "NamespacePath": "x"}]}))
    answer = wmi.site(session(), None, 5)
    assert answer["available"] is False and "not valid" in answer["error"]
    assert [namespace for namespace, _wql in conn.queries] == ["root\\SMS"]


def test_a_bad_site_code_is_refused_before_any_query(fake):
    conn = fake(FakeConnection())
    answer = wmi.active_packages(session(), "61'; x", 5)
    assert answer["available"] is False and "not valid" in answer["error"]
    assert conn.queries == []


def test_site_reads_sms_site_by_its_key(fake):
    conn = fake(FakeConnection({("root\\SMS\\site_610", 'SMS_Site.SiteCode="610"'): [
        {"SiteCode": "610", "ReportingSiteCode": "600", "Type": 2, "Version": "2.0", "BuildNumber": 1380,
         "InstallDir": "D:\\SMS", "SiteName": "Child"}]}))
    answer = wmi.site(session(), "610", 5)
    assert answer["available"] is True and answer["InstallDir"] == "D:\\SMS" and answer["BuildNumber"] == 1380
    assert "SiteName" not in answer and conn.queries == [("root\\SMS\\site_610", 'SMS_Site.SiteCode="610"')]
    fake(FakeConnection())
    assert wmi.site(session(), "610", 5)["error"] == "no SMS_Site instance for site 610"


@pytest.mark.parametrize("rows, expected", [
    ([], {"open": False, "command_line_visible": False}),
    # NT 4.0 / 2000: no CommandLine, an mmc.exe might be the SMS console: counted as open
    ([{"Name": "mmc.exe", "ProcessId": 812, "ExecutablePath": "C:\\WINNT\\System32\\mmc.exe"}],
     {"open": True, "command_line_visible": False}),
    ([{"Name": "mmc.exe", "ProcessId": 812, "CommandLine": "mmc.exe compmgmt.msc"}],
     {"open": False, "command_line_visible": True}),
    ([{"Name": "mmc.exe", "ProcessId": 812, "CommandLine": 'mmc.exe "D:\\SMS\\bin\\i386\\SMS.MSC"'}],
     {"open": True, "command_line_visible": True}),
])
def test_console_check_reads_what_win32_process_shows(fake, rows, expected):
    fake(FakeConnection({("root\\cimv2", "select * from Win32_Process where Name = 'mmc.exe'"): rows}))
    assert wmi.console_check(session(), "mmc.exe", "sms.msc", 5) == {**expected, "error": None}
    assert wmi.console_open(session(), "mmc.exe", "sms.msc", 5) is expected["open"]


def test_console_check_is_unknown_when_wmi_fails(fake):
    fake(FakeConnection(error=wmi.WmiError("site610", "wmi", "E_ACCESSDENIED (0x80070005)")))
    assert wmi.console_check(session(), "mmc.exe", "sms.msc", 5) == {
        "open": None, "command_line_visible": False, "error": "E_ACCESSDENIED (0x80070005)"}


def test_the_installer_is_refused_on_alpha_before_anything_runs(fake):
    conn = fake(FakeConnection())
    with pytest.raises(wmi.WmiError, match="runs on I386 only and this site server is alpha"):
        wmi.run_installer(session(), "C:\\HF\\Q244405.exe", "/s", 30, "alpha", read_log=lambda: pytest.fail("read"))
    assert conn.created == []


def _running_then_gone(polls):
    state = {"left": polls}

    def rows():
        state["left"] -= 1
        return [{"ProcessId": 4242}] if state["left"] >= 0 else []
    return rows


@pytest.mark.parametrize("log_after, rc", [(b"old\r\nQ244405 hotfix installed\r\n", 0), (b"old\r\n", 1),
                                           (None, 1)])
def test_the_installer_result_comes_from_its_log(fake, monkeypatch, log_after, rc):
    monkeypatch.setattr(wmi.time, "sleep", lambda _s: None)
    conn = fake(FakeConnection({("root\\cimv2", "select ProcessId from Win32_Process where ProcessId = 4242"):
                                _running_then_gone(2)}))
    logs = iter([b"old\r\n", log_after])
    result = wmi.run_installer(session(), "C:\\SMSHOTFIX\\Q244405\\Q244405.exe", "/s", 30, "i386",
                               read_log=lambda: next(logs))
    assert result["rc"] == rc
    assert conn.created == [('"C:\\SMSHOTFIX\\Q244405\\Q244405.exe" /s', "C:\\SMSHOTFIX\\Q244405")]
    assert result["pid"] == 4242
    if rc:
        assert "without writing Q244405.log" in result["stderr"]


def test_an_installer_still_running_at_the_deadline_fails(fake, monkeypatch):
    clock = iter(range(0, 1000, 10))
    monkeypatch.setattr(wmi.time, "monotonic", lambda: next(clock))
    monkeypatch.setattr(wmi.time, "sleep", lambda _s: None)
    fake(FakeConnection({("root\\cimv2", "select ProcessId"): [{"ProcessId": 4242}]}))
    result = wmi.run_installer(session(), "C:\\HF\\Q244405.exe", "/s", 30, "i386", read_log=lambda: b"")
    assert result["rc"] == 1 and "still running after 30 s" in result["stderr"]


def test_the_watchdog_ends_a_call_that_never_answers():
    left, right = socket.socketpair()
    outcome = {}

    def blocked_call():
        try:
            outcome["data"] = left.recv(10)          # the server never answers
        except OSError as exc:
            outcome["error"] = exc

    worker = threading.Thread(target=blocked_call)
    with wmi._Watchdog(0.2, lambda: [left]) as watchdog:     # pylint: disable=protected-access
        worker.start()
        worker.join(5)
    assert not worker.is_alive()
    assert watchdog.fired and outcome.get("data", b"") == b""
    left.close()
    right.close()
