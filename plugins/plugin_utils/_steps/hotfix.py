# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Steps ``hotfix_installer`` and ``hotfix_transaction`` (private to this collection): KB Q244405
method 1 (Q244405.exe /s) and method 2 (stage the new Distmgr.dll, then one transaction on the host:
stop -> backup -> swap -> verify -> start, rolled back on failure). Both end with a new probe: the fix
counts only when the host then reads as fixed."""

from __future__ import annotations

from ansible_collections.sms.remediation.plugins.module_utils.facts import PROBE_FACT, SITE_FACT
from ansible_collections.sms.remediation.plugins.plugin_utils._steps.errors import StepError
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.base import TransportError


def hotfix_installer(transport, args: dict, measure) -> dict:
    """Run the installer already on the host (``path``, ``arguments``), then verify with ``measure``."""
    command = f"{args['path']} {args['arguments']}"
    if transport.check_mode:
        return would("would_install", args, f"would run {command}")
    try:
        reply = transport.run_installer(args["path"], args["arguments"], args["timeout"])
    except TransportError as exc:
        raise StepError(str(exc), changed=True) from exc
    if reply.get("rc") != 0:
        detail = (reply.get("stderr") or reply.get("stdout") or reply.get("msg") or "").strip()
        raise StepError(f"{transport.host}: {command} failed (rc={reply.get('rc')}): {detail}", changed=True)
    return verified("installed", args, {}, measure)


def hotfix_transaction(transport, args: dict, measure) -> dict:
    """Stage ``local_path`` in ``staging_dir``, run the transaction with ``parameters``, then verify."""
    parameters = args["parameters"]
    if transport.check_mode:
        return would("would_replace", args,
                     f"would replace Distmgr.dll with {args['src']} (sha256 {parameters['ExpectedSha256']})")
    try:
        transport.stage_file(args["local_path"], args["staging_dir"])
    except TransportError as exc:
        raise StepError(f"{transport.host}: staging the new Distmgr.dll in {args['staging_dir']} failed, "
                        f"services untouched: {exc.message}", changed=True) from exc
    outcome = transport.hotfix_transaction(parameters) or {}
    details = {"services": {"before": outcome.get("services_before"), "after": outcome.get("services_after")},
               "steps": outcome.get("steps", []), "backup": outcome.get("backup")}
    # "unchanged": the staged DLL was already in place (an earlier run swapped it); verify below.
    if outcome.get("outcome") not in ("replaced", "unchanged"):
        raise StepError(
            f"{transport.host}: hotfix failed at step {outcome.get('failed_step')}: {outcome.get('error')}; "
            f"{what_happened_to_distmgr(outcome, args['backup_suffix'])}; services now {outcome.get('services_after')}",
            result=details, changed=True)
    return verified("replaced", args, details, measure)


def what_happened_to_distmgr(outcome: dict, backup_suffix: str) -> str:
    """What a failed transaction did to Distmgr.dll, from the steps it reports having taken (issue 11
    defect 5): never "not changed" after a swap that was not undone."""
    steps = [step for step in outcome.get("steps") or [] if isinstance(step, dict)]
    taken = {step.get("step") for step in steps}
    failed_restores = [str(step.get("detail") or "no detail") for step in steps
                       if step.get("step") == "rollback:restore" and not step.get("ok")]
    backup = outcome.get("backup") or f"Distmgr.dll{backup_suffix}"
    if outcome.get("restored"):
        return "the original Distmgr.dll was restored"
    if failed_restores:
        return (f"putting the original Distmgr.dll back FAILED ({'; '.join(failed_restores)}): Distmgr.dll may be "
                f"the new or a partly written file; the original is kept as {backup}")
    if "swap" not in taken:
        return "Distmgr.dll was not changed"
    if not any(step.get("ok") for step in steps if step.get("step") == "swap"):
        return (f"the swap failed and the transaction reports no restore: Distmgr.dll may be partly written; "
                f"the original is kept as {backup}")
    return (f"Distmgr.dll was swapped and the transaction reports no restore: it may be the new file; "
            f"the original is kept as {backup}")


def would(outcome: str, args: dict, message: str) -> dict:
    """The check-mode result, predicted from the facts (no round trip)."""
    before = args["before"]
    return {"changed": True, "outcome": outcome, "fixed_by": None, "msg": message,
            "distmgr_version": {"before": before, "after": None},
            "diff": {"before": f"Distmgr.dll {before}\n", "after": f"Distmgr.dll fixed (>= {args['fixed_version']})\n"}}


def verified(outcome: str, args: dict, details: dict, measure) -> dict:
    """Measure the host again: the fix counts only when the new probe says so, with the services that
    were running running again."""
    answer, site = measure()
    before, after = args["before"], site.distmgr_version
    if site.q244405.fixed_by != "hotfix":
        raise StepError(f"{site.host}: after the hotfix the host still reads as not fixed: {site.q244405.reason}",
                        result=details, changed=True)
    stopped = [name for name, state in (details.get("services", {}).get("before") or {}).items()
               if state == "running" and site.services.get(name) != "running"]
    if stopped:
        raise StepError(f"{site.host}: services not running after the hotfix: {', '.join(stopped)}",
                        result=details, changed=True)
    return dict(details, changed=True, outcome=outcome, fixed_by="hotfix", msg=site.q244405.reason,
                distmgr_version={"before": before, "after": after},
                diff={"before": f"Distmgr.dll {before}\n", "after": f"Distmgr.dll {after}\n"},
                ansible_facts={PROBE_FACT: answer, SITE_FACT: site.to_facts()})
