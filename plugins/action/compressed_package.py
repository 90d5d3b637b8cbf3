# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""compressed_package: select leftovers from the facts, then one host script acts on all of them."""

from __future__ import annotations

import ntpath

from ansible.errors import AnsibleActionFail

from ansible_collections.sms.remediation.plugins.module_utils.decision import plan
from ansible_collections.sms.remediation.plugins.module_utils.package_ids import PackageIdError, validate_package_id
from ansible_collections.sms.remediation.plugins.plugin_utils._action import PACKAGES_FACT, PROBE_FACT, SmsActionBase

_DONE = {"removed": "absent", "quarantined": "quarantined", "restored": "restored"}


class ActionModule(SmsActionBase):
    MODULE_NAME = "compressed_package"

    def act(self, args, task_vars):
        host = self.host_name(task_vars)
        if args["state"] in ("quarantined", "restored") and not args["quarantine_dir"]:
            raise AnsibleActionFail(f"{host}: state={args['state']} needs quarantine_dir")
        answer = self.probe(task_vars)
        site = self.site(task_vars, answer)
        # From the probe's folder list, not from the files: a folder emptied by quarantine still counts.
        folders = [folder["path"] for folder in answer.get("package_folders") or [] if folder.get("exists")]
        if args["state"] == "restored":
            items, refused = self.restore_items(args["packages"], folders, host), []
        else:
            items, refused = self.select(site, args, task_vars)
        result = empty_result()
        result["refused"] = refused
        if not items:
            return result
        reply = self.run_script("sms_compressed_package", {
            "Mode": args["state"],
            "PackageFolders": folders,
            "Items": items,
            "QuarantineDir": args["quarantine_dir"],
            "ActiveNamespace": self.active_namespace(site),
            "IdPattern": self.table["package_file_pattern"],
        }, task_vars)
        return merge_outcomes(result, reply.get("result") or {}, self._task.check_mode)

    @staticmethod
    def restore_items(package_ids, folders, host):
        """Restore targets: ``<package folder>\\<ID>.PCK``; the host script checks each against the manifest."""
        if not package_ids:
            raise AnsibleActionFail(f"{host}: state=restored needs the package IDs to restore in packages")
        if len(folders) != 1:
            raise AnsibleActionFail(f"{host}: state=restored needs exactly one package folder to restore into, "
                                    f"found {folders or 'none'}; set package_folders on site_facts")
        try:
            package_ids = [validate_package_id(pid) for pid in package_ids]
        except PackageIdError as exc:
            raise AnsibleActionFail(f"{host}: state=restored: {exc}") from None
        return [{"id": pid, "path": ntpath.join(folders[0], f"{pid}.PCK")} for pid in package_ids]

    def select(self, site, args, task_vars):
        """Items to hand to the host script and the refusals, from the same decision as the role."""
        cached = (task_vars.get("ansible_facts") or {}).get(PACKAGES_FACT) or {}
        min_evidence = args["min_evidence"] or cached.get("min_evidence") or "origin"
        leftovers = self.leftovers(site, task_vars, min_evidence)
        decided = plan(site, leftovers, "workaround", None, False, force_ids=tuple(args["force"]), table=self.table)
        wanted = {pid.upper() for pid in args["packages"]}
        chosen = [leftover for leftover in decided.remove if not wanted or leftover.package_id in wanted]
        refused = [entry for entry in decided.refused if not wanted or (entry.get("id") or "") in wanted]
        known = {leftover.package_id for leftover in leftovers}
        refused += [{"id": pid, "name": None, "reason": "no such .PCK in the package folders"} for pid in sorted(wanted - known)]
        return [{"id": leftover.package_id, "path": leftover.path} for leftover in chosen], refused

    def active_namespace(self, site):
        if not site.active.available:
            return None
        return self.table["wmi_namespace_template"].format(site_code=site.site_code)


def empty_result() -> dict:
    return {"changed": False, "removed": [], "quarantined": [], "restored": [], "refused": [],
            "missing": [], "bytes_reclaimed": 0, "outcomes": []}


def merge_outcomes(result: dict, answer: dict, check_mode: bool) -> dict:
    """Fold the host script's per-file outcomes into the module result (and --diff)."""
    before, after = [], []
    for item in answer.get("items", []):
        outcome = item.get("outcome") or ""
        done = outcome.replace("would_", "")
        done = {"remove": "removed", "quarantine": "quarantined", "restore": "restored"}.get(done, done)
        result["outcomes"].append(item)
        if done in _DONE:
            result[done].append(item["id"])
            if done != "restored":
                result["bytes_reclaimed"] += int(item.get("size") or 0)
                before.append(item.get("path") or item["id"])
            else:
                after.append(item.get("path") or item["id"])
        elif done == "missing":
            result["missing"].append(item["id"])
        else:
            result["refused"].append({"id": item.get("id"), "name": item.get("path"), "reason": item.get("reason")})
    result["changed"] = bool(before or after)
    if answer.get("manifest"):
        result["manifest"] = answer["manifest"]
    if result["changed"]:
        result["diff"] = {"before": "".join(f"{p}\n" for p in before), "after": "".join(f"{p}\n" for p in after)}
        if not check_mode:
            # The cached probe no longer describes the host: later tasks must look again.
            result["ansible_facts"] = {PROBE_FACT: {}}
    return result
