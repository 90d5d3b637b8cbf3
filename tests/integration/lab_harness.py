"""Fixtures for the end-to-end tests: a lab built from a scenario, served in-process over WinRM,
and ansible-playbook runs of playbooks/remediate.yml against it (what scripts/demo.sh does)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAB = ROOT / "lab"
if str(LAB) not in sys.path:
    sys.path.insert(0, str(LAB))

from smslab.scenario import build_state_dir  # noqa: E402
from smslab.server import ServedLab  # noqa: E402
from smslab.state import file_version_of, split_windows_path, tree_digest  # noqa: E402

VENV_BIN = ROOT / ".venv" / "bin"
PLAYBOOK = ROOT / "playbooks" / "remediate.yml"
COLLECTION_ROOT = ROOT / "tests" / "output" / ".collection_root"
SCENARIOS = ROOT / "lab" / "scenarios"
HOTFIX_VERSION = "2.00.1380.1083"

_RECAP_LINE = re.compile(r"^(?P<host>\S+)\s+:\s+(?P<counts>(?:\w+=\d+\s*)+)$")


def ansible_env(tmp: Path) -> dict:
    """scripts/ansible-env.sh, in Python."""
    subprocess.run(["bash", str(ROOT / "scripts" / "collection-root.sh")], check=True, capture_output=True)
    env = dict(os.environ)
    env.update(
        ANSIBLE_COLLECTIONS_PATH=str(COLLECTION_ROOT),
        ANSIBLE_HOST_KEY_CHECKING="False",
        ANSIBLE_RETRY_FILES_ENABLED="False",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_LOCALHOST_WARNING="False",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="False",
        ANSIBLE_FORKS="8",
        ANSIBLE_LOCAL_TEMP=str(tmp / "ansible-local"),
        PYTHONPATH=str(LAB) + (os.pathsep + os.environ["PYTHONPATH"] if os.environ.get("PYTHONPATH") else ""),
        PATH=str(VENV_BIN) + os.pathsep + os.environ.get("PATH", ""),
    )
    for name in ("ANSIBLE_STDOUT_CALLBACK", "ANSIBLE_CONFIG"):
        env.pop(name, None)
    return env


def parse_recap(output: str) -> dict[str, dict[str, int]]:
    """The PLAY RECAP as {host: {ok, changed, unreachable, failed, skipped, rescued, ignored}}."""
    recap: dict[str, dict[str, int]] = {}
    lines = output.splitlines()
    try:
        start = max(i for i, line in enumerate(lines) if line.startswith("PLAY RECAP"))
    except ValueError:
        return recap
    for line in lines[start + 1:]:
        match = _RECAP_LINE.match(line.strip())
        if not match:
            continue
        recap[match.group("host")] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", match.group("counts"))}
    return recap


@dataclass
class Run:
    rc: int
    stdout: str
    recap: dict
    args: tuple = ()

    def __iter__(self):         # rc, stdout = lab.playbook(...)
        return iter((self.rc, self.stdout))

    def failed_hosts(self) -> set[str]:
        return {h for h, c in self.recap.items() if c.get("failed") or c.get("unreachable")}


@dataclass
class Lab(ServedLab):
    state_dir: Path
    tmp: Path
    server: object = None
    inventory: Path = None
    env: dict = field(default_factory=dict)
    runs: list = field(default_factory=list)

    # -- the lab (start and stop: smslab.server.ServedLab) --------------------------------------
    def restart(self) -> None:
        self.stop()
        self.start()

    @property
    def hosts_dir(self) -> Path:
        return self.state_dir / "hosts"

    @property
    def host_names(self) -> list[str]:
        return sorted(p.parent.name for p in self.hosts_dir.glob("*/host.json"))

    @property
    def report_dir(self) -> Path:
        return self.state_dir / "reports"

    def state_hash(self) -> str:
        return tree_digest(self.hosts_dir)

    def host_json(self, host: str) -> dict:
        return json.loads((self.hosts_dir / host / "host.json").read_text(encoding="utf-8"))

    def local(self, host: str, windows_path: str) -> Path:
        drive, parts = split_windows_path(windows_path)
        return self.hosts_dir / host / "fs" / drive / Path(*parts) if parts else self.hosts_dir / host / "fs" / drive

    def exists(self, host: str, windows_path: str) -> bool:
        path = self.local(host, windows_path)
        return path.exists() or path.is_symlink()

    def file_version(self, host: str, windows_path: str) -> str | None:
        return file_version_of(self.local(host, windows_path).read_bytes())

    def distmgr_path(self, host: str) -> str:
        lab = self.host_json(host)["lab"]
        return f"{lab['install_dir']}\\bin\\{lab['platform']}\\Distmgr.dll"

    def services(self, host: str) -> dict:
        return {name: svc.get("state") for name, svc in self.host_json(host).get("services", {}).items()}

    def reports(self, mode: str, ext: str) -> list[Path]:
        return sorted(self.report_dir.glob(f"q244405-{mode}-*.{ext}"))

    def latest_report(self, mode: str = "run", ext: str = "json") -> Path:
        found = self.reports(mode, ext)
        assert found, f"no {mode} report .{ext} in {self.report_dir}: {sorted(os.listdir(self.report_dir)) if self.report_dir.is_dir() else 'no folder'}"
        return found[-1]

    # -- ansible-playbook ----------------------------------------------------------------------
    def playbook(self, *args: str, extra_vars: dict | None = None, playbook: Path | str = PLAYBOOK,
                 hotfix_files: bool = True, timeout: int = 300) -> Run:
        variables = {"q244405_report_dir": str(self.report_dir)}
        if hotfix_files:
            variables["q244405_hotfix_files"] = {
                "i386": str(self.state_dir / "hotfix" / "i386" / "Distmgr.dll"),
                "alpha": str(self.state_dir / "hotfix" / "alpha" / "Distmgr.dll"),
            }
        variables.update(extra_vars or {})
        cmd = [str(VENV_BIN / "ansible-playbook"), "-i", str(self.inventory), str(playbook),
               "-e", json.dumps(variables), *args]
        done = subprocess.run(cmd, capture_output=True, text=True, env=self.env, timeout=timeout, cwd=ROOT, check=False)
        output = done.stdout + ("\n--- stderr ---\n" + done.stderr if done.stderr else "")
        run = Run(done.returncode, output, parse_recap(done.stdout), tuple(args))
        self.runs.append(run)
        return run


def make_lab(scenario, root: Path):
    """Build ``scenario`` into ``root/state`` and start it in-process; returns a started Lab."""
    state_dir = root / "state"
    build_state_dir(scenario, state_dir)
    lab = Lab(state_dir=state_dir, tmp=root, env=ansible_env(root))
    return lab.start()


@pytest.fixture
def lab_factory(tmp_path):
    labs = []

    def factory(scenario=SCENARIOS / "demo.yml", name: str = "lab"):
        lab = make_lab(scenario, tmp_path / name)
        labs.append(lab)
        return lab

    yield factory
    for lab in labs:
        lab.stop()


@pytest.fixture(scope="module")
def module_lab_factory(tmp_path_factory):
    labs = []

    def factory(scenario=SCENARIOS / "demo.yml", name: str = "lab"):
        lab = make_lab(scenario, tmp_path_factory.mktemp(name))
        labs.append(lab)
        return lab

    yield factory
    for lab in labs:
        lab.stop()


@pytest.fixture
def demo_lab(lab_factory):
    return lab_factory(SCENARIOS / "demo.yml")


def assert_ok_run(run: Run, hosts=None) -> None:
    hosts = hosts if hosts is not None else list(run.recap)
    bad = {h: run.recap.get(h) for h in hosts if run.recap.get(h, {}).get("failed", 1) or run.recap.get(h, {}).get("unreachable", 1)}
    assert not bad, f"hosts failed: {bad}\n{run.stdout[-6000:]}"


def assert_second_run_changes_nothing(second: Run, hosts) -> None:
    """The run after a successful one: every host in its recap, none changed, failed or unreachable."""
    assert second.rc == 0, second.stdout[-4000:]
    assert set(hosts) <= set(second.recap)
    for host, counts in second.recap.items():
        assert counts["changed"] == 0, f"{host} changed on the second run: {counts}"
        assert counts["failed"] == 0 and counts["unreachable"] == 0, host


@dataclass
class DemoRuns:
    lab: Lab
    hash_before_check: str
    hash_after_check: str
    check: Run
    services_before: dict
    host_json_before: dict
    pck_sizes_before: dict
    run: Run
    second: Run


@pytest.fixture(scope="session")
def demo_runs(tmp_path_factory):
    """The demo hierarchy: --check --diff, a real run, a second run (shared by test_demo and test_report)."""
    lab = make_lab(SCENARIOS / "demo.yml", tmp_path_factory.mktemp("demo"))
    try:
        before = lab.state_hash()
        host_json_before = {h: lab.host_json(h) for h in lab.host_names}
        check = lab.playbook("--check", "--diff")
        after_check = lab.state_hash()
        services = {h: lab.services(h) for h in lab.host_names}
        sizes = {h: {p.name: p.stat().st_size for p in lab.local(h, "D:\\SMSPKG").glob("*")}
                 for h in lab.host_names}
        run = lab.playbook()
        second = lab.playbook()
        yield DemoRuns(lab, before, after_check, check, services, host_json_before, sizes, run, second)
    finally:
        lab.stop()
