# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""distmgr_hotfix: the hotfix step alone, planned by decision.plan (policy hotfix, the hotfix required:
every reason remediate has to skip or refuse it fails this task) and carried out by _steps."""

from __future__ import annotations

from ansible.errors import AnsibleActionFail

from ansible_collections.sms.remediation.plugins.module_utils.decision import Request, plan
from ansible_collections.sms.remediation.plugins.plugin_utils._action import SmsActionBase
from ansible_collections.sms.remediation.plugins.plugin_utils._steps import Progress, StepError, run_plan


class ActionModule(SmsActionBase):
    MODULE_NAME = "distmgr_hotfix"

    def act(self, args, task_vars):
        site = self.site(task_vars, self.probe(task_vars))
        files = {site.platform: self.hotfix_file(args["src"])} if args["src"] else {}
        request = Request(policy="hotfix", hotfix_method=args["method"], hotfix_files=files,
                          hotfix_sha256={site.platform: args["sha256"]} if args["sha256"] else {},
                          installer_path=args["installer_path"], staging_dir=args["staging_dir"],
                          allow_console_open=args["allow_console_open"], allow_cross_build=args["allow_cross_build"],
                          wait_seconds=args["wait_seconds"], keep_backups=args["keep_backups"], hotfix_required=True)
        decided = plan(site, [], request, self.table)
        try:
            progress = run_plan(decided, self.transport(task_vars), self.measure(task_vars), Progress())
        except StepError as exc:
            raise AnsibleActionFail(exc.message, result=exc.result) from None
        if "hotfix" in progress.records:
            return progress.records["hotfix"]
        # With the hotfix required, the plan holds no hotfix step only when the site is already fixed.
        before = site.distmgr_version
        return {"changed": False, "outcome": "already_fixed", "fixed_by": site.q244405.fixed_by,
                "distmgr_version": {"before": before, "after": before}, "msg": site.q244405.reason}
