"""Issue 6, part 5: the WinRM password never appears in output, reports or the lab's request logs.

A real run of remediate.yml with -vvv against the demo lab; the password is read from the lab's
inventory (what Ansible was given) and searched for, as text and in the encodings a log could hold
it (base64 of user:password as in an HTTP Basic header, UTF-16, URL-quoted).
"""

from __future__ import annotations

import base64
import urllib.parse

import yaml

from lab_harness import SCENARIOS


def _password_and_user(inventory) -> tuple[str, str]:
    data = yaml.safe_load(inventory.read_text(encoding="utf-8"))
    found = []

    def walk(node):
        if isinstance(node, dict):
            if "ansible_password" in node:
                found.append((str(node["ansible_password"]), str(node.get("ansible_user", ""))))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(data)
    assert found, f"no ansible_password in {inventory}"
    return found[0]


def _needles(password: str, user: str) -> list[bytes]:
    return [
        password.encode("utf-8"),
        password.encode("utf-16-le"),
        urllib.parse.quote(password).encode("ascii"),
        base64.b64encode(f"{user}:{password}".encode("utf-8")),
    ]


def test_password_never_in_output_reports_or_request_logs(lab_factory):
    lab = lab_factory(SCENARIOS / "demo.yml", "secrets")
    password, user = _password_and_user(lab.inventory)
    assert len(password) >= 8
    run = lab.playbook("-vvv")
    assert run.recap and all(c.get("unreachable", 0) == 0 for c in run.recap.values()), run.stdout[-3000:]
    assert "<127.0.0.1>" in run.stdout or "ESTABLISH WINRM" in run.stdout, "not a -vvv run?"
    needles = _needles(password, user)
    places = {"ansible-playbook stdout/stderr": run.stdout.encode("utf-8")}
    reports = sorted(p for p in lab.report_dir.rglob("*") if p.is_file())
    assert reports, "no report written"
    requests = sorted(p for p in (lab.state_dir / "requests").rglob("*") if p.is_file())
    assert requests, "no request log written"
    for path in reports + requests:
        places[str(path)] = path.read_bytes()
    leaks = [(where, needle) for where, data in places.items() for needle in needles if needle in data]
    assert leaks == [], f"the WinRM password leaked into: {sorted({w for w, _n in leaks})}"
    # the check can fail: the password is where it must be (the inventory Ansible reads)
    assert password.encode() in lab.inventory.read_bytes()
