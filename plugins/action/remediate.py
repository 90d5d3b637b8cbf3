# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""remediate: one task per site server for the whole KB Q244405 remediation.

facts (cached probe, classification) -> plan (decision.plan) -> steps (_steps.run_plan through the
host transport) -> outcome (the record the fleet report reads, and the facts measured after a change).
One task instead of a dozen: with Ansible every task costs a fork and templating on each host, and that,
not WinRM, is what a fleet run spends its time on (benchmarks/RESULTS.md)."""

from __future__ import annotations

from ansible.errors import AnsibleActionFail, AnsibleError

from ansible_collections.sms.remediation.plugins.module_utils.decision import Request, plan
from ansible_collections.sms.remediation.plugins.module_utils.facts import (
    OUTCOME_FACT, PACKAGES_FACT, PLAN_FACT, PROBE_FACT, SITE_FACT)
from ansible_collections.sms.remediation.plugins.module_utils.leftovers import packages_fact
from ansible_collections.sms.remediation.plugins.plugin_utils._action import SmsActionBase
from ansible_collections.sms.remediation.plugins.plugin_utils._hostvars import failed_child_reason
from ansible_collections.sms.remediation.plugins.plugin_utils._steps import OUTCOME_KEYS, Progress, StepError, run_plan


class ActionModule(SmsActionBase):
    MODULE_NAME = "remediate"

    def act(self, args, task_vars):
        request = self.request(args, task_vars)
        # ---- facts -------------------------------------------------------------------------------
        cached = self.cached_probe(task_vars) is not None
        answer = self.probe(task_vars, package_folders=args["package_folders"])
        site = self.site(task_vars, answer)
        leftovers, packages = self.classified(site, args, task_vars)
        # Facts go back to the main process and are merged for every host: only what is new.
        facts = {PACKAGES_FACT: packages}
        if not cached:
            facts.update({PROBE_FACT: answer, SITE_FACT: site.to_facts()})
        outcome = {"error": None, "packages_before": packages}
        stop_reason = args["stop_reason"] or self.failed_child(site, args, task_vars)
        if stop_reason:
            outcome.update(skipped=stop_reason, plan={})
            facts[OUTCOME_FACT] = outcome
            return {"changed": False, "msg": f"{site.host}: not remediated: {stop_reason}", "ansible_facts": facts}
        # ---- plan --------------------------------------------------------------------------------
        decided = plan(site, leftovers, request, self.table)
        outcome["plan"] = facts[PLAN_FACT] = decided.to_dict()
        # ---- steps -------------------------------------------------------------------------------
        progress = Progress()
        try:
            run_plan(decided, self.transport(task_vars), self.measure(task_vars, args["package_folders"]), progress)
            outcome.update(progress.records)
            if progress.changed and not self._task.check_mode:
                # The facts before the change; without site_before the report takes sms_site as both.
                outcome["site_before"] = site.to_facts()
                progress.step = "verify"
                facts.update(self.measured_after(outcome, args, task_vars))
        # Any error, not only AnsibleError: a link dropped mid-step surfaces as the HTTP library's own exception.
        # Whatever it is, the record must say which step it broke (the report counts a failed hotfix).
        except Exception as exc:  # pylint: disable=broad-exception-caught
            outcome.update(progress.records)
            # A failed task keeps the earlier facts, so sms_site still is the state before; site_before only
            # when this task made the probe (the failure line Ansible prints stays short).
            if cached:
                outcome.pop("site_before", None)
            else:
                outcome["site_before"] = site.to_facts()
            return failed(site.host, progress.step, exc, outcome)
        # ---- outcome -----------------------------------------------------------------------------
        facts[OUTCOME_FACT] = outcome
        result = {"changed": progress.changed, "ansible_facts": facts}
        diff = combined_diff(outcome)
        if diff:
            result["diff"] = diff
        return result

    @staticmethod
    def failed_child(site, args, task_vars) -> str:
        """stop_at_failed_child: why this site waits for a child site that failed earlier in the play, or ''."""
        if not args["stop_at_failed_child"]:
            return ""
        return failed_child_reason(site.site_code, task_vars.get("hostvars") or {},
                                   task_vars.get("ansible_play_hosts_all") or [], task_vars.get("ansible_play_hosts"))

    def request(self, args, task_vars) -> Request:
        """The options as a decision.Request, with the controller's copies of the hotfix files."""
        request = Request(
            policy=args["policy"], hotfix_method=args["hotfix_method"], force_ids=tuple(args["force"]),
            workaround_state=args["workaround_state"], quarantine_dir=args["quarantine_dir"],
            enable_logging=args["enable_distmgr_logging"], restart_executive=args["restart_executive"],
            hotfix_files={platform: self.hotfix_file(src) for platform, src in args["hotfix_files"].items()},
            hotfix_sha256=dict(args["hotfix_sha256"]), installer_path=args["installer_path"],
            staging_dir=args["staging_dir"], allow_console_open=args["allow_console_open"],
            allow_cross_build=args["allow_cross_build"], wait_seconds=args["wait_seconds"],
            keep_backups=args["keep_backups"])
        try:
            request.check()
        except ValueError as exc:
            raise AnsibleActionFail(f"{self.host_name(task_vars)}: {exc}") from None
        return request

    def classified(self, site, args, task_vars):
        """The site's leftovers against this run's origin sites, and the sms_packages fact made of them."""
        leftovers = self.leftovers(site, task_vars, args["min_evidence"], origin_facts=args["origin_sites"] or None)
        return leftovers, packages_fact(site, leftovers, args["min_evidence"])

    def measured_after(self, outcome, args, task_vars) -> dict:
        """Facts after the changes: the hotfix's own verification probe (the hotfix runs last), else a
        new probe; with verify=false and no such probe, the cached probe is dropped as out of date."""
        step_facts = [(outcome.get(name) or {}).pop("ansible_facts", None) or {} for name in ("workaround", "hotfix")]
        answer = step_facts[-1].get(PROBE_FACT)
        if not answer and not args["verify"]:
            return {PROBE_FACT: {}}
        answer = answer or self.probe(task_vars, package_folders=args["package_folders"], refresh=True)
        site = self.site(task_vars, answer)
        return {PROBE_FACT: answer, SITE_FACT: site.to_facts(), PACKAGES_FACT: self.classified(site, args, task_vars)[1]}


