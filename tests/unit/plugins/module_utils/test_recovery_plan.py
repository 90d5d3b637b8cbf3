"""decision.plan() with a journal on the host (issue 11 defect 6): recover_hotfix first, decided from
the journal and the probe's Distmgr.dll; an unusable journal fails the host; policy report only notes."""
from __future__ import annotations

import pytest

from ansible_collections.sms.remediation.plugins.module_utils import hotfix_journal as hj
from ansible_collections.sms.remediation.plugins.module_utils import sms20
from ansible_collections.sms.remediation.plugins.module_utils.decision import plan
from ansible_collections.sms.remediation.plugins.module_utils.facts import SiteFacts
from ansible_collections.sms.remediation.plugins.module_utils.probe_result import parse_probe

from probe_builders import platforms, probe, request, services

TABLE = sms20.merge_overrides(None)
PATH = "C:\\SMS\\Logs\\Q244405.journal.json"
ORDER = ["SMS_SITE_COMPONENT_MANAGER", "SMS_EXECUTIVE", "SMS_SITE_BACKUP"]


def journal_text(original_sha="ab" * 32, new_sha="cd" * 32, steps=("stop:SMS_SITE_COMPONENT_MANAGER",)) -> str:
    """The probe builders give every Distmgr.dll the sha256 "abab...": the original here by default."""
    data = hj.new_journal(
        transaction_id="tx-7", transport="winrm", started_utc="2026-12-01T06:00:00Z", platform="i386",
        install_dir="C:\\SMS", service_order=ORDER,
        services_before={"SMS_SITE_COMPONENT_MANAGER": "running", "SMS_EXECUTIVE": "running", "SMS_SITE_BACKUP": "stopped"},
        paths={"original": "C:\\SMS\\bin\\i386\\Distmgr.dll", "backup": "C:\\SMS\\bin\\i386\\Distmgr.dll.pre-Q244405",
               "staged": "C:\\SMS\\hotfix\\Q244405\\i386\\Distmgr.dll"},
        original={"sha256": original_sha, "version": "2.00.1380.1000"}, new={"sha256": new_sha, "version": "2.00.1380.1083"})
    for step in steps:
        data = hj.with_step(data, step, "2026-12-01T06:00:01Z")
    return hj.dumps(data)


def site(journal, dll="2.00.1380.1000", **states):
    answer = probe(platforms=platforms(i386=dll), services=services(SMS_SITE_COMPONENT_MANAGER="stopped", **states),
                   transaction_journal=journal)
    return parse_probe("sms01", answer, TABLE)


def test_no_journal_no_recovery():
    assert plan(site(None), [], request(), TABLE).step("recover_hotfix") is None


def test_the_recovery_runs_first_and_the_hotfix_after_a_rollback():
    facts = site({"path": PATH, "text": journal_text(), "error": None})
    result = plan(facts, [], request(method="manual"), TABLE)
    assert [step.kind for step in result.steps][0] == "recover_hotfix"
    recovery = result.steps[0].args
    assert recovery["action"] == "rollback" and recovery["transaction_id"] == "tx-7"
    assert recovery["parameters"]["JournalName"] == TABLE["hotfix_journal_name"]
    assert recovery["parameters"]["StopOrder"] == ORDER and recovery["journal_path"] == PATH
    assert result.step("hotfix_transaction") is not None      # the original is back, so the hotfix follows


def test_a_verified_new_dll_is_completed_and_needs_no_hotfix():
    text = journal_text(original_sha="ef" * 32, new_sha="ab" * 32, steps=("backup", "swap", "verify"))
    result = plan(site({"path": PATH, "text": text, "error": None}, dll="2.00.1380.1083"), [], request(), TABLE)
    assert result.steps[0].kind == "recover_hotfix" and result.steps[0].args["action"] == "complete"
    assert result.step("hotfix_transaction") is None


@pytest.mark.parametrize("reported, words", [
    ({"path": PATH, "text": "{broken", "error": None}, "is not JSON"),
    ({"path": PATH, "text": None, "error": "Access is denied"}, "could not read it: Access is denied"),
])
def test_an_unusable_journal_fails_the_host_first(reported, words):
    result = plan(site(reported), [], request(), TABLE)
    first = result.steps[0]
    assert first.kind == "refuse" and first.args["step"] == "recovery"
    assert PATH in first.args["reason"] and words in first.args["reason"] and "by hand" in first.args["reason"]


def test_policy_report_only_notes_the_journal():
    result = plan(site({"path": PATH, "text": journal_text(), "error": None}), [], request(policy="report"), TABLE)
    assert result.steps == [] and any("not recovered" in note for note in result.notes)


def test_the_journal_survives_the_site_fact_round_trip():
    facts = site({"path": PATH, "text": journal_text(), "error": None})
    again = SiteFacts.from_facts(facts.to_facts())
    assert again.transaction_journal == facts.transaction_journal
    assert plan(again, [], request(), TABLE).steps[0].kind == "recover_hotfix"


def test_the_report_says_the_cut_transaction_was_recovered():
    from ansible_collections.sms.remediation.plugins.module_utils.host_result import host_result
    from ansible_collections.sms.remediation.plugins.module_utils.report import build_report
    facts = site({"path": PATH, "text": journal_text(), "error": None}).to_facts()
    outcome = {"site_before": facts, "plan": {"hotfix": False, "hotfix_reason": "policy"},
               "recovery": {"changed": True, "action": "rollback", "outcome": "rolled_back", "transaction_id": "tx-7",
                            "dll_state": "original", "msg": "rolled back"}}
    record = host_result("sms01", outcome, facts, check_mode=False)
    assert record["actions"]["recovery"]["outcome"] == "rolled_back"
    entry = build_report({"sms01": record}, {"mode": "run"})["hosts"][0]
    assert "hotfix transaction tx-7 cut by a lost connection: rolled back" in entry["summary"]
