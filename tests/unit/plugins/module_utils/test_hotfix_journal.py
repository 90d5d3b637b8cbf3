"""hotfix_journal: validation of the transaction journal and the rollback/complete decision."""

from __future__ import annotations

import json

import pytest

from ansible_collections.sms.remediation.plugins.module_utils import hotfix_journal as hj

ORDER = ["SMS_SITE_COMPONENT_MANAGER", "SMS_EXECUTIVE", "SMS_SITE_BACKUP"]
OLD, NEW = "a" * 64, "b" * 64
TARGET = "C:\\SMS\\bin\\i386\\Distmgr.dll"


def journal(steps=(), before=None) -> dict:
    data = hj.new_journal(
        transaction_id="0f8fad5b-d9cb-469f-a165-70867728950e", transport="winrm", started_utc="2026-12-01T06:00:00Z",
        platform="i386", install_dir="C:\\SMS", service_order=ORDER,
        services_before=before or {"SMS_SITE_COMPONENT_MANAGER": "running", "SMS_EXECUTIVE": "running",
                                   "SMS_SITE_BACKUP": "stopped"},
        paths={"original": TARGET, "backup": TARGET + ".pre-Q244405",
               "staged": "C:\\SMS\\hotfix\\Q244405\\i386\\Distmgr.dll"},
        original={"sha256": OLD.upper(), "version": "2.00.1380.1000"},
        new={"sha256": NEW, "version": "2.00.1380.1083"})
    for step in steps:
        data = hj.with_step(data, step, "2026-12-01T06:00:01Z")
    return data


def observed(sha, version="2.00.1380.1083", services=None):
    return {"dll_path": TARGET.lower(), "dll_sha256": sha, "dll_version": version,
            "services": services or {"SMS_SITE_COMPONENT_MANAGER": "stopped", "SMS_EXECUTIVE": "stopped",
                                     "SMS_SITE_BACKUP": "stopped"}}


def test_round_trip_through_text():
    data = journal(["stop:SMS_SITE_COMPONENT_MANAGER"])
    parsed = hj.parse(hj.dumps(data), "C:\\SMS\\Logs\\Q244405.journal.json")
    assert parsed.original["sha256"] == OLD               # stored lower-case
    assert parsed.steps == ["stop:SMS_SITE_COMPONENT_MANAGER"]
    assert parsed.was_running() == ["SMS_SITE_COMPONENT_MANAGER", "SMS_EXECUTIVE"]


def test_a_byte_order_mark_is_accepted():
    assert hj.parse("\ufeff" + hj.dumps(journal())).transaction_id


@pytest.mark.parametrize("mutate, field", [
    (lambda d: d.update(format="other"), "format"),
    (lambda d: d.update(format_version=2), "format_version"),
    (lambda d: d.pop("transaction_id"), "transaction_id"),
    (lambda d: d["services"].update(order=[]), "services.order"),
    (lambda d: d["services"]["before"].pop("SMS_EXECUTIVE"), "services.before"),
    (lambda d: d["paths"].update(backup=""), "paths.backup"),
    (lambda d: d["original"].update(sha256="xyz"), "original.sha256"),
    (lambda d: d["new"].update(version=None), "new.version"),
    (lambda d: d["new"].update(sha256=OLD), "new.sha256"),
    (lambda d: d["steps"].append({"step": "reboot"}), "steps[0]"),
])
def test_invalid_journals_name_the_field(mutate, field):
    data = journal()
    mutate(data)
    with pytest.raises(hj.JournalError) as error:
        hj.parse(json.dumps(data), "C:\\SMS\\Logs\\Q244405.journal.json")
    assert str(error.value).startswith(f"C:\\SMS\\Logs\\Q244405.journal.json: {field}:"), str(error.value)


@pytest.mark.parametrize("text", ["", "   ", "{not json", "[]"])
def test_unreadable_text_is_an_error(text):
    with pytest.raises(hj.JournalError):
        hj.parse(text, "j")


