"""Fixtures for the lab's own tests: a hand-built host (no scenario), a running lab, ansible runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "lab"))

from smslab.server import start_lab  # noqa: E402
from smslab.state import tree_digest  # noqa: E402
from smslab.samba.testing import samba_lab, samba_scenario  # noqa: E402,F401 pylint: disable=unused-import

PLAYBOOK = ROOT / ".venv" / "bin" / "ansible-playbook"
HOST = "sms01"
FAULT_HOSTS = ("sms02", "sms03", "sms04")    # spare hosts a test may give faults to
USER, PASSWORD = "lab-admin", "lab-test-pw"


def build_host(state_dir: Path, name: str = HOST) -> Path:
    """A minimal site server: two running services, an environment, a log file and a DLL."""
    root = state_dir / "hosts" / name
    (root / "fs" / "C" / "SMS" / "Logs").mkdir(parents=True)
    (root / "fs" / "C" / "SMS" / "bin" / "i386").mkdir(parents=True)
    host = {
        "name": name,
        "registry": {},
        "services": {"SMS_EXECUTIVE": {"state": "running", "start_mode": "auto"},
                     "SMS_SITE_BACKUP": {"state": "running", "start_mode": "manual"}},
        "environment": {"PROCESSOR_ARCHITECTURE": "x86", "COMPUTERNAME": name.upper()},
        "faults": {},
    }
    (root / "host.json").write_text(json.dumps(host, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    (root / "fs" / "C" / "SMS" / "Logs" / "Distmgr.log").write_bytes(b"line one\r\nline two\r\n")
    (root / "fs" / "C" / "SMS" / "bin" / "i386" / "Distmgr.dll").write_bytes(b"MZ FileVersion=2.00.1380.1000\n")
    return root


@pytest.fixture
def winrm_protocol(lab):
    """A pywinrm Protocol for one lab host (default credentials unless told otherwise)."""
    import winrm

    def connect(password: str = PASSWORD, host: str = HOST) -> "winrm.Protocol":
        return winrm.Protocol(endpoint=f"http://127.0.0.1:{lab.port}/wsman/{host}", transport="basic",
                              username=USER, password=password)

    return connect


@pytest.fixture
def hosts_digest(state_dir: Path):
    """Call it to hash ``<state_dir>/hosts`` (what a check-mode run must leave unchanged)."""
    return lambda: tree_digest(state_dir / "hosts")


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "state"
    for name in (HOST, *FAULT_HOSTS):
        build_host(folder, name)
    return folder


@pytest.fixture
def lab(state_dir: Path):
    server = start_lab(state_dir, user=USER, password=PASSWORD)
    yield server
    server.stop()


@pytest.fixture
def inventory(lab, tmp_path: Path) -> Path:
    return lab.write_inventory(tmp_path / "inventory.yml")


@dataclass
class PlayRun:
    rc: int
    by_host: dict[str, list[dict]]      # host -> result of each task, in order
    output: str

    def results(self, host: str = HOST) -> list[dict]:
        return self.by_host.get(host, [])


@pytest.fixture
def playbook(inventory: Path, tmp_path: Path):
    """Run tasks as one play on the lab (one ansible process: far faster than one ad-hoc run each).

    Results come from the ansible.posix.json callback; ``hosts`` is the play's host pattern.
    """
    env = dict(os.environ, ANSIBLE_HOST_KEY_CHECKING="False", ANSIBLE_NOCOLOR="1",
               ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-local"),
               ANSIBLE_RETRY_FILES_ENABLED="False")

    def run(tasks: list[dict], hosts: str = HOST) -> PlayRun:
        play = [{"hosts": hosts, "gather_facts": False, "tasks": tasks}]
        path = tmp_path / "play.yml"
        path.write_text(yaml.safe_dump(play, sort_keys=False), encoding="utf-8")
        done = subprocess.run([str(PLAYBOOK), "-i", str(inventory), str(path)], capture_output=True, text=True, check=False,
                              env=env, timeout=120, cwd=tmp_path)
        try:
            report = json.loads(done.stdout)
        except json.JSONDecodeError:
            pytest.fail(f"ansible-playbook printed no JSON (rc {done.returncode}):\n{done.stdout}\n{done.stderr}")
        by_host: dict[str, list[dict]] = {}
        for play_report in report["plays"]:
            for task_report in play_report["tasks"]:
                for host, result in task_report["hosts"].items():
                    by_host.setdefault(host, []).append(result)
        return PlayRun(done.returncode, by_host, done.stdout + done.stderr)

    return run
