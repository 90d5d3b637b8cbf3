"""lab/scenarios/hierarchy.yml end to end over msrpc (Samba for SMB, \\winreg and \\svcctl; the lab's DCOM
responder for WMI), next to the same scenario over winrm: the same classification and the same removals,
``ActionInProgress = 3`` kept, --check changes nothing, a second run changes nothing, and a child whose WMI
is down keeps every file and says why.

Skipped only when this machine cannot run the Samba lab (``samba_available()``); the WMI responder binds
port 135 of 127.0.0.x addresses, so the tests run as root (as the lab does in CI).
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from lab_harness import ROOT, SCENARIOS, VENV_BIN, Run, ansible_env, assert_ok_run, make_lab, parse_recap, tree_digest
from smslab.msrpc_lab import MsrpcLab
from smslab.samba.testing import require_samba
from smslab.scenario import build_state_dir
from smslab.state import HostState

PLAYBOOK = ROOT / "playbooks" / "remediate.yml"
HOSTS = ["sms700", "sms711", "sms712", "sms713"]
CHILDREN = HOSTS[1:]
DELETING = ("sms712", "71200001")            # ActionInProgress 3 in the scenario


@dataclass
class SiteLab:
    """The msrpc lab of the hierarchy and ansible-playbook runs against it."""
    state_dir: Path
    lab: MsrpcLab
    inventory: Path
    env: dict

    @property
    def report_dir(self) -> Path:
        return self.state_dir / "reports"

    def pcks(self, host: str) -> list[str]:
        return sorted(p.stem for p in (self.state_dir / "hosts" / host / "fs" / "D" / "SMSPKG").glob("*.PCK"))

    def hosts_digest(self) -> str:
        return tree_digest(self.state_dir / "hosts")

    def playbook(self, *args: str, extra_vars: dict | None = None) -> Run:
        variables = {"q244405_report_dir": str(self.report_dir),
                     "q244405_hotfix_files": {p: str(self.state_dir / "hotfix" / p / "Distmgr.dll")
                                              for p in ("i386", "alpha")}}
        variables.update(extra_vars or {})
        done = subprocess.run([str(VENV_BIN / "ansible-playbook"), "-i", str(self.inventory), str(PLAYBOOK),
                               "-e", json.dumps(variables), *args], capture_output=True, text=True, env=self.env,
                              timeout=900, cwd=ROOT, check=False)
        output = done.stdout + ("\n--- stderr ---\n" + done.stderr if done.stderr else "")
        return Run(done.returncode, output, parse_recap(done.stdout), tuple(args))

    def report(self, mode: str) -> dict:
        found = sorted(self.report_dir.glob(f"q244405-{mode}-*.json"))
        assert found, f"no {mode} report in {self.report_dir}"
        return json.loads(found[-1].read_text(encoding="utf-8"))

    def stop(self) -> None:
        self.lab.stop()


def start_msrpc_lab(root: Path, faults: dict | None = None) -> SiteLab:
    require_samba()
    state_dir = root / "state"
    build_state_dir(SCENARIOS / "hierarchy.yml", state_dir)
    for name, host_faults in (faults or {}).items():
        state = HostState.load(state_dir / "hosts" / name)
        state.faults.update(host_faults)
        state.save()
    lab = MsrpcLab(state_dir, extra_vars={"q244405_msrpc_cache_dir": str(root / "msrpc-cache"),
                                          "q244405_msrpc_timeout": 30}).start()
    return SiteLab(state_dir, lab, lab.write_inventory(root / "inventory.yml"), ansible_env(root))


def classification(report: dict) -> dict:
    """{host: {package: (status, evidence level, action)}} and the removals, the transport left out."""
    result = {}
    for entry in report["hosts"]:
        rows = {row["package_id"]: (row.get("status"), row.get("evidence_level"), row.get("action"))
                for row in entry.get("leftovers") or []}
        result[entry["host"]] = {"leftovers": rows, "removed": sorted(entry.get("removed") or [])}
    return result


@dataclass
class Runs:
    check: Run
    run: Run
    second: Run
    digest_before: str
    digest_after_check: str
    pck_before: dict
    pck_after: dict
    check_report: dict
    run_report: dict
    origin_active: set


@pytest.fixture(scope="module")
def over_msrpc(tmp_path_factory):
    lab = start_msrpc_lab(tmp_path_factory.mktemp("msrpc-hierarchy"))
    try:
        pck_before = {h: lab.pcks(h) for h in HOSTS}
        before = lab.hosts_digest()
        check = lab.playbook("--check", "--diff")
        after_check = lab.hosts_digest()
        check_report = lab.report("check")
        run = lab.playbook()
        run_report = lab.report("run")
        second = lab.playbook()
        origin = {p["PackageID"] for p in HostState.load(lab.state_dir / "hosts" / HOSTS[0]).wmi["packages"]}
        yield Runs(check, run, second, before, after_check, pck_before, {h: lab.pcks(h) for h in HOSTS},
                   check_report, run_report, origin)
    finally:
        lab.stop()


@pytest.fixture(scope="module")
def over_winrm(tmp_path_factory):
    lab = make_lab(SCENARIOS / "hierarchy.yml", tmp_path_factory.mktemp("winrm-hierarchy"))
    try:
        lab.playbook("--check", "--diff")
        check_report = json.loads(lab.latest_report("check", "json").read_text(encoding="utf-8"))
        lab.playbook()
        run_report = json.loads(lab.reports("run", "json")[0].read_text(encoding="utf-8"))
        yield check_report, run_report
    finally:
        lab.stop()


def test_every_run_over_msrpc_succeeds(over_msrpc):
    for run in (over_msrpc.check, over_msrpc.run, over_msrpc.second):
        assert_ok_run(run, HOSTS)


def test_check_mode_changes_nothing_on_any_host(over_msrpc):
    assert over_msrpc.digest_after_check == over_msrpc.digest_before


def test_the_same_classification_and_removals_as_over_winrm(over_msrpc, over_winrm):
    winrm_check, winrm_run = over_winrm
    assert classification(over_msrpc.check_report) == classification(winrm_check)
    assert classification(over_msrpc.run_report) == classification(winrm_run)
    assert any(entry["removed"] for entry in classification(over_msrpc.run_report).values()), \
        "the scenario's confirmed leftovers were not removed"


def test_the_report_names_the_transport(over_msrpc):
    named = {entry["host"]: entry.get("transport") or (entry.get("site") or {}).get("transport")
             for entry in over_msrpc.run_report["hosts"]}
    assert named == {host: "msrpc" for host in HOSTS}


def test_a_deletion_in_progress_is_kept(over_msrpc):
    host, package = DELETING
    assert package in over_msrpc.pck_before[host], "the scenario has no .PCK for the deleting package"
    assert package in over_msrpc.pck_after[host]
    row = classification(over_msrpc.run_report)[host]["leftovers"].get(package)
    assert row is None or row[2] != "removed"


def test_packages_active_at_the_origin_are_never_removed(over_msrpc):
    origin_active = over_msrpc.origin_active
    assert origin_active, "the parent lists no package"
    for host in CHILDREN:
        assert not set(classification(over_msrpc.run_report)[host]["removed"]) & origin_active, host
        assert set(over_msrpc.pck_before[host]) & origin_active <= set(over_msrpc.pck_after[host]), host


def test_a_second_run_changes_nothing(over_msrpc):
    assert {h: over_msrpc.second.recap.get(h, {}).get("changed") for h in HOSTS} == {h: 0 for h in HOSTS}


def test_wmi_down_on_a_child_removes_nothing_there_and_says_why(tmp_path):
    lab = start_msrpc_lab(tmp_path, faults={"sms711": {"wmi_unavailable": True}})
    try:
        before = lab.pcks("sms711")
        run = lab.playbook()
        assert lab.pcks("sms711") == before
        report = {entry["host"]: entry for entry in lab.report("run")["hosts"]}
        assert not report["sms711"].get("removed")
        assert "WBEM_E_INVALID_NAMESPACE" in json.dumps(report["sms711"]), report["sms711"]
        assert report["sms713"].get("removed"), "the healthy children still remove their confirmed leftovers"
        assert "sms711" not in run.failed_hosts() or "WBEM_E_INVALID_NAMESPACE" in run.stdout
    finally:
        lab.stop()


def test_the_installer_method_runs_q244405_exe_through_wmi(tmp_path):
    lab = start_msrpc_lab(tmp_path)
    try:
        run = lab.playbook(extra_vars={"q244405_hotfix_method": "installer",
                                       "q244405_hotfix_installer_path": "C:\\SMSHOTFIX\\Q244405\\Q244405.exe"})
        assert_ok_run(run, ["sms711", "sms712"])
        report = {entry["host"]: entry for entry in lab.report("run")["hosts"]}
        for host in ("sms711", "sms712"):                  # SP1 on I386: the installer applies
            state = HostState.load(lab.state_dir / "hosts" / host)
            assert state.file_version("C:\\SMS\\bin\\i386\\Distmgr.dll") == "2.00.1380.1083", host
            assert report[host]["hotfix"]["method"] == "installer", report[host]["hotfix"]
            assert report[host]["hotfix"]["applied"] is True, report[host]["hotfix"]
        started = {host: [p["exit_code"] for p in lab.lab.wmi.started_processes(host)] for host in ("sms711", "sms712")}
        assert started == {"sms711": [0], "sms712": [0]}         # each ran once, through Win32_Process.Create
    finally:
        lab.stop()
