"""The msrpc hotfix transaction (Mode Apply / Recover) on an in-memory host: every step's failure rolls back,
a run cut after any step is completed or rolled back by the next one, check mode changes nothing."""

from __future__ import annotations

import hashlib

import pytest

from ansible_collections.sms.remediation.plugins.module_utils import hotfix_journal
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.hotfix import hotfix_transaction
from fake_host import FakeHost
from smslab.pe import pe_image

INSTALL = "C:\\SMS"
TARGET = "C:\\SMS\\bin\\i386\\Distmgr.dll"
STAGED = "C:\\SMS\\hotfix\\Q244405\\i386\\Distmgr.dll"
JOURNAL = "C:\\SMS\\Logs\\Q244405.journal.json"
ORDER = ["SMS_SITE_COMPONENT_MANAGER", "SMS_EXECUTIVE", "SMS_SITE_BACKUP"]
OLD = pe_image("2.00.1380.1000", size=8192)
NEW = pe_image("2.00.1380.1083", size=8192)
NEW_SHA = hashlib.sha256(NEW).hexdigest()
FORWARD = ["stop:SMS_SITE_COMPONENT_MANAGER", "stop:SMS_EXECUTIVE", "backup", "swap", "verify",
           "start:SMS_EXECUTIVE", "start:SMS_SITE_COMPONENT_MANAGER", "verify_running", "log"]


class Cut(BaseException):
    """The controller lost the host right after a step: the rollback it then tries cannot reach it."""


def cut_after(step_name, host):
    """An ``interrupt`` hook that cuts the run right after ``step_name``: the host is gone for this run."""
    def interrupt(step):
        if step == step_name:
            host.drop(reachable=False)
            raise Cut(step)
    return interrupt


def revive(host) -> None:
    """The next run reaches the host again."""
    host.reachable = True
    host.reconnect()


def site() -> FakeHost:
    host = FakeHost({"SMS_SITE_COMPONENT_MANAGER": "running", "SMS_EXECUTIVE": "running", "SMS_SITE_BACKUP": "stopped"})
    host.files.add_file(TARGET, OLD)
    host.files.add_file(STAGED, NEW)
    host.files.add_dir("C:\\SMS\\Logs")
    return host


def apply(host, check_mode=False, interrupt=None, **extra):
    parameters = {"InstallDir": INSTALL, "Platform": "i386", "StagedPath": STAGED, "ExpectedSha256": NEW_SHA,
                  "StopOrder": ORDER, "WaitSeconds": 5, **extra}
    return hotfix_transaction(host, parameters, check_mode, interrupt=interrupt, sleep=lambda s: None)


def recover(host, check_mode=False):
    """What the controller does with a journal the probe found: decide, then Mode Recover."""
    journal = hotfix_journal.parse(host.files.data(JOURNAL).decode(), JOURNAL)
    data = host.files.data(TARGET)
    observed = {"dll_path": TARGET, "services": dict(host.services.states),
                "dll_sha256": hashlib.sha256(data).hexdigest() if data else None,
                "dll_version": "2.00.1380.1083" if data == NEW else "2.00.1380.1000" if data == OLD else None}
    decision = hotfix_journal.decide(journal, observed)
    return decision, hotfix_transaction(host, {"InstallDir": INSTALL, "Platform": "i386", "Mode": "Recover",
                                               "Recovery": decision.action, "TransactionId": journal.transaction_id,
                                               "StopOrder": ORDER, "WaitSeconds": 5}, check_mode, sleep=lambda s: None)


def assert_back_as_before(host):
    assert host.files.data(TARGET) == OLD
    assert host.services.states == {"SMS_SITE_COMPONENT_MANAGER": "running", "SMS_EXECUTIVE": "running",
                                    "SMS_SITE_BACKUP": "stopped"}
    assert host.files.data(JOURNAL) is None
    assert host.files.data(TARGET + ".q244405-new") is None


def test_apply_replaces_logs_and_leaves_no_journal_then_changes_nothing():
    host = site()
    result = apply(host)
    assert result["outcome"] == "replaced" and result["changed"] and result["dll_state"] == "new"
    assert [s["step"] for s in result["steps"]] == ["precheck", "journal"] + FORWARD
    assert host.files.data(TARGET) == NEW and host.files.data(TARGET + ".pre-Q244405") == OLD
    assert result["backup"] == TARGET + ".pre-Q244405"
    assert b"replaced: 2.00.1380.1000 -> 2.00.1380.1083" in host.files.data("C:\\SMS\\Logs\\Q244405.log")
    assert result["journal"] == {"path": JOURNAL, "kept": False} and host.files.data(JOURNAL) is None
    assert host.services.states["SMS_EXECUTIVE"] == "running" and host.services.states["SMS_SITE_BACKUP"] == "stopped"
    again = apply(host)
    assert again["outcome"] == "unchanged" and not again["changed"]
    assert ("stop", "SMS_EXECUTIVE") not in host.services.calls[len(FORWARD):]


