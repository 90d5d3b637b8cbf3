# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""remediation_plan: module_utils.decision over the cached facts; no round trip."""

from __future__ import annotations

from ansible.errors import AnsibleActionFail

from ansible_collections.sms.remediation.plugins.module_utils.decision import plan
from ansible_collections.sms.remediation.plugins.plugin_utils._action import (
    PACKAGES_FACT, PROBE_FACT, SmsActionBase)


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
        decided = plan(site, leftovers, args["policy"], args["hotfix_method"], args["hotfix_source_available"],
                       force_ids=tuple(args["force"]), table=self.table)
        return {"changed": False, "ansible_facts": {"sms_plan": decided.to_dict()}}