def test_no_journal_decides_none():
    decision = hj.decide(None, observed(OLD))
    assert decision.action == "none" and decision.reasons


def test_original_dll_rolls_back_without_a_copy():
    decision = hj.decide(hj.validate(journal(["stop:SMS_SITE_COMPONENT_MANAGER", "stop:SMS_EXECUTIVE", "backup"])),
                         observed(OLD.upper(), "2.00.1380.1000"))
    assert decision.action == "rollback" and not decision.restore_dll
    assert decision.start_services == ("SMS_SITE_COMPONENT_MANAGER", "SMS_EXECUTIVE")   # not the stopped backup
    assert "cut after step backup" in decision.reasons[0]


def test_verified_new_dll_completes_and_writes_the_missing_log_line():
    steps = ["stop:SMS_SITE_COMPONENT_MANAGER", "stop:SMS_EXECUTIVE", "backup", "swap", "verify", "start:SMS_EXECUTIVE"]
    decision = hj.decide(hj.validate(journal(steps)), observed(
        NEW, "2.0.1380.1083", {"SMS_SITE_COMPONENT_MANAGER": "stopped", "SMS_EXECUTIVE": "running",
                               "SMS_SITE_BACKUP": "stopped"}))
    assert decision.action == "complete" and decision.write_log and not decision.restore_dll
    assert decision.start_services == ("SMS_SITE_COMPONENT_MANAGER",)


def test_new_dll_after_the_log_step_needs_no_second_log_line():
    steps = ["backup", "swap", "verify", "verify_running", "log"]
    running = {name: "running" for name in ORDER}
    decision = hj.decide(hj.validate(journal(steps)), observed(NEW, services=running))
    assert decision.action == "complete" and not decision.write_log and decision.start_services == ()


@pytest.mark.parametrize("sha, version", [("c" * 64, None), (None, None), (NEW, "2.00.1380.1000")])
def test_any_other_content_is_restored_from_the_backup(sha, version):
    decision = hj.decide(hj.validate(journal(["backup"])), observed(sha, version))
    assert decision.action == "rollback" and decision.restore_dll
    assert TARGET + ".pre-Q244405" in decision.reasons[1]


def test_a_journal_of_another_distmgr_is_refused():
    other = dict(observed(OLD), dll_path="C:\\SMS\\bin\\alpha\\Distmgr.dll")
    with pytest.raises(hj.JournalError, match="recover it by hand"):
        hj.decide(hj.validate(journal()), other)


def test_with_step_refuses_an_unknown_step_and_copies():
    data = journal()
    assert hj.with_step(data, "swap", "t")["steps"] and data["steps"] == []
    with pytest.raises(hj.JournalError):
        hj.with_step(data, "delete everything", "t")


def test_the_documented_example_is_a_valid_journal():
    """docs/internals.md section 5 shows the format both transports write: it must parse."""
    from pathlib import Path
    import re
    text = (Path(__file__).resolve().parents[4] / "docs" / "internals.md").read_text(encoding="utf-8")
    section = text[text.index("## 5. The transaction journal"):]
    example = re.search(r"```json\n(.*?)```", section, re.S).group(1)
    parsed = hj.parse(example, "docs/internals.md")
    assert parsed.steps == ["stop:SMS_SITE_COMPONENT_MANAGER", "stop:SMS_EXECUTIVE", "backup"]
    assert set(parsed.data) == set(journal())       # the same fields new_journal writes


def test_from_probe():
    assert hj.from_probe(None) is None
    text = hj.dumps(journal())
    assert hj.from_probe({"path": "C:\\SMS\\Logs\\Q244405.journal.json", "text": text, "error": None}).transaction_id
    with pytest.raises(hj.JournalError, match=r"^C:\\SMS\\Logs\\Q244405.journal.json: the host could not read it"):
        hj.from_probe({"path": "C:\\SMS\\Logs\\Q244405.journal.json", "text": None, "error": "access denied"})
    with pytest.raises(hj.JournalError, match="the journal is empty"):
        hj.from_probe({"path": "j", "text": "", "error": None})
