"""The msrpc transport's WMI client (``_transport/msrpc/wmi.py``) against the lab's DCOM/WMI responder:
the hierarchy scenario's active packages, each fault as a clear per-host message with the active list left
unknown (never empty), a bounded wait on a query that never answers, and Q244405.exe run through
Win32_Process.Create on an I386 host (refused on Alpha)."""

from __future__ import annotations

import os
import threading
import time
from types import SimpleNamespace

import pytest

from lab_harness import COLLECTION_ROOT, SCENARIOS, ansible_env
from smslab.dcom import WmiResponder, free_loopback_addresses, lab_credentials
from smslab.scenario import build_state_dir
from smslab.state import HostState

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: DCOM starts at port 135 (binding it needs root)")

INSTALLER = "C:\\SMSHOTFIX\\Q244405\\Q244405.exe"
HOTFIX_LOG = "C:\\SMS\\Logs\\Q244405.log"


@pytest.fixture(scope="module")
def wmi(tmp_path_factory):
    import sys
    ansible_env(tmp_path_factory.mktemp("env"))            # makes the collection root
    if str(COLLECTION_ROOT) not in sys.path:
        sys.path.insert(0, str(COLLECTION_ROOT))
    from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc import wmi as module
    return module


@pytest.fixture
def lab(tmp_path):
    state_dir = tmp_path / "state"
    names = build_state_dir(SCENARIOS / "hierarchy.yml", state_dir)
    addresses = free_loopback_addresses(names)
    user, password = lab_credentials(state_dir)
    running = []

    def start(**faults_by_host):
        for name, faults in faults_by_host.items():
            state = HostState.load(state_dir / "hosts" / name)
            state.data.update(faults.pop("data", {}))
            state.faults.update(faults)
            state.save()
        running.append(WmiResponder(state_dir, names, addresses.__getitem__).start())
        return running[-1]

    def session(name, password_override=None, timeout=10, allow_ntlmv1=False):
        return SimpleNamespace(settings=SimpleNamespace(
            host=name, address=addresses[name], user=user, password=password_override or password, domain="",
            timeout=timeout, allow_ntlmv1=allow_ntlmv1))

    yield SimpleNamespace(start=start, session=session, state_dir=state_dir, addresses=addresses,
                          state=lambda name: HostState.load(state_dir / "hosts" / name))
    for responder in running:
        responder.stop()


def test_active_packages_keep_the_deletion_in_progress(wmi, lab):
    lab.start()
    answer = wmi.active_packages(lab.session("sms712"), "712", 10)
    expected = [{"PackageID": p["PackageID"], "SourceSite": p["SourceSite"], "ActionInProgress": p["ActionInProgress"]}
                for p in lab.state("sms712").wmi["packages"]]
    assert answer == {"available": True, "error": None, "namespace": "root\\SMS\\site_712", "packages": expected}
    assert {"PackageID": "71200001", "SourceSite": "712", "ActionInProgress": 3} in answer["packages"]
    # the site code unknown: found through root\SMS SMS_ProviderLocation
    assert wmi.active_packages(lab.session("sms712"), None, 10)["packages"] == expected
    site = wmi.site(lab.session("sms712"), "712", 10)
    assert (site["available"], site["SiteCode"], site["ReportingSiteCode"], site["BuildNumber"]) == (
        True, "712", "700", lab.state("sms712").wmi["site"]["BuildNumber"])


@pytest.mark.parametrize("fault, message", [
    ({"wmi_unavailable": True}, "WBEM_E_INVALID_NAMESPACE (0x8004100e)"),
    ({"wmi_access_denied": True}, "E_ACCESSDENIED (0x80070005): DCOM refused the account"),
    ({"rpc_unavailable": True}, "RPC_S_SERVER_UNAVAILABLE (0x800706ba): nothing answers on TCP port 135"),
    ({"wmi_down": True}, "CO_E_SERVER_EXEC_FAILURE (0x80080005): the WMI service (winmgmt) did not start"),
])
def test_a_fault_leaves_the_active_list_unknown_with_the_reason(wmi, lab, fault, message):
    lab.start(sms711=dict(fault))
    answer = wmi.active_packages(lab.session("sms711"), "711", 10)
    assert answer["available"] is False and answer["packages"] is None
    assert message in answer["error"]
    assert wmi.active_packages(lab.session("sms712"), "712", 10)["available"] is True   # one host only


