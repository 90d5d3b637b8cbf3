"""The Ansible inventory the lab writes for its hosts (the WinRM server, the msrpc hosts, serve-msrpc).

Every host goes in the group that playbooks/remediate.yml targets by default; the file is written
whole (a temporary file renamed over it) so a playbook started meanwhile never reads half of it.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

INVENTORY_GROUP = "sms_site_servers"


def inventory_of(hosts: dict[str, dict]) -> dict:
    """``{host name: host vars}`` as an inventory with every host in ``INVENTORY_GROUP``."""
    return {"all": {"children": {INVENTORY_GROUP: {"hosts": hosts}}}}


def write_inventory(path: Path | str, inventory: dict, written_by: str) -> Path:
    """Write ``inventory`` as YAML to ``path`` with a header naming ``written_by``; return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(f"# written by {written_by}; regenerated on every start\n"
                   + yaml.safe_dump(inventory, sort_keys=False), encoding="utf-8")
    os.replace(tmp, path)
    return path
