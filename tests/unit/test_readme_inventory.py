"""The README's example inventory promises WinRM only to hosts that can run it: every host it describes as
Windows NT 4.0, Windows 2000 or Alpha is in a ``q244405_transport: msrpc`` group without WinRM settings
(../shared/notes/legacy-hosts.md)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
LEGACY = re.compile(r"NT 4\.0|Windows 2000|Alpha")


def example_inventory() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"```yaml\n(# inventory/sms\.yml\n.*?)```", text, re.DOTALL)
    assert match, "README.md has no example inventory (```yaml block starting '# inventory/sms.yml')"
    return match.group(1)


def host_variables(group: dict, inherited: dict | None = None) -> dict[str, dict]:
    """host -> its group variables, inner groups overriding outer ones."""
    variables = dict(inherited or {}, **(group.get("vars") or {}))
    found = {host: dict(variables, **(own or {})) for host, own in (group.get("hosts") or {}).items()}
    for child in (group.get("children") or {}).values():
        found.update(host_variables(child or {}, variables))
    return found


def test_no_nt4_2000_or_alpha_host_is_promised_winrm():
    text = example_inventory()
    hosts = host_variables(yaml.safe_load(text)["all"])
    comments = dict(re.findall(r"^\s+([\w.-]+):\s+#\s*(.*)$", text, re.MULTILINE))
    legacy = sorted(host for host in hosts if LEGACY.search(comments.get(host, "")))
    assert legacy, "the example no longer shows an NT 4.0 / 2000 site server"
    for host in legacy:
        assert hosts[host].get("q244405_transport") == "msrpc", host
        assert hosts[host].get("ansible_connection") != "winrm", host
    for host, variables in hosts.items():
        if variables.get("ansible_connection") == "winrm":
            assert variables.get("q244405_transport") == "winrm", host
            assert not LEGACY.search(comments.get(host, "")), host
