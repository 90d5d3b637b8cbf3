"""Step recover_hotfix: what it sends through the transport and what it reports (a fake transport)."""

from __future__ import annotations

import pytest

from ansible_collections.sms.remediation.plugins.plugin_utils._steps.errors import StepError
from ansible_collections.sms.remediation.plugins.plugin_utils._steps.recover import recover_hotfix

ARGS = {"action": "rollback", "transaction_id": "tx-1", "reasons": ["transaction tx-1 was cut after step backup"],
        "journal_path": "C:\\SMS\\Logs\\Q244405.journal.json",
        "parameters": {"InstallDir": "C:\\SMS", "Platform": "i386", "JournalName": "Q244405.journal.json"}}


class FakeTransport:
    name = "fake"
    host = "sms01"

    def __init__(self, answer: dict, check_mode: bool = False):
        self.answer = answer
        self.check_mode = check_mode
        self.sent = []

    def hotfix_transaction(self, parameters: dict) -> dict:
        self.sent.append(parameters)
        return self.answer


def test_sends_recover_with_the_plans_decision():
    transport = FakeTransport({"outcome": "rolled_back", "dll_state": "original", "steps": []})
    record = recover_hotfix(transport, ARGS, measure=None)
    assert transport.sent == [dict(ARGS["parameters"], Mode="Recover", Recovery="rollback", TransactionId="tx-1")]
    assert record["changed"] and record["outcome"] == "rolled_back" and "rolled back" in record["msg"]


def test_check_mode_sends_nothing_and_predicts():
    transport = FakeTransport({}, check_mode=True)
    record = recover_hotfix(transport, ARGS, measure=None)
    assert transport.sent == [] and record["outcome"] == "would_rollback" and record["changed"]


@pytest.mark.parametrize("dll_state, words", [
    ("unknown", "neither the original nor the new file"), ("original", "Distmgr.dll is the original")])
def test_a_failed_recovery_says_what_distmgr_is_and_keeps_the_journal(dll_state, words):
    transport = FakeTransport({"outcome": "failed", "failed_step": "recover:restore", "error": "backup is not the original",
                               "dll_state": dll_state, "services_after": {"SMS_EXECUTIVE": "stopped"}, "steps": []})
    with pytest.raises(StepError) as error:
        recover_hotfix(transport, ARGS, measure=None)
    message = str(error.value)
    assert message.startswith("sms01: recovering the hotfix transaction tx-1 (rollback) failed at step recover:restore")
    assert words in message and "is kept for the next run" in message and error.value.changed


def test_a_journal_gone_since_the_probe_is_no_change():
    record = recover_hotfix(FakeTransport({"outcome": "no_journal"}), ARGS, measure=None)
    assert record["changed"] is False
