# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""distmgr_hotfix: pre-checks on the facts, then the installer or the staged one-script transaction,
then a new probe to measure the result (plugin_utils/_hotfix.py)."""

from __future__ import annotations

from ansible_collections.sms.remediation.plugins.plugin_utils._action import SmsActionBase
from ansible_collections.sms.remediation.plugins.plugin_utils._hotfix import HotfixSteps


class ActionModule(HotfixSteps, SmsActionBase):
    MODULE_NAME = "distmgr_hotfix"

    def act(self, args, task_vars):
        return self.apply_hotfix(self.site(task_vars, self.probe(task_vars)), args, task_vars)
