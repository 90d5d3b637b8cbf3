# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""site_facts: one read-only probe, parsed into facts."""

from __future__ import annotations

from ansible_collections.sms.remediation.plugins.module_utils.facts import PROBE_FACT, SITE_FACT
from ansible_collections.sms.remediation.plugins.plugin_utils._action import SmsActionBase


class ActionModule(SmsActionBase):
    MODULE_NAME = "site_facts"

    def act(self, args, task_vars):
        answer = self.probe(task_vars, package_folders=args["package_folders"], refresh=args["refresh"])
        site = self.site(task_vars, answer)
        facts = site.to_facts()
        return {
            "changed": False,
            "ansible_facts": {SITE_FACT: facts, PROBE_FACT: answer},
        }