def test_wrong_password_is_a_clear_logon_error(wmi, lab):
    lab.start()
    answer = wmi.active_packages(lab.session("sms711", password_override="wrong"), "711", 10)
    assert answer["packages"] is None
    assert "rpc_s_access_denied (0x00000005): logon refused: wrong user, domain or password" in answer["error"]


def test_ntlmv1_is_used_only_when_allowed_and_ntlmv2_is_refused(wmi, lab):
    lab.start(sms711={"data": {"ntlmv1": True, "ntlmv2": False}})     # NT 4.0 before SP4
    refused = wmi.active_packages(lab.session("sms711"), "711", 10)
    assert refused["packages"] is None and "rpc_s_access_denied" in refused["error"]
    allowed = wmi.active_packages(lab.session("sms711", allow_ntlmv1=True), "711", 10)
    assert allowed["available"] is True and [p["PackageID"] for p in allowed["packages"]] == ["70000001"]
    from impacket import ntlm
    assert ntlm.USE_NTLMv2 is True                      # impacket's process-wide switch is put back


def test_a_query_that_never_answers_ends_at_the_timeout(wmi, lab):
    lab.start(sms711={"wmi_query_hangs": True})
    started = time.monotonic()
    answer = wmi.active_packages(lab.session("sms711", timeout=2), "711", 2)
    elapsed = time.monotonic() - started
    assert answer["packages"] is None
    assert "no answer from WMI on" in answer["error"] and "within 2 s (timeout)" in answer["error"]
    assert 1.5 < elapsed < 10


def test_the_installer_runs_through_win32_process_create(wmi, lab):
    lab.start()
    state = lab.state("sms711")
    assert state.file_version("C:\\SMS\\bin\\i386\\Distmgr.dll") != "2.00.1380.1083"

    def read_log():
        current = lab.state("sms711")
        return current.read_bytes(HOTFIX_LOG) if current.exists(HOTFIX_LOG) else None

    result = wmi.run_installer(lab.session("sms711"), INSTALLER, "/s", 30, "i386", read_log)
    assert result["rc"] == 0, result
    assert lab.state("sms711").file_version("C:\\SMS\\bin\\i386\\Distmgr.dll") == "2.00.1380.1083"


def test_an_open_console_is_seen_and_the_installer_refuses(wmi, lab):
    console = [{"name": "mmc.exe", "command_line": 'C:\\WINNT\\System32\\mmc.exe "C:\\SMS\\bin\\i386\\sms.msc"'}]
    lab.start(sms711={"data": {"processes": console}})
    assert wmi.console_check(lab.session("sms711"), "mmc.exe", "sms.msc", 10) == {
        "open": True, "command_line_visible": False, "error": None}
    assert wmi.console_open(lab.session("sms712"), "mmc.exe", "sms.msc", 10) is False
    result = wmi.run_installer(lab.session("sms711"), INSTALLER, "/s", 30, "i386",
                               lambda: lab.state("sms711").read_bytes(HOTFIX_LOG)
                               if lab.state("sms711").exists(HOTFIX_LOG) else None)
    assert result["rc"] == 1 and "without writing Q244405.log" in result["stderr"]


def test_the_installer_is_refused_on_alpha(wmi, lab):
    lab.start()
    with pytest.raises(wmi.WmiError, match="sms711: run_installer: Q244405.exe runs on I386 only"):
        wmi.run_installer(lab.session("sms711"), INSTALLER, "/s", 30, "alpha", lambda: None)


def test_no_connection_is_left_open(wmi, lab):
    from impacket.dcerpc.v5.dcomrt import INTERFACE, DCOMConnection
    lab.start(sms711={"wmi_query_hangs": True})
    wmi.active_packages(lab.session("sms712"), "712", 10)
    wmi.active_packages(lab.session("sms711", timeout=1), "711", 1)
    for address in lab.addresses.values():
        assert address not in DCOMConnection.PORTMAPS
        assert not INTERFACE.CONNECTIONS.get(address, {}).get(threading.current_thread().name)


