# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Acting on compressed package copies (remove, quarantine, restore), shared by the compressed_package
and remediate action plugins. A mixin for SmsActionBase."""

from __future__ import annotations

from ansible_collections.sms.remediation.plugins.module_utils.host_regex import to_dotnet
from ansible_collections.sms.remediation.plugins.plugin_utils._action import PROBE_FACT

_DONE = {"removed": "absent", "quarantined": "quarantined", "restored": "restored"}


def package_folders(answer: dict) -> list:
    """Existing package folders from the probe's folder list (a folder emptied by quarantine still counts)."""
    return [folder["path"] for folder in answer.get("package_folders") or [] if folder.get("exists")]


class CompressedPackageSteps:
    """One host script acts on all the chosen .PCK files at once."""

    def act_on_packages(self, site, answer, items, refused, state, quarantine_dir, task_vars) -> dict:
        """Hand ``items`` ({id, path}) to the host script in ``state`` mode; the module result."""
        result = empty_result()
        result["refused"] = list(refused)
        if not items:
            return result
        reply = self.run_script("sms_compressed_package", {
            "Mode": state,
            "PackageFolders": package_folders(answer),
            "Items": items,
            "QuarantineDir": quarantine_dir,
            "ActiveNamespace": self.active_namespace(site),
            "IdPattern": to_dotnet(self.table["package_file_pattern"], "package_file_pattern"),
        }, task_vars)
        return merge_outcomes(result, reply.get("result") or {}, self._task.check_mode)

    def active_namespace(self, site):
        """The WMI namespace the host script re-reads the active packages from just before acting."""
        if not site.active.available:
            return None
        return self.table["wmi_namespace_template"].format(site_code=site.site_code)


def empty_result() -> dict:
    return {"changed": False, "removed": [], "quarantined": [], "restored": [], "refused": [],
            "missing": [], "bytes_reclaimed": 0, "outcomes": []}


def would_outcomes(leftovers, state: str) -> dict:
    """The host script's check-mode answer, from facts gathered in this run (no round trip)."""
    verb = {"absent": "would_remove", "quarantined": "would_quarantine"}[state]
    return {"items": [{"id": item.package_id, "path": item.path, "size": item.size, "outcome": verb}
                      for item in leftovers]}


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
