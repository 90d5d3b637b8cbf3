# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""remediate: one task per site server for the whole KB Q244405 remediation.

Facts (cached probe) -> classification -> plan -> logging -> workaround -> hotfix -> verification probe.
One task instead of a dozen: with Ansible every task costs a fork and templating on each host, and that,
not WinRM, is what a fleet run spends its time on (benchmarks/RESULTS.md)."""

from __future__ import annotations

from ansible.errors import AnsibleActionFail, AnsibleError

from ansible_collections.sms.remediation.plugins.module_utils.decision import plan
from ansible_collections.sms.remediation.plugins.module_utils.host_result import OUTCOME
from ansible_collections.sms.remediation.plugins.module_utils.leftovers import packages_fact
from ansible_collections.sms.remediation.plugins.plugin_utils._action import (
    PACKAGES_FACT, PROBE_FACT, SITE_FACT, SmsActionBase)
from ansible_collections.sms.remediation.plugins.plugin_utils._hotfix import HotfixSteps
from ansible_collections.sms.remediation.plugins.plugin_utils._packages import (
    CompressedPackageSteps, merge_outcomes, empty_result, would_outcomes)

PLAN_FACT = "sms_plan"


class ActionModule(HotfixSteps, CompressedPackageSteps, SmsActionBase):
    MODULE_NAME = "remediate"

    def act(self, args, task_vars):
        if args["workaround_state"] == "quarantined" and not args["quarantine_dir"]:
            raise AnsibleActionFail(f"{self.host_name(task_vars)}: workaround_state=quarantined needs quarantine_dir")
        cached = self.cached_probe(task_vars) is not None
        answer = self.probe(task_vars, package_folders=args["package_folders"])
        site = self.site(task_vars, answer)
        leftovers, packages = self.classified(site, args, task_vars)
        # Facts go back to the main process and are merged for every host: only what is new.
        facts = {PACKAGES_FACT: packages}
        if not cached:
            facts.update({PROBE_FACT: answer, SITE_FACT: site.to_facts()})
        outcome = {"error": None, "packages_before": packages}
        if args["stop_reason"]:
            outcome.update(skipped=args["stop_reason"], plan={})
            facts[OUTCOME] = outcome
            return {"changed": False, "msg": f"{site.host}: not remediated: {args['stop_reason']}", "ansible_facts": facts}
        decided = plan(site, leftovers, args["policy"], args["hotfix_method"], self.hotfix_source_available(site, args),
                       force_ids=tuple(args["force"]), table=self.table)
        outcome["plan"] = facts[PLAN_FACT] = decided.to_dict()
        try:
            changed = self.run_steps(site, answer, decided, outcome, facts, args, task_vars)
        # Any error, not only AnsibleError: a link dropped mid-step surfaces as the HTTP library's own exception.
        # Whatever it is, the record must say which step it broke (the report counts a failed hotfix).
        except Exception as exc:  # pylint: disable=broad-exception-caught
            # A failed task keeps the earlier facts, so sms_site still is the state before; site_before only
            # when this task made the probe (the failure line Ansible prints stays short).
            if cached:
                outcome.pop("site_before", None)
            else:
                outcome["site_before"] = site.to_facts()
            return self.failed(site.host, exc, outcome)
        facts[OUTCOME] = outcome
        result = {"changed": changed, "ansible_facts": facts}
        diff = combined_diff(outcome)
        if diff:
            result["diff"] = diff
        return result

    # ---- the steps -----------------------------------------------------------------------
    step = "plan"  # the step running now, for the failure record

    def run_steps(self, site, answer, decided, outcome, facts, args, task_vars) -> bool:
        """Logging, workaround, hotfix, then the measurement after a change; whether anything changed."""
        if args["enable_distmgr_logging"]:
            self.step = "logging"
            outcome["logging"] = self.enable_logging(site, args, task_vars)
        if decided.remove:
            self.step = "workaround"
            outcome["workaround"] = self.workaround(site, answer, decided, args, task_vars)
        if self.hotfix_wanted(site, decided, args):
            self.step = "hotfix"
            outcome["hotfix"] = self.apply_hotfix(site, self.hotfix_args(site, args), task_vars)
        changed = any_change(outcome)
        if changed and not self._task.check_mode:
            # The facts before the change; without site_before the report takes sms_site as both.
            outcome["site_before"] = site.to_facts()
            self.step = "verify"
            facts.update(self.measured_after(outcome, args, task_vars))
        return changed

    def enable_logging(self, site, args, task_vars) -> dict:
        """Tracing Enabled = 1 for Distribution Manager where it is off (win_regedit), then optionally
        restart SMS_EXECUTIVE, which reads it when it starts (win_service)."""
        logging = site.logging
        record = {"registry_key": logging.get("registry_key"), "value_name": logging.get("value_name"),
                  "was_enabled": logging.get("enabled"), "changed": False, "executive_restarted": False}
        if logging.get("enabled") is True:
            return record
        reply = self.remote_module("ansible.windows.win_regedit", {
            "path": record["registry_key"], "name": record["value_name"], "data": 1, "type": "dword",
            "state": "present"}, task_vars)
        record["changed"] = bool(reply.get("changed"))
        if reply.get("diff"):
            record["diff"] = reply["diff"]
        service = logging.get("service")
        if record["changed"] and args["restart_executive"] and site.services.get(service) == "running":
            reply = self.remote_module("ansible.windows.win_service", {"name": service, "state": "restarted"},
                                       task_vars)
            record["executive_restarted"] = bool(reply.get("changed"))
        return record

    def workaround(self, site, answer, decided, args, task_vars) -> dict:
        if self._task.check_mode:
            # The facts are from this run: what the host script would answer in check mode, without asking it.
            return merge_outcomes(empty_result(), would_outcomes(decided.remove, args["workaround_state"]), True)
        items = [{"id": item.package_id, "path": item.path} for item in decided.remove]
        return self.act_on_packages(site, answer, items, [], args["workaround_state"], args["quarantine_dir"],
                                    task_vars)

    @staticmethod
    def hotfix_source_available(site, args) -> bool:
        if args["hotfix_method"] == "installer":
            return bool(args["installer_path"])
        return site.platform in args["hotfix_files"]

    @staticmethod
    def hotfix_wanted(site, decided, args) -> bool:
        # The installer is also run where it cannot work (no path, Alpha), so that it is refused loudly.
        return decided.hotfix or (args["hotfix_method"] == "installer" and args["policy"] in ("auto", "hotfix")
                                  and bool(site.q244405.affected))

    @staticmethod
    def hotfix_args(site, args) -> dict:
        return {"method": args["hotfix_method"], "installer_path": args["installer_path"],
                "src": args["hotfix_files"].get(site.platform), "sha256": args["hotfix_sha256"].get(site.platform),
                "staging_dir": args["staging_dir"], "allow_console_open": args["allow_console_open"],
                "wait_seconds": args["wait_seconds"]}

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

    def classified(self, site, args, task_vars):
        """The site's leftovers against this run's origin sites, and the sms_packages fact made of them."""
        leftovers = self.leftovers(site, task_vars, args["min_evidence"], origin_facts=args["origin_sites"] or None)
        return leftovers, packages_fact(site, leftovers, args["min_evidence"])

    # ---- plumbing ------------------------------------------------------------------------
    def remote_module(self, name, module_args, task_vars) -> dict:
        reply = self._execute_module(module_name=name, module_args=module_args, task_vars=task_vars)
        if reply.get("failed") or reply.get("unreachable"):
            raise AnsibleActionFail(f"{self.host_name(task_vars)}: {name} failed: {reply.get('msg')}", result=reply)
        return reply

    def failed(self, host, exc, outcome) -> dict:
        """A failed task that still carries the outcome record (facts of a failed task are not kept)."""
        step = self.step
        message = str(exc.message) if isinstance(exc, AnsibleError) else f"{type(exc).__name__}: {exc}"
        if str(exc).startswith(f"{host}:"):
            message = str(exc)
        elif not message.startswith(f"{host}:"):
            message = f"{host}: {step}: {message}"
        outcome.update(error=message, failed_step=step)
        if step == "hotfix":
            details = {key: value for key, value in (getattr(exc, "result", None) or {}).items()
                       if key in ("services", "steps")}
            # changed only when the hotfix got as far as the host: a refused pre-check changed nothing.
            outcome["hotfix"] = dict(details, failed=True, changed=self.hotfix_started, outcome="failed", msg=message)
        return {"failed": True, "changed": any_change(outcome), "msg": message, OUTCOME: outcome}


def any_change(outcome: dict) -> bool:
    return any((outcome.get(name) or {}).get("changed") for name in ("logging", "workaround", "hotfix"))


def combined_diff(outcome: dict) -> list:
    """The --diff of each step that changed something: the registry value (win_regedit's own diff),
    the .PCK files and Distmgr.dll. The callback prints a list of diffs one after the other."""
    return [outcome[name]["diff"] for name in ("logging", "workaround", "hotfix")
            if (outcome.get(name) or {}).get("changed") and (outcome.get(name) or {}).get("diff")]
