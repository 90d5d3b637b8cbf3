"""What the controller sent to each lab host, read back from the lab's request log
(``<state_dir>/requests/<host>.jsonl``, one line per WS-Management request; a command's line names the module
or exec action, the collection script that ``win_powershell`` ran, and whether Ansible sent it in check mode).

A lab host refuses every change in check mode, so an unchanged state cannot show that the controller kept its
promise: in ``--check`` it sends nothing that changes a host. ``changes_sent_in_check_mode`` checks the promise
itself, from what was sent.
"""

from __future__ import annotations

import json
from pathlib import Path

WIN_POWERSHELL = "ansible.windows.win_powershell"
# The only script a --check run may send: the read-only facts probe (marker ``sms.remediation:probe``).
READ_ONLY_SCRIPTS = frozenset({"probe"})
# Commands that are not modules and change nothing: the lab logs the tmp-dir cleanup as "cleanup".
READ_ONLY_ACTIONS = frozenset({"cleanup", "powershell_expand_user.ps1"})


def commands_by_host(state_dir: Path | str, hosts=None) -> dict[str, list[dict]]:
    """Each host's logged commands (requests that ran something), in the order they ran."""
    folder = Path(state_dir) / "requests"
    names = sorted(hosts) if hosts is not None else sorted(p.stem for p in folder.glob("*.jsonl"))
    found = {}
    for host in names:
        path = folder / f"{host}.jsonl"
        lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
        found[host] = [entry for entry in map(json.loads, lines) if entry.get("name")]
    return found


def describe(entry: dict) -> str:
    text = entry["name"]
    if entry.get("script"):
        text += f" (script {entry['script']})"
    if "check_mode" in entry:
        text += f" check_mode={entry['check_mode']}"
    return text


def check_mode_violation(entry: dict, predicting: frozenset = frozenset()) -> str | None:
    """Why ``entry`` must not be sent in a --check run, or None when it may.

    Allowed: the probe script through win_powershell, sent in check mode; a module named in ``predicting``
    (one that only predicts its change in check mode, e.g. win_regedit for the logging diff), sent in check
    mode; the read-only exec actions. Everything else is a change sent: another script (the workaround's
    compressed_package, the hotfix transaction), win_regedit, win_service, win_copy and its file transfer,
    win_command, or any module sent without check mode.
    """
    name = entry["name"]
    if name in READ_ONLY_ACTIONS:
        return None
    if "check_mode" not in entry:
        return "a command that is not a module (file transfer or raw command)"
    if entry["check_mode"] is not True:
        return "sent without check mode"
    if name == WIN_POWERSHELL:
        return None if entry.get("script") in READ_ONLY_SCRIPTS else "a script that changes the host"
    return None if name in predicting else "a module that changes the host"


def changes_sent_in_check_mode(state_dir: Path | str, hosts=None, predicting=()) -> list[str]:
    """One line per command a --check run must not have sent: ``host: what (why)``."""
    predicting = frozenset(predicting)
    found = []
    for host, entries in commands_by_host(state_dir, hosts).items():
        for entry in entries:
            why = check_mode_violation(entry, predicting)
            if why:
                found.append(f"{host}: {describe(entry)} ({why})")
    return found


def hosts_without_a_probe(state_dir: Path | str, hosts) -> list[str]:
    """Hosts the log shows no probe for: an empty log would make every check above pass."""
    return sorted(host for host, entries in commands_by_host(state_dir, hosts).items()
                  if not any(e["name"] == WIN_POWERSHELL and e.get("script") == "probe" for e in entries))