def failed(host, step, exc, outcome) -> dict:
    """A failed task that still carries the outcome record (facts of a failed task are not kept)."""
    message = str(exc.message) if isinstance(exc, AnsibleError) else f"{type(exc).__name__}: {exc}"
    if str(exc).startswith(f"{host}:"):
        message = str(exc)
    elif not message.startswith(f"{host}:"):
        message = f"{host}: {step}: {message}"
    outcome.update(error=message, failed_step=step)
    if step in ("hotfix", "recovery"):      # recovery: finishing a cut transaction's journal
        details = {key: value for key, value in (getattr(exc, "result", None) or {}).items()
                   if key in ("services", "steps", "dll_state", "transaction_id")}
        # A refused hotfix changed nothing; any other failure may have (a link cut mid-transaction).
        changed = exc.changed if isinstance(exc, StepError) else True
        outcome[step] = dict(details, failed=True, changed=changed, outcome="failed", msg=message)
    return {"failed": True, "changed": any_change(outcome), "msg": message, OUTCOME_FACT: outcome}


def any_change(outcome: dict) -> bool:
    return any((outcome.get(name) or {}).get("changed") for name in OUTCOME_KEYS)


def combined_diff(outcome: dict) -> list:
    """The --diff of each step that changed something: the registry value (win_regedit's own diff),
    the .PCK files and Distmgr.dll. The callback prints a list of diffs one after the other."""
    return [outcome[name]["diff"] for name in OUTCOME_KEYS
            if (outcome.get(name) or {}).get("changed") and (outcome.get(name) or {}).get("diff")]
