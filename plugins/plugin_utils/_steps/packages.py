# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Step ``workaround`` and the compressed_package operation (private to this collection): one host
script call acts on all the chosen .PCK files at once (remove, quarantine, restore)."""

from __future__ import annotations

from ansible_collections.sms.remediation.plugins.module_utils.facts import PROBE_FACT
from ansible_collections.sms.remediation.plugins.module_utils.host_regex import to_dotnet

_DONE = {"removed": "absent", "quarantined": "quarantined", "restored": "restored"}


def workaround(transport, args: dict) -> dict:
    """Remove or quarantine the plan's leftovers. Check mode: the host script's answer predicted from the
    facts of this run, without a round trip."""
    if transport.check_mode:
        return merge_outcomes(empty_result(), would_outcomes(args["items"], args["state"]), True)
    return act_on_packages(transport, args["state"], [{"id": i["id"], "path": i["path"]} for i in args["items"]],
                           args)


def act_on_packages(transport, state: str, items: list, args: dict, refused=()) -> dict:
    """Hand ``items`` ({id, path}) to the host script in ``state`` mode (absent, quarantined, restored);
    ``args``: package_folders, quarantine_dir, active_namespace, id_pattern. The module result, with
    ``refused`` (decided on the controller) in front of the host's refusals."""
    result = empty_result()
    result["refused"] = list(refused)
    if not items:
        return result
    answer = transport.act_on_packages({
        "Mode": state,
        "PackageFolders": list(args["package_folders"]),
        "Items": items,
        "QuarantineDir": args["quarantine_dir"],
        "ActiveNamespace": args["active_namespace"],
        # Every regex that reaches a host is .NET (issue 11 defect 1).
        "IdPattern": to_dotnet(args["id_pattern"], "package_file_pattern"),
    })
    return merge_outcomes(result, answer or {}, transport.check_mode)


def empty_result() -> dict:
    return {"changed": False, "removed": [], "quarantined": [], "restored": [], "refused": [],
            "missing": [], "bytes_reclaimed": 0, "outcomes": []}


def would_outcomes(items, state: str) -> dict:
    """The host script's check-mode answer for ``items`` ({id, path, size})."""
    verb = {"absent": "would_remove", "quarantined": "would_quarantine"}[state]
    return {"items": [{"id": item["id"], "path": item["path"], "size": item["size"], "outcome": verb}
                      for item in items]}


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