def test_one_task_uses_one_dcom_connection_for_every_wmi_call(wmi, lab, monkeypatch):
    """The probe's site, packages and console check share the session's connection; closing the session
    closes it (a transport session carries ``wmi_cache``)."""
    from impacket.dcerpc.v5.dcomrt import INTERFACE, DCOMConnection
    lab.start()
    activations = []
    original = wmi.WmiConnection.open
    monkeypatch.setattr(wmi.WmiConnection, "open", lambda self: activations.append(1) or original(self))
    session = SimpleNamespace(settings=lab.session("sms712").settings, wmi_cache={})
    assert wmi.site(session, "712", 10)["available"] is True
    assert wmi.active_packages(session, "712", 10)["available"] is True
    assert wmi.console_open(session, "mmc.exe", "sms.msc", 10) is False
    assert len(activations) == 1
    wmi.close_cached(session)
    address = lab.addresses["sms712"]
    assert address not in DCOMConnection.PORTMAPS
    assert not INTERFACE.CONNECTIONS.get(address, {}).get(threading.current_thread().name)


def test_a_failed_activation_is_not_retried_in_the_task_and_each_call_says_why(wmi, lab, monkeypatch):
    lab.start()
    session = SimpleNamespace(settings=lab.session("sms711", password_override="wrong").settings, wmi_cache={})
    activations = []
    original = wmi.WmiConnection.open
    monkeypatch.setattr(wmi.WmiConnection, "open", lambda self: activations.append(1) or original(self))
    packages = wmi.active_packages(session, "711", 10)
    site = wmi.site(session, "711", 10)
    assert packages["available"] is False and packages["packages"] is None
    assert "rpc_s_access_denied" in packages["error"] and "rpc_s_access_denied" in site["error"]
    assert wmi.console_check(session, "mmc.exe", "sms.msc", 10)["open"] is None
    assert len(activations) == 1


def test_a_call_that_runs_out_of_time_on_the_shared_connection_ends_and_the_next_opens_anew(wmi, lab):
    lab.start(sms711={"wmi_query_hangs": True})
    session = SimpleNamespace(settings=lab.session("sms711", timeout=2).settings, wmi_cache={})
    started = time.monotonic()
    answer = wmi.active_packages(session, "711", 2)
    assert time.monotonic() - started < 10
    assert answer["packages"] is None and "within 2 s (timeout)" in answer["error"]
    assert "connection" not in session.wmi_cache and session.wmi_cache.get("failure") is None
    wmi.close_cached(session)


def test_an_rtm_provider_lists_its_packages_with_the_action_unknown(wmi, lab):
    """sms713 runs SMS 2.0 RTM (the scenario's build): its SMS_Package has no ActionInProgress and refuses a query
    naming it. The list is still read; every action is unknown (None), never 0 (idle). Before issue 19 the whole
    list was unavailable there."""
    lab.start()
    answer = wmi.active_packages(lab.session("sms713"), "713", 10)
    assert answer["available"] is True and answer["action_in_progress_known"] is False
    assert answer["packages"] == [{"PackageID": p["PackageID"], "SourceSite": p["SourceSite"], "ActionInProgress": None}
                                  for p in lab.state("sms713").wmi["packages"]]
    assert "has no ActionInProgress in root\\SMS\\site_713" in answer["error"]


def test_a_silently_dropped_exporter_port_ends_at_the_timeout_naming_the_host(wmi, lab):
    """The object exporter's binding names a port where a connect hangs (a listener that never accepts, its
    backlog full: as a firewall dropping the DCOM dynamic ports). Before issue 19 impacket's own 300 s connect
    timeout held, out of reach of the per-call watchdog; the thread join only guards against that hang."""
    lab.start(sms711={"exporter_blackholed": True})
    answers = []
    worker = threading.Thread(target=lambda: answers.append(wmi.active_packages(lab.session("sms711", timeout=2),
                                                                                "711", 2)), daemon=True)
    worker.start()
    worker.join(60)
    assert not worker.is_alive(), "the WMI call did not end at its timeout"
    [answer] = answers
    assert answer["available"] is False and answer["packages"] is None
    assert answer["error"].startswith("active packages unknown: ")
    assert "the object exporter at " in answer["error"] and "did not accept a connection within" in answer["error"]
    assert f"on sms711 ({lab.addresses['sms711']})" in answer["error"]
