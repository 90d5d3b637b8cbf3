# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Step ``recover_hotfix`` (private to this collection): finish the hotfix transaction a cut connection
left on the host, from its journal (docs/internals.md section 5). The plan decided ``rollback`` or
``complete`` with ``hotfix_journal.decide``; the transport runs it (``-Mode Recover`` on ``winrm``) and
re-checks the host at every step. It runs before any other step of the host."""

from __future__ import annotations

from ansible_collections.sms.remediation.plugins.plugin_utils._steps.errors import StepError

# What Distmgr.dll is after a failed recovery, as the transaction measured it (dll_state).
_DLL_STATE_TEXT = {
    "original": "Distmgr.dll is the original",
    "new": "Distmgr.dll is the verified new file",
    "unknown": "Distmgr.dll is neither the original nor the new file; the services that need it were left stopped",
}


def recover_hotfix(transport, args: dict, measure) -> dict:  # pylint: disable=unused-argument
    """Run the recovery the plan decided (``action``, ``transaction_id``, ``reasons``, ``parameters``)."""
    action, transaction = args["action"], args["transaction_id"]
    record = {"outcome": None, "transaction_id": transaction, "action": action, "reasons": list(args["reasons"]),
              "journal": args["journal_path"]}
    if transport.check_mode:
        return dict(record, changed=True, outcome=f"would_{action}",
                    msg=f"would {action} the hotfix transaction {transaction} left by a cut run: "
                        f"{'; '.join(args['reasons'])}")
    parameters = dict(args["parameters"], Mode="Recover", Recovery=action, TransactionId=transaction)
    result = transport.hotfix_transaction(parameters) or {}
    record.update(outcome=result.get("outcome"), dll_state=result.get("dll_state"), steps=result.get("steps", []),
                  services={"before": result.get("services_before"), "after": result.get("services_after")})
    if result.get("outcome") in ("completed", "rolled_back"):
        done = "completed" if action == "complete" else "rolled back"
        return dict(record, changed=True,
                    msg=f"hotfix transaction {transaction} left by a cut run {done}: {'; '.join(args['reasons'])}")
    if result.get("outcome") == "no_journal":       # someone finished it since the probe
        return dict(record, changed=False, msg=f"the journal of transaction {transaction} is gone; nothing to recover")
    state = _DLL_STATE_TEXT.get(result.get("dll_state"), f"Distmgr.dll state {result.get('dll_state')!r}")
    raise StepError(
        f"{transport.host}: recovering the hotfix transaction {transaction} ({action}) failed at step "
        f"{result.get('failed_step')}: {result.get('error')}; {state}; services now {result.get('services_after')}; "
        f"the journal {args['journal_path']} is kept for the next run", result=record, changed=True)
