# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""compressed_package: select leftovers from the facts (decision.plan, policy workaround), then one host
script acts on all of them (_steps.packages)."""

from __future__ import annotations

from ansible.errors import AnsibleActionFail

from ansible_collections.sms.remediation.plugins.module_utils.decision import Request, package_args, plan
from ansible_collections.sms.remediation.plugins.module_utils.facts import PACKAGES_FACT
from ansible_collections.sms.remediation.plugins.module_utils.package_ids import PackageIdError, validate_package_id
from ansible_collections.sms.remediation.plugins.plugin_utils._action import SmsActionBase
from ansible_collections.sms.remediation.plugins.plugin_utils._steps.packages import act_on_packages


class ActionModule(SmsActionBase):
    MODULE_NAME = "compressed_package"

    def act(self, args, task_vars):
        host = self.host_name(task_vars)
        if args["state"] in ("quarantined", "restored") and not args["quarantine_dir"]:
            raise AnsibleActionFail(f"{host}: state={args['state']} needs quarantine_dir")
        site = self.site(task_vars, self.probe(task_vars))
        if args["state"] == "restored":
            items, refused = self.restore_items(args["packages"], host), []
        else:
            items, refused = self.select(site, args, task_vars)
        return act_on_packages(self.transport(task_vars), args["state"], items,
                               package_args(site, args["quarantine_dir"], self.table, args["state"] != "restored"),
                               refused)

    @staticmethod
    def restore_items(package_ids, host):
        """Restore items with an empty path: the host script puts each file back at its manifest entry's
        ``original_path`` (whichever package folder that is) and checks it there."""
        if not package_ids:
            raise AnsibleActionFail(f"{host}: state=restored needs the package IDs to restore in packages")
        try:
            package_ids = [validate_package_id(pid) for pid in package_ids]
        except PackageIdError as exc:
            raise AnsibleActionFail(f"{host}: state=restored: {exc}") from None
        return [{"id": pid, "path": ""} for pid in package_ids]

    def select(self, site, args, task_vars):
        """Items to hand to the host script and the refusals, from the same decision as the role. Here the
        user asked for the files (all leftovers, or the IDs in ``packages``), so a kept one is refused."""
        cached = (task_vars.get("ansible_facts") or {}).get(PACKAGES_FACT) or {}
        min_evidence = args["min_evidence"] or cached.get("min_evidence") or "origin"
        leftovers = self.leftovers(site, task_vars, min_evidence)
        decided = plan(site, leftovers, Request(policy="workaround", hotfix_method=None,
                                                force_ids=tuple(args["force"])), self.table)
        wanted = {pid.upper() for pid in args["packages"]}
        chosen = [leftover for leftover in decided.remove if not wanted or leftover.package_id in wanted]
        refused = [entry for entry in decided.kept + decided.refused if not wanted or (entry.get("id") or "") in wanted]
        known = {leftover.package_id for leftover in leftovers}
        refused += [{"id": pid, "name": None, "reason": "no such .PCK in the package folders"} for pid in sorted(wanted - known)]
        return [{"id": leftover.package_id, "path": leftover.path} for leftover in chosen], refused
