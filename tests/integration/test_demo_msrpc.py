"""``bash scripts/demo.sh --transport msrpc`` end to end, as a person runs it: the demo hierarchy with every site over
Samba and the lab's WMI responder, --check --diff, a real run, a second run with changed=0, the report it points to,
and no server left. The hotfix goes by both KB methods: the installer on the I386 child through WMI, the Distmgr.dll
swap on the Alpha child over SMB. Its report is compared with the winrm demo's.

Skipped only when this machine cannot run the Samba lab; the WMI responder binds port 135, so it runs as root.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from lab_harness import HOTFIX_VERSION, ROOT, parse_recap
from smslab.samba.testing import require_samba
from smslab.state import HostState
from test_demo import ACTIVE, CONFIRMED, HOSTS, pck
from test_msrpc_hierarchy import classification

DEMO = ROOT / "scripts" / "demo.sh"
INSTALLER_HOST = "sms610"          # SP1 on I386: lab/inventory/demo-msrpc.yml sets the installer method there
MANUAL_HOST = "sms620"             # SP1 on Alpha: the installer is I386 only, the swap (the default method) serves it
HEADER = re.compile(r"^==== ansible-playbook playbooks/remediate\.yml(?P<args>.*) \(every site over (?P<t>\w+)\) ====$",
                    re.M)


@dataclass
class Demo:
    rc: int
    output: str
    state_dir: Path
    sections: dict          # "--check --diff" / "run" / "rerun" -> that run's output
    left_after: str         # processes of this lab still running once the script has ended

    def recap(self, name: str) -> dict:
        assert self.rc == 0, f"the demo failed (rc {self.rc}):\n{self.output[-6000:]}"
        return parse_recap(self.sections[name])

    def host(self, name: str) -> HostState:
        return HostState.load(self.state_dir / "hosts" / name)

    def run_report(self) -> dict:
        printed = re.search(r"^Report: +(\S+\.html) ", self.output, re.M)
        assert printed, f"the demo printed no report path:\n{self.output[-3000:]}"
        return json.loads(Path(printed.group(1)).with_suffix(".json").read_text(encoding="utf-8"))

    def first_run_report(self) -> dict:
        runs = sorted((self.state_dir / "reports").glob("q244405-run-*.json"))
        return json.loads(runs[0].read_text(encoding="utf-8"))


def split_runs(output: str) -> dict:
    marks = list(HEADER.finditer(output))
    assert [m.group("t") for m in marks] == ["msrpc"] * 3, f"not three msrpc runs:\n{output[-3000:]}"
    ends = [m.start() for m in marks[1:]] + [len(output)]
    return {name: output[m.end():end] for name, m, end in zip(("check", "run", "rerun"), marks, ends)}


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Demo:
    require_samba()
    state_dir = tmp_path_factory.mktemp("demo-msrpc") / "lab-state"
    done = subprocess.run(["bash", str(DEMO), "--transport", "msrpc"], capture_output=True, text=True, timeout=1200,
                          env=dict(os.environ, SMS_LAB_STATE=str(state_dir)), cwd=ROOT, check=False)
    output = done.stdout + "\n--- stderr ---\n" + done.stderr
    left = subprocess.run(["pgrep", "-af", "--", str(state_dir)], capture_output=True, text=True, check=False).stdout
    return Demo(done.returncode, output, state_dir, split_runs(done.stdout) if done.returncode == 0 else {}, left)


def test_the_demo_succeeds_and_every_run_is_clean(demo):
    assert demo.rc == 0, demo.output[-6000:]
    for name in ("check", "run", "rerun"):
        recap = demo.recap(name)
        assert set(HOSTS) <= set(recap), (name, recap)
        assert all(recap[h]["failed"] == 0 and recap[h]["unreachable"] == 0 for h in HOSTS), (name, recap)


def test_check_diff_shows_the_removals_and_the_hotfix(demo):
    assert demo.rc == 0, demo.output[-6000:]
    check = demo.sections["check"]
    for package_ids in CONFIRMED.values():
        for package_id in package_ids:
            assert f"-{pck(package_id)}" in check, package_id
    for package_ids in ACTIVE.values():
        for package_id in package_ids:
            assert f"-{pck(package_id)}" not in check, package_id
    assert "-Distmgr.dll 2.00.1380.1000" in check and "+Distmgr.dll fixed" in check


def test_the_real_run_removes_the_confirmed_leftovers_and_the_rerun_changes_nothing(demo):
    assert all(demo.recap("run")[h]["changed"] > 0 for h in CONFIRMED)
    assert {h: demo.recap("rerun")[h]["changed"] for h in HOSTS} == {h: 0 for h in HOSTS}
    removed = {entry["host"]: sorted(entry.get("removed") or []) for entry in demo.first_run_report()["hosts"]}
    assert removed == {host: sorted(CONFIRMED.get(host, [])) for host in HOSTS}
    for host, package_ids in CONFIRMED.items():
        still = [p for p in package_ids if demo.host(host).exists(pck(p))]
        assert not still, (host, still)
    for host, package_ids in ACTIVE.items():
        assert all(demo.host(host).exists(pck(p)) for p in package_ids), host


def test_the_i386_child_got_the_installer_through_wmi(demo):
    hotfix = {entry["host"]: entry["hotfix"] for entry in demo.first_run_report()["hosts"]}[INSTALLER_HOST]
    assert (hotfix["method"], hotfix["applied"]) == ("installer", True), hotfix
    state = demo.host(INSTALLER_HOST)
    dll = "C:\\SMS\\bin\\i386\\Distmgr.dll"
    assert state.file_version(dll) == HOTFIX_VERSION
    assert state.exists("C:\\SMS\\Logs\\Q244405.log"), "the installer writes its log"
    assert not state.exists(dll + ".pre-Q244405"), "a backup beside Distmgr.dll means the manual transaction ran"


def test_the_alpha_child_got_the_manual_swap_over_smb(demo):
    hotfix = {entry["host"]: entry["hotfix"] for entry in demo.first_run_report()["hosts"]}[MANUAL_HOST]
    assert (hotfix["method"], hotfix["applied"]) == ("manual", True), hotfix
    state = demo.host(MANUAL_HOST)
    dll = "C:\\SMS\\bin\\alpha\\Distmgr.dll"
    assert state.file_version(dll) == HOTFIX_VERSION
    assert state.read_bytes(dll) == (demo.state_dir / "hotfix" / "alpha" / "Distmgr.dll").read_bytes()
    assert state.file_version(dll + ".pre-Q244405") == "2.00.1380.1000", "the swap keeps the old DLL beside it"
    log = state.read_bytes("C:\\SMS\\Logs\\Q244405.log").decode("utf-8", "replace")
    assert "(alpha) replaced" in log and "hotfix_transaction" in log, f"not the swap's log line: {log!r}"
    assert state.services["SMS_SITE_BACKUP"]["state"] == "running", "restarted as it was"


def test_the_printed_report_is_the_rerun_over_msrpc(demo):
    report = demo.run_report()
    assert report["meta"]["check_mode"] is False
    assert {e["host"]: (e.get("site") or {}).get("transport") for e in report["hosts"]} == dict.fromkeys(HOSTS, "msrpc")
    assert report["totals"]["leftovers_removed"] == 0 and report["totals"]["failed"] == 0


def test_the_same_classification_and_removals_as_the_winrm_demo(demo, demo_runs):
    winrm_run = json.loads(demo_runs.lab.reports("run", "json")[0].read_text(encoding="utf-8"))
    assert classification(demo.first_run_report()) == classification(winrm_run)
    winrm_applied = {e["host"] for e in winrm_run["hosts"] if e["hotfix"]["applied"]}
    msrpc_applied = {e["host"] for e in demo.first_run_report()["hosts"] if e["hotfix"]["applied"]}
    assert msrpc_applied == winrm_applied == {INSTALLER_HOST, MANUAL_HOST}    # the same sites, by either method
    methods = {e["host"]: e["hotfix"]["method"] for e in demo.first_run_report()["hosts"] if e["hotfix"]["applied"]}
    assert methods == {INSTALLER_HOST: "installer", MANUAL_HOST: "manual"}


def test_no_server_of_the_demo_is_left(demo):
    assert demo.rc == 0, demo.output[-3000:]
    assert "Servers:     stopped" in demo.output
    assert demo.left_after == "", f"processes of the demo's lab still run:\n{demo.left_after}"


def test_without_root_the_msrpc_demo_says_why_and_starts_nothing(tmp_path):
    """Runs the demo as ``nobody``. That user may not enter the checkout's folders (a clone under a 0700 folder,
    as any ``mktemp -d`` or home folder is), so the script is copied, with the layout it expects, into a folder
    made for ``nobody`` to read: the test checks the demo's message, not the machine's folder modes."""
    if os.geteuid() != 0:
        pytest.skip("needs root: runs the demo as the user nobody (su)")
    readable = Path(tempfile.mkdtemp(prefix="sms-demo-nobody-"))
    try:
        readable.chmod(0o755)
        (readable / "scripts").mkdir(mode=0o755)
        copy = readable / "scripts" / "demo.sh"
        shutil.copyfile(DEMO, copy)
        copy.chmod(0o644)
        state_dir = tmp_path / "state"
        done = subprocess.run(["su", "nobody", "-s", "/bin/bash", "-c", f"bash {shlex.quote(str(copy))} --transport msrpc"],
                              capture_output=True, text=True, timeout=60, cwd="/", check=False,
                              env=dict(os.environ, SMS_LAB_STATE=str(state_dir)))
    finally:
        shutil.rmtree(readable)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "must run as root" in done.stderr and "port 135" in done.stderr, done.stderr
    assert not state_dir.exists()
