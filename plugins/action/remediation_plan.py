# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""remediation_plan: decision.plan over the cached facts, as remediate would plan; no round trip."""

from __future__ import annotations

from ansible.errors import AnsibleActionFail

from ansible_collections.sms.remediation.plugins.module_utils.decision import Request, plan
from ansible_collections.sms.remediation.plugins.module_utils.facts import PACKAGES_FACT, PLAN_FACT, PROBE_FACT
from ansible_collections.sms.remediation.plugins.plugin_utils._action import SmsActionBase


class ActionModule(SmsActionBase):
    MODULE_NAME = "remediation_plan"
    _requires_connection = False

    def act(self, args, task_vars):
        facts = task_vars.get("ansible_facts") or {}
        if not facts.get(PROBE_FACT) or not facts.get(PACKAGES_FACT):
            raise AnsibleActionFail(f"{self.host_name(task_vars)}: no facts to plan from; run "
                                    "sms.remediation.site_facts and sms.remediation.package_facts first")
        site = self.site(task_vars, facts[PROBE_FACT])
        leftovers = self.leftovers(site, task_vars, facts[PACKAGES_FACT].get("min_evidence") or "origin")
        request = Request(
            policy=args["policy"], hotfix_method=args["hotfix_method"], force_ids=tuple(args["force"]),
            workaround_state=args["workaround_state"], quarantine_dir=args["quarantine_dir"],
            hotfix_files={platform: self.hotfix_file(src) for platform, src in args["hotfix_files"].items()},
            hotfix_sha256=dict(args["hotfix_sha256"]), installer_path=args["installer_path"],
            allow_console_open=args["allow_console_open"], allow_cross_build=args["allow_cross_build"])
        try:
            decided = plan(site, leftovers, request, self.table)
        except ValueError as exc:
            raise AnsibleActionFail(f"{self.host_name(task_vars)}: {exc}") from None
        return {"changed": False, "ansible_facts": {PLAN_FACT: decided.to_dict()}}