def test_check_mode_changes_nothing():
    host = site()
    before = host.files.snapshot()
    result = apply(host, check_mode=True)
    assert result["outcome"] == "would_replace" and result["changed"]
    assert host.files.snapshot() == before and host.services.calls == []


def test_a_journal_on_the_host_refuses_apply():
    host = site()
    host.files.add_file(JOURNAL, b"{}")
    result = apply(host)
    assert result["failed_step"] == "precheck" and "unfinished transaction" in result["error"]
    assert not result["changed"] and host.services.calls == []


@pytest.mark.parametrize("step", FORWARD)
def test_a_failure_at_any_step_rolls_back(step):
    host = site()
    if step.startswith("stop:"):
        host.services.wont_stop.add(step[5:])
    elif step == "backup":
        host.files.fail[("write", (TARGET + ".pre-Q244405").lower())] = "STATUS_DISK_FULL"
    elif step == "swap":
        host.files.fail[("rename", (TARGET + ".q244405-new").lower())] = "STATUS_ACCESS_DENIED"
    elif step == "verify":
        host.files.on_rename = lambda source, target: target.lower() == TARGET.lower() and host.files.add_file(
            TARGET, NEW[:-1] + b"X")                                         # the copy arrived damaged
    elif step.startswith("start:"):
        name = step[6:]
        original = host.services.start

        def start_fails_once(svc, seconds, operation, original=original):
            if svc == name and not any(c == ("start", name) for c in host.services.calls):
                host.services.calls.append(("start", svc))
                raise _timeout(svc)
            return original(svc, seconds, operation)
        host.services.start = start_fails_once
    elif step == "verify_running":
        host.services.dies_after_start.add("SMS_EXECUTIVE")
    elif step == "log":
        host.files.fail[("write", "c:\\sms\\logs\\q244405.log")] = "STATUS_DISK_FULL"
    result = apply(host)
    assert result["outcome"] == "failed" and result["failed_step"] == step, result["steps"]
    assert result["changed"]
    assert host.files.data(TARGET) == OLD, "the original Distmgr.dll is back"
    if step == "verify_running":
        host.services.dies_after_start.clear()
        assert result["journal"]["kept"], "a service that will not run keeps the journal for the next run"
        return
    assert_back_as_before(host)
    assert result["journal"] == {"path": JOURNAL, "kept": False}
    assert result["restored"] == (FORWARD.index(step) >= FORWARD.index("swap"))


def _timeout(name):
    from ansible_collections.sms.remediation.plugins.plugin_utils._transport.base import TransportError
    return TransportError("fakehost", "hotfix_transaction", f"service {name} did not start within 5 seconds")


def test_a_held_distmgr_dll_is_retried_with_backoff():
    host = site()
    tries = []
    original = host.files.rename

    def held_twice(source, target, operation):
        if source.lower() == TARGET.lower() and len(tries) < 2:
            tries.append(source)
            from ansible_collections.sms.remediation.plugins.plugin_utils._transport.base import TransportError
            raise TransportError("fakehost", operation, "STATUS_SHARING_VIOLATION (0xc0000043)")
        return original(source, target, operation)
    host.files.rename = held_twice
    result = apply(host)
    assert result["outcome"] == "replaced" and "attempt 3 of 6" in result["steps"][5]["detail"]


@pytest.mark.parametrize("last_step", ["journal"] + FORWARD[:-1])
def test_a_run_cut_after_any_step_is_finished_by_the_next(last_step):
    host = site()
    with pytest.raises(Cut):
        apply(host, interrupt=cut_after(last_step, host))
    revive(host)
    assert host.files.data(JOURNAL) is not None, "the journal is on the host when the run is cut"
    blocked = apply(host)
    assert blocked["failed_step"] == "precheck" and not blocked["changed"]
    decision, result = recover(host)
    assert result["outcome"] == ("completed" if decision.action == "complete" else "rolled_back"), result["steps"]
    # The file decides (hotfix_journal.decide): once swapped, Distmgr.dll is the verified new file.
    swapped = last_step != "journal" and FORWARD.index(last_step) >= FORWARD.index("swap")
    assert decision.action == ("complete" if swapped else "rollback")
    assert host.files.data(JOURNAL) is None
    assert host.services.states["SMS_EXECUTIVE"] == "running"
    assert host.services.states["SMS_SITE_COMPONENT_MANAGER"] == "running"
    final = apply(host)
    assert final["outcome"] in ("replaced", "unchanged") and host.files.data(TARGET) == NEW
    log = host.files.data("C:\\SMS\\Logs\\Q244405.log")
    assert log.count(b"replaced:") == 1, "the hotfix log has one line for the one replacement"


