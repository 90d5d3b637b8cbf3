# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""package_facts: classify the .PCK files from the probe and the other sites' facts."""

from __future__ import annotations

from ansible_collections.sms.remediation.plugins.module_utils.leftovers import packages_fact
from ansible_collections.sms.remediation.plugins.module_utils.facts import PACKAGES_FACT
from ansible_collections.sms.remediation.plugins.plugin_utils._action import SmsActionBase


class ActionModule(SmsActionBase):
    MODULE_NAME = "package_facts"

    def act(self, args, task_vars):
        site = self.site(task_vars, self.probe(task_vars, package_folders=args["package_folders"]))
        leftovers = self.leftovers(site, task_vars, args["min_evidence"], origin_facts=args["origin_sites"] or None)
        return {
            "changed": False,
            "ansible_facts": {PACKAGES_FACT: packages_fact(site, leftovers, args["min_evidence"])},
        }
