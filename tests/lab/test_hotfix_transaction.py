"""The hotfix transaction twin as Windows runs the script (issue 11, defects 5, 6 and 8's host side).

- Defect 5: the SMS Executive's process outlives its service's Stopped status and holds Distmgr.dll;
  the transaction waits for it to exit and retries the copy, and says what state the DLL is in.
- Defect 6: a journal on the host before the first stop; a run killed between any two steps leaves
  it (and the host) as Windows would, and -Mode Recover rolls back or completes it.
- Defect 8: a staged DLL of another build is refused unless AllowCrossBuild.
The twin is called through the lab's registry, so parameters are bound from the script's param().
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "lab"))

from smslab.handlers import SCRIPT_HANDLERS, HostContext  # noqa: E402
from smslab.handlers import sms_scripts  # noqa: E402,F401 pylint: disable=unused-import
from smslab.state import HostState, dll_bytes  # noqa: E402


def _load_journal_module():
    """plugins/module_utils/hotfix_journal.py is pure: load it by path (no collection loader here)."""
    spec = importlib.util.spec_from_file_location("hotfix_journal", ROOT / "plugins" / "module_utils" / "hotfix_journal.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module          # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


hj = _load_journal_module()

DLL = "C:\\SMS\\bin\\i386\\Distmgr.dll"
BACKUP = DLL + ".pre-Q244405"
STAGED = "C:\\SMS\\hotfix\\Q244405\\i386\\Distmgr.dll"
JOURNAL = "C:\\SMS\\Logs\\Q244405.journal.json"
OLD_DLL, NEW_DLL = dll_bytes("2.00.1380.1000"), dll_bytes("2.00.1380.1083")
OLD_SHA, NEW_SHA = hashlib.sha256(OLD_DLL).hexdigest(), hashlib.sha256(NEW_DLL).hexdigest()
ORDER = ["SMS_SITE_COMPONENT_MANAGER", "SMS_EXECUTIVE", "SMS_SITE_BACKUP"]
BEFORE = {"SMS_SITE_COMPONENT_MANAGER": "running", "SMS_EXECUTIVE": "running", "SMS_SITE_BACKUP": "running"}
SHARING = f"The process cannot access the file '{DLL}' because it is being used by another process."
# Every point between two steps of a real run (three running services).
CUT_POINTS = (["journal"] + [f"stop:{n}" for n in ORDER] + ["backup", "swap", "verify"]
              + [f"start:{n}" for n in reversed(ORDER)] + ["verify_running", "log"])


def make_host(tmp_path: Path, faults: dict | None = None, full_version: str = "2.00.1380.1000") -> HostState:
    root = tmp_path / "hosts" / "sms01"
    root.mkdir(parents=True)
    services = {name: {"state": "running", "start_mode": "auto", "path": f"C:\\SMS\\bin\\i386\\{exe}"}
                for name, exe in zip(ORDER, ("sitecomp.exe", "smsexec.exe", "smsbkup.exe"))}
    data = {"name": "sms01", "services": services, "faults": faults or {},
            "registry": {"HKLM\\SOFTWARE\\Microsoft\\SMS\\Setup": {"Full Version": full_version}},
            "environment": {"PROCESSOR_ARCHITECTURE": "x86", "COMPUTERNAME": "SMS01"}}
    (root / "host.json").write_text(json.dumps(data), encoding="utf-8")
    state = HostState.load(root)
    state.write_bytes(DLL, OLD_DLL)
    state.write_bytes(STAGED, NEW_DLL)
    state.makedirs("C:\\SMS\\Logs")
    return state


def params(**extra) -> dict:
    values = {"InstallDir": "C:\\SMS", "Platform": "i386", "StagedPath": STAGED, "ExpectedSha256": NEW_SHA,
              "MinimumVersion": "2.00.1380.1083", "SiteVersion": "2.00.1380.1000", "StopOrder": ORDER,
              "WaitSeconds": 60, "ProcessExitSeconds": 60, "BackupSuffix": ".pre-Q244405",
              "HotfixLogName": "Q244405.log", "JournalName": "Q244405.journal.json"}
    values.update(extra)
    return values


def run(state: HostState, check_mode: bool = False, **extra):
    ctx = HostContext(name=state.name, state=state, check_mode=check_mode)
    result, changed = SCRIPT_HANDLERS["hotfix_transaction"](ctx, params(**extra))
    return result, changed, ctx.notes


def services(state: HostState) -> dict:
    return {name: state.services[name]["state"] for name in ORDER}


def step(result: dict, name: str) -> dict:
    return next(s for s in result["steps"] if s["step"] == name)


def observed(state: HostState) -> dict:
    """What the probe would show the controller: Distmgr.dll and the services."""
    from smslab.handlers.sms_scripts.common import sha256_of, version_of
    return {"dll_path": DLL, "dll_sha256": sha256_of(state, DLL), "dll_version": version_of(state, DLL),
            "services": services(state)}


def recover(state: HostState, check_mode: bool = False):
    """The next run: decide from the journal (hotfix_journal) and run -Mode Recover with that decision."""
    journal = hj.parse(state.read_bytes(JOURNAL).decode("utf-8"), JOURNAL)
    decision = hj.decide(journal, observed(state))
    result, changed, _notes = run(state, check_mode, Mode="Recover", Recovery=decision.action,
                                  TransactionId=journal.transaction_id)
    return decision, result, changed


# ---- defect 5: the exiting SMS Executive -------------------------------------------------------
def test_waits_for_the_executive_to_exit_before_the_swap(tmp_path):
    state = make_host(tmp_path, {"process_exit_seconds": {"SMS_EXECUTIVE": 20}})
    result, changed, _notes = run(state)
    assert result["outcome"] == "replaced" and changed, result
    assert step(result, "stop:SMS_EXECUTIVE")["detail"].startswith("stopped; process ")
    assert step(result, "stop:SMS_EXECUTIVE")["detail"].endswith(" exited")
    assert step(result, "swap")["detail"].endswith(f"over {DLL}")            # first attempt
    assert result["dll_state"] == "new" and state.read_bytes(DLL) == NEW_DLL
    assert "exiting_processes" not in state.data and services(state) == BEFORE


def test_the_old_script_without_wait_or_retry_meets_a_sharing_violation(tmp_path):
    """What every real run risked before the fix: no wait for the process, one copy attempt."""
    state = make_host(tmp_path, {"process_exit_seconds": {"SMS_EXECUTIVE": 20}})
    result, _changed, _notes = run(state, ProcessExitSeconds=0, CopyAttempts=1)
    assert result["outcome"] == "failed" and result["failed_step"] == "swap"
    assert result["error"] == SHARING
    assert result["dll_state"] == "original" and state.read_bytes(DLL) == OLD_DLL
    assert not result["restored"] and step(result, "rollback:restore")["ok"] is False   # held again
    assert services(state) == BEFORE and not state.exists(JOURNAL) and result["journal"]["kept"] is False


def test_a_slow_exit_is_retried_with_backoff(tmp_path):
    state = make_host(tmp_path, {"process_exit_seconds": {"SMS_EXECUTIVE": 3}})
    result, _changed, _notes = run(state, ProcessExitSeconds=1)
    assert "still running after 1 seconds" in step(result, "stop:SMS_EXECUTIVE")["detail"]
    # attempts at 1 s, 1.5 s, 2.5 s fail; the 4th, at 4.5 s, finds the file free
    assert "(attempt 4 of 6: the file was in use before)" in step(result, "swap")["detail"]
    assert result["outcome"] == "replaced" and result["dll_state"] == "new"


def test_a_process_that_never_exits_in_time_fails_with_the_original_in_place(tmp_path):
    state = make_host(tmp_path, {"process_exit_seconds": {"SMS_EXECUTIVE": 1000}})
    result, _changed, _notes = run(state)
    assert result["failed_step"] == "swap" and result["error"] == SHARING
    assert [s["step"] for s in result["steps"]][-3:] == [
        "rollback:start:SMS_SITE_BACKUP", "rollback:start:SMS_EXECUTIVE", "rollback:start:SMS_SITE_COMPONENT_MANAGER"]
    assert result["dll_state"] == "original" and services(state) == BEFORE and not state.exists(JOURNAL)


def test_start_pending_within_the_wait_succeeds(tmp_path):
    state = make_host(tmp_path, {"service_start_seconds": {"SMS_EXECUTIVE": 30},
                                 "service_stop_seconds": {"SMS_SITE_COMPONENT_MANAGER": 45}})
    result, _changed, _notes = run(state)
    assert result["outcome"] == "replaced" and services(state) == BEFORE


def test_stop_pending_beyond_the_wait_times_out_and_the_journal_stays(tmp_path):
    state = make_host(tmp_path, {"service_stop_seconds": {"SMS_EXECUTIVE": 1000}})
    result, _changed, _notes = run(state)
    assert result["failed_step"] == "stop:SMS_EXECUTIVE"
    assert result["error"] == "service SMS_EXECUTIVE did not stop within 60 seconds (state stop_pending)"
    # The service is still stopping: it cannot be started again yet, so the end is not clean.
    assert result["services_after"]["SMS_EXECUTIVE"] == "stop_pending"
    assert result["dll_state"] == "original" and result["journal"] == {"path": JOURNAL, "kept": True}
    # Later the stop completes; the next run rolls back: nothing to restore, services started.
    state.services["SMS_EXECUTIVE"]["pending_until"] = 0
    state.faults.clear()
    decision, result, _changed = recover(state)
    assert decision.action == "rollback" and not decision.restore_dll
    assert result["outcome"] == "rolled_back" and services(state) == BEFORE and not state.exists(JOURNAL)


# ---- defect 6: the journal ---------------------------------------------------------------------
def test_the_journal_is_written_before_the_first_stop_and_matches_the_format(tmp_path):
    state = make_host(tmp_path, {"cut_after_step": "journal"})
    _result, _changed, notes = run(state)
    assert notes["connection_cut"] == "after step journal"
    assert services(state) == BEFORE                     # nothing stopped yet
    journal = hj.parse(state.read_bytes(JOURNAL).decode("utf-8"), JOURNAL)
    assert journal.steps == [] and journal.services_before == BEFORE and journal.service_order == ORDER
    assert journal.paths == {"original": DLL, "backup": BACKUP, "staged": STAGED}
    assert journal.original == {"sha256": OLD_SHA, "version": "2.00.1380.1000"}
    assert journal.new == {"sha256": NEW_SHA, "version": "2.00.1380.1083"}
    assert journal.data["transport"] == "winrm" and "cut_after_step" not in state.faults   # fires once


@pytest.mark.parametrize("cut", CUT_POINTS)
def test_a_run_cut_after_any_step_is_recovered_by_the_next(tmp_path, cut):
    state = make_host(tmp_path, {"cut_after_step": cut, "process_exit_seconds": {"SMS_EXECUTIVE": 5}})
    _result, _changed, notes = run(state)
    assert notes["connection_cut"] == f"after step {cut}"
    journal = hj.parse(state.read_bytes(JOURNAL).decode("utf-8"), JOURNAL)
    assert journal.last_step == (None if cut == "journal" else cut)
    swapped = cut not in ("journal", "backup") and not cut.startswith("stop:")
    assert state.read_bytes(DLL) == (NEW_DLL if swapped else OLD_DLL)      # no finally, no rollback ran
    # A new run does not start a second transaction over an unfinished one.
    refused, changed, _notes = run(state)
    assert refused["failed_step"] == "precheck" and "unfinished transaction" in refused["error"] and not changed

    decision, result, changed = recover(state)
    assert decision.action == ("complete" if swapped else "rollback")
    assert result["outcome"] == ("completed" if swapped else "rolled_back") and changed, result
    assert result["dll_state"] == ("new" if swapped else "original")
    assert services(state) == BEFORE and result["services_after"] == BEFORE
    assert not state.exists(JOURNAL) and result["journal"]["kept"] is False
    log = state.read_bytes("C:\\SMS\\Logs\\Q244405.log").decode() if state.exists("C:\\SMS\\Logs\\Q244405.log") else ""
    assert log.count("\n") == (1 if swapped else 0)      # completed: exactly one hotfix log line
    # and the run after that has nothing left to do but the hotfix itself (rolled back) or nothing
    final, _changed, _notes = run(state)
    assert final["outcome"] == ("unchanged" if swapped else "replaced"), final
    assert state.read_bytes(BACKUP) == OLD_DLL and services(state) == BEFORE


def test_a_half_written_dll_is_restored_from_the_backup(tmp_path):
    state = make_host(tmp_path, {"cut_after_step": "backup"})
    run(state)
    state.write_bytes(DLL, NEW_DLL[:100])                 # as if cut in the middle of File.Copy
    decision, result, _changed = recover(state)
    assert decision.action == "rollback" and decision.restore_dll
    assert step(result, "recover:restore")["ok"] and state.read_bytes(DLL) == OLD_DLL
    assert result["outcome"] == "rolled_back" and services(state) == BEFORE


def test_a_backup_that_is_not_the_original_stops_the_recovery_and_keeps_the_journal(tmp_path):
    state = make_host(tmp_path, {"cut_after_step": "backup"})
    run(state)
    state.write_bytes(DLL, b"garbage")
    state.write_bytes(BACKUP, b"not the original either")
    _decision, result, _changed = recover(state)
    assert result["outcome"] == "failed" and result["failed_step"] == "recover:restore"
    assert result["dll_state"] == "unknown" and result["journal"]["kept"] is True and state.exists(JOURNAL)
    # a damaged Distmgr.dll is not loaded: the stopped services stay stopped, and the result says so
    assert step(result, "recover:start")["ok"] is False and services(state)["SMS_EXECUTIVE"] == "stopped"


def test_recover_refuses_a_journal_it_did_not_decide_on(tmp_path):
    state = make_host(tmp_path, {"cut_after_step": "swap"})
    run(state)
    before = state.read_bytes(JOURNAL)
    result, changed, _notes = run(state, Mode="Recover", Recovery="complete", TransactionId="another-id")
    assert result["outcome"] == "failed" and result["failed_step"] == "recover:check" and not changed
    assert "probe the host again" in result["error"] and state.read_bytes(JOURNAL) == before


def test_recover_in_check_mode_changes_nothing(tmp_path):
    state = make_host(tmp_path, {"cut_after_step": "stop:SMS_EXECUTIVE"})
    run(state)
    snapshot = (json.dumps(state.data, sort_keys=True), state.read_bytes(JOURNAL), state.read_bytes(DLL))
    decision, result, changed = recover(state, check_mode=True)
    assert result["outcome"] == f"would_{decision.action}" and changed
    assert snapshot == (json.dumps(state.data, sort_keys=True), state.read_bytes(JOURNAL), state.read_bytes(DLL))


def test_recover_without_a_journal_does_nothing(tmp_path):
    state = make_host(tmp_path)
    result, changed, _notes = run(state, Mode="Recover", Recovery="rollback", TransactionId="x")
    assert result["outcome"] == "no_journal" and not changed


def test_an_older_backup_is_kept_and_this_runs_original_gets_its_own(tmp_path):
    state = make_host(tmp_path, {"cut_after_step": "swap"})
    state.write_bytes(BACKUP, dll_bytes("2.00.1239.0000"))
    run(state)
    journal = hj.parse(state.read_bytes(JOURNAL).decode("utf-8"), JOURNAL)
    own = f"{BACKUP}.{journal.transaction_id}"
    assert journal.paths["backup"] == own and state.read_bytes(own) == OLD_DLL
    state.write_bytes(DLL, b"damaged")                    # force the restore from the journal's backup
    _decision, result, _changed = recover(state)
    assert result["outcome"] == "rolled_back" and state.read_bytes(DLL) == OLD_DLL
    # every backup stays after the recovery: this run's is the way back to the DLL it replaced
    assert state.read_bytes(own) == OLD_DLL and state.read_bytes(BACKUP) == dll_bytes("2.00.1239.0000")


# ---- defect 8: the site's build ---------------------------------------------------------------
def test_a_hotfix_of_another_build_is_refused_on_an_rtm_site(tmp_path):
    state = make_host(tmp_path, full_version="2.00.1239.0000")
    state.write_bytes(DLL, dll_bytes("2.00.1239.0000"))
    result, changed, _notes = run(state, SiteVersion="2.00.1239.0000")
    assert result["failed_step"] == "precheck" and not changed
    assert "belongs to build 1380, this site is build 1239" in result["error"]
    assert "service pack" in result["error"] and "AllowCrossBuild" in result["error"]
    result, _changed, _notes = run(state, SiteVersion="2.00.1239.0000", AllowCrossBuild=True)
    assert result["outcome"] == "replaced"


def test_without_a_site_version_the_dll_in_place_gives_the_build(tmp_path):
    state = make_host(tmp_path)
    result, _changed, _notes = run(state, SiteVersion="")
    assert result["outcome"] == "replaced"
    state = make_host(tmp_path / "other")
    state.write_bytes(DLL, dll_bytes(None))
    result, _changed, _notes = run(state, SiteVersion="")
    assert result["failed_step"] == "precheck" and "the site's build is unknown" in result["error"]


# ---- the probe reports a journal ----------------------------------------------------------------
def test_the_probe_reports_the_journal_a_cut_run_left(tmp_path):
    state = make_host(tmp_path, {"cut_after_step": "swap"})
    probe = SCRIPT_HANDLERS["probe"]
    ctx = HostContext(name=state.name, state=state, check_mode=True)
    assert probe(ctx, {"PackageFolders": ["D:\\SMSPKG"]})[0]["transaction_journal"] is None
    run(state)
    reported = probe(ctx, {"PackageFolders": ["D:\\SMSPKG"]})[0]["transaction_journal"]
    assert reported["path"] == JOURNAL and reported["error"] is None
    assert hj.parse(reported["text"], reported["path"]).last_step == "swap"


# A cut inside the msrpc transport's journal swap (old journal deleted, the new one not yet renamed in from
# <name>.tmp) leaves only Q244405.journal.json.tmp. The next run may come over winrm: the PowerShell probe and
# -Mode Recover (these twins) take the .tmp as the journal, as the msrpc probe does.
@pytest.mark.parametrize("cut", ["backup", "swap"])
def test_only_a_tmp_journal_left_by_a_cut_msrpc_swap_is_recovered_over_winrm(tmp_path, cut):
    state = make_host(tmp_path, {"cut_after_step": cut})
    run(state)
    state.move(JOURNAL, JOURNAL + ".tmp")
    probe = SCRIPT_HANDLERS["probe"]
    reported = probe(HostContext(name=state.name, state=state, check_mode=True),
                     {"PackageFolders": ["D:\\SMSPKG"]})[0]["transaction_journal"]
    assert reported["path"] == JOURNAL + ".tmp" and reported["error"] is None, reported
    journal = hj.parse(reported["text"], reported["path"])
    assert journal.last_step == cut
    refused, changed, _notes = run(state)          # no second transaction over the unfinished one
    assert refused["failed_step"] == "precheck" and f"recorded in {JOURNAL}.tmp" in refused["error"] and not changed
    decision = hj.decide(journal, observed(state))
    result, changed, _notes = run(state, Mode="Recover", Recovery=decision.action, TransactionId=journal.transaction_id)
    assert result["outcome"] == ("completed" if cut == "swap" else "rolled_back") and changed, result
    assert services(state) == BEFORE and not state.exists(JOURNAL + ".tmp") and not state.exists(JOURNAL)
    final, _changed, _notes = run(state)
    assert final["outcome"] == ("unchanged" if cut == "swap" else "replaced"), final


def _function(script: str, name: str) -> str:
    text = (ROOT / "plugins" / "plugin_utils" / "powershell" / script).read_text(encoding="utf-8")
    return re.search(r"^function " + name + r" \{\n.*?^\}", text, re.MULTILINE | re.DOTALL).group(0)


def test_the_scripts_these_twins_mirror_look_for_the_tmp_journal_too():
    assert "$journal + '.tmp'" in _function("sms_probe.ps1", "Get-TransactionJournal")
    assert "($JournalPath + '.tmp')" in _function("sms_hotfix_transaction.ps1", "Find-Journal")
    assert "Find-Journal" in _function("sms_hotfix_transaction.ps1", "Read-Journal")
    assert "Find-Journal" in _function("sms_hotfix_transaction.ps1", "Invoke-Precheck")
    assert "($JournalPath + '.tmp')" in _function("sms_hotfix_transaction.ps1", "Remove-Journal")


# ---- the scenario schema knows the transaction's faults -------------------------------------------
def _one_site(faults: dict) -> dict:
    return {"seed": 1, "sites": [{"name": "sms610", "site_code": "610", "build": "sp1", "faults": faults}]}


def test_scenario_faults_of_the_transaction_reach_host_json(tmp_path):
    from smslab.scenario import build_state_dir
    faults = {"cut_after_step": "swap", "process_exit_seconds": {"SMS_EXECUTIVE": 5},
              "service_stop_seconds": {"SMS_EXECUTIVE": 30}, "service_start_seconds": {"SMS_EXECUTIVE": 10}}
    build_state_dir(_one_site(faults), tmp_path)
    written = json.loads((tmp_path / "hosts" / "sms610" / "host.json").read_text(encoding="utf-8"))["faults"]
    assert written == {"cut_after_step": "swap", "process_exit_seconds": {"SMS_EXECUTIVE": 5.0},
                       "service_stop_seconds": {"SMS_EXECUTIVE": 30.0}, "service_start_seconds": {"SMS_EXECUTIVE": 10.0}}


@pytest.mark.parametrize("faults, field", [
    ({"cut_after_step": ""}, "faults.cut_after_step"),
    ({"process_exit_seconds": 5}, "faults.process_exit_seconds"),
    ({"service_stop_seconds": {"SMS_FOO": 5}}, "faults.service_stop_seconds"),
    ({"service_start_seconds": {"SMS_EXECUTIVE": -1}}, "faults.service_start_seconds.SMS_EXECUTIVE"),
])
def test_bad_transaction_faults_are_rejected(tmp_path, faults, field):
    from smslab.scenario import build_state_dir
    with pytest.raises(ValueError) as info:
        build_state_dir(_one_site(faults), tmp_path)
    assert f"'{field}'" in str(info.value), str(info.value)


# ---- issue 18, defect 4: every backup stays unless KeepBackups says otherwise -----------------------
@pytest.mark.parametrize("keep, left", [(0, 3), (2, 2)])
def test_success_keeps_this_runs_backup_and_keep_backups_prunes_the_oldest(tmp_path, keep, left):
    import os

    state = make_host(tmp_path)
    for suffix, mtime in (("", 1000), (".older", 2000)):
        state.write_bytes(BACKUP + suffix, dll_bytes("2.00.1239.0000") + suffix.encode())
        os.utime(state.local_path(BACKUP + suffix), (mtime, mtime))
    result, _changed, _notes = run(state, KeepBackups=keep)
    assert result["outcome"] == "replaced"
    assert result["backup"] == f"{BACKUP}.{result['transaction_id']}" and state.read_bytes(result["backup"]) == OLD_DLL
    kept = [name for name in state.listdir("C:\\SMS\\bin\\i386") if ".pre-Q244405" in name]
    assert len(kept) == left, kept
    if keep:
        assert "Distmgr.dll.pre-Q244405.older" in kept and step(result, "prune_backups")["ok"]