def test_recover_in_check_mode_and_without_a_journal():
    host = site()
    with pytest.raises(Cut):
        apply(host, interrupt=cut_after("swap", host))
    revive(host)
    before = host.files.snapshot()
    states = dict(host.services.states)
    decision, result = recover(host, check_mode=True)
    assert result["outcome"] == f"would_{decision.action}" and host.files.snapshot() == before
    assert host.services.states == states
    recover(host)
    none = hotfix_transaction(host, {"InstallDir": INSTALL, "Platform": "i386", "Mode": "Recover"}, False)
    assert none["outcome"] == "no_journal" and not none["changed"]


def test_recover_refuses_another_transaction_and_a_backup_that_is_not_the_original():
    host = site()
    with pytest.raises(Cut):
        apply(host, interrupt=cut_after("swap", host))
    revive(host)
    wrong = hotfix_transaction(host, {"InstallDir": INSTALL, "Platform": "i386", "Mode": "Recover",
                                      "Recovery": "rollback", "TransactionId": "another"}, False)
    assert wrong["failed_step"] == "recover:check" and host.files.data(JOURNAL) is not None
    host.files.add_file(TARGET, b"MZ damaged")
    host.files.add_file(TARGET + ".pre-Q244405", b"MZ not the original either")
    decision, result = recover(host)
    assert decision.action == "rollback" and result["failed_step"] == "recover:restore"
    assert host.files.data(TARGET) == b"MZ damaged", "nothing is written from a backup that is not the original"
    assert host.services.states["SMS_EXECUTIVE"] == "stopped", "no service loads a DLL that is neither file"
    assert host.files.data(JOURNAL) is not None


def test_an_older_backup_is_kept_and_this_runs_original_goes_beside_it():
    host = site()
    host.files.add_file(TARGET + ".pre-Q244405", b"MZ an older build")
    result = apply(host)
    assert result["outcome"] == "replaced"
    assert host.files.data(TARGET + ".pre-Q244405") == b"MZ an older build"
    backup = f"{TARGET}.pre-Q244405.{result['transaction_id']}"
    assert host.files.data(backup) == OLD, "this run's backup is kept after success: the only way back to its DLL"
    assert result["backup"] == backup


def test_a_staged_file_of_another_build_is_refused_unless_allowed():
    host = site()
    other = pe_image("2.00.1493.2000", size=8192)
    host.files.add_file(STAGED, other)
    result = apply(host, ExpectedSha256=hashlib.sha256(other).hexdigest())
    assert result["failed_step"] == "precheck" and "belongs to build 1493" in result["error"]
    assert apply(host, ExpectedSha256=hashlib.sha256(other).hexdigest(), AllowCrossBuild=True)["outcome"] == "replaced"


@pytest.mark.parametrize("keep, left", [(0, 4), (1, 1), (2, 2)])
def test_keep_backups_prunes_all_but_the_newest_after_success(keep, left):
    host = site()
    older = [(f"{TARGET}.pre-Q244405", 1000.0), (f"{TARGET}.pre-Q244405.aaaa", 3000.0), (f"{TARGET}.pre-Q244405.bbbb", 2000.0)]
    for path, mtime in older:
        host.files.add_file(path, b"MZ an older build " + path.encode(), mtime=mtime)
    host.files.add_file(f"{TARGET}.other", b"not a backup")
    result = apply(host, KeepBackups=keep)
    assert result["outcome"] == "replaced"
    mine = result["backup"]
    assert host.files.data(mine) == OLD, "this run's backup is always kept"
    kept = sorted(entry.name for entry in host.files.list_dir("C:\\SMS\\bin\\i386", "test") if ".pre-Q244405" in entry.name)
    assert len(kept) == left, kept
    if keep == 2:
        assert "Distmgr.dll.pre-Q244405.aaaa" in kept             # the newest of the older ones
    assert host.files.data(f"{TARGET}.other") == b"not a backup"
    assert any(s["step"] == "prune_backups" for s in result["steps"]) == (keep > 0)
