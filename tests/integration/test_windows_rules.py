"""Issue 11: end to end, the lab refuses what Windows refuses, and the controller sends what Windows accepts.

The lab binds every script parameter as PowerShell does and compiles every regex as .NET does
(lab/smslab/handlers/ps_binding.py, dotnet_regex.py), so these runs fail where a real site server fails:

- the workaround with a user's package_file_pattern in Python syntax (``(?P<id>...)``, ``\\Z``): the host
  script throws "invalid IdPattern ... Unrecognized grouping construct" unless the controller translates
  the pattern (host_regex.to_dotnet). Before that translation every compressed_package call failed on
  Windows and no leftover was ever removed (defect 1);
- a quarantine folder that is not drive-absolute is refused by the host script, naming the host (defect 10).
"""

from __future__ import annotations

import json

import pytest
import yaml

from lab_harness import SCENARIOS, assert_ok_run

LEFTOVERS = {"sms610": {"60000012", "60000014"}, "sms620": {"60000012", "60000015"}, "sms630": {"60000016"}}
PYTHON_PATTERN = r"^(?P<id>[A-Za-z0-9]{3}[0-9A-Fa-f]{5})\.PCK\Z"


def test_workaround_with_a_python_pattern_override_removes_every_leftover(lab_factory):
    lab = lab_factory(SCENARIOS / "demo.yml", "net-regex")
    for host, ids in LEFTOVERS.items():
        assert all(lab.exists(host, f"D:\\SMSPKG\\{pid}.PCK") for pid in ids), host
    run = lab.playbook(extra_vars={"q244405_policy": "workaround",
                                   "q244405_sms20": {"package_file_pattern": PYTHON_PATTERN}},
                       hotfix_files=False)
    assert_ok_run(run)
    assert "invalid IdPattern" not in run.stdout
    for host, ids in LEFTOVERS.items():
        left = [pid for pid in ids if lab.exists(host, f"D:\\SMSPKG\\{pid}.PCK")]
        assert left == [], (host, left, run.stdout[-3000:])
        assert lab.exists(host, "D:\\SMSPKG\\60000013.PCK") or host != "sms610"      # active: kept


def test_a_relative_quarantine_folder_is_refused_by_the_host_naming_it(lab_factory, tmp_path):
    lab = lab_factory(SCENARIOS / "demo.yml", "relative-qdir")
    plays = [{"hosts": "all", "gather_facts": False, "tasks": [
        {"name": "Facts of every site (the origin evidence)", "sms.remediation.site_facts": {}}]},
        {"hosts": "sms630", "gather_facts": False, "tasks": [
            {"name": "Quarantine into a relative folder", "sms.remediation.compressed_package": {
                "state": "quarantined", "quarantine_dir": "SMSPKG-Q244405"}}]}]
    playbook = tmp_path / "relative.yml"
    playbook.write_text(yaml.safe_dump(plays, sort_keys=False), encoding="utf-8")
    run = lab.playbook(playbook=playbook, hotfix_files=False)
    assert run.rc != 0 and run.failed_hosts() == {"sms630"}, run.stdout[-3000:]
    assert "sms630" in run.stdout and "QuarantineDir must be a drive-absolute path" in run.stdout, run.stdout[-3000:]
    assert lab.exists("sms630", "D:\\SMSPKG\\60000016.PCK")                         # nothing moved


# A full WMI outage and a corrupt log on the same child (two faults on one host), beside a healthy child.
TWO_FAULTS = {
    "seed": 11,
    "credentials": {"user": "Administrator", "password": "Lab-Pass-1999"},
    "sites": [
        {"name": "sms600", "site_code": "600", "build": "sp2", "packages": {"active": ["60000001"]}},
        {"name": "sms610", "site_code": "610", "parent": "600", "build": "sp1", "logging": "on",
         "packages": {"active": ["60000001"], "leftovers": [{"id": "60000009", "log_claim": True}]},
         "faults": {"wmi_down": True, "corrupt_log": True}},
        {"name": "sms620", "site_code": "620", "parent": "600", "build": "sp1",
         "packages": {"active": ["60000001"], "leftovers": ["6000000B"]}},
    ],
}


@pytest.fixture(scope="module")
def two_faults(module_lab_factory):
    lab = module_lab_factory(TWO_FAULTS, "two-faults")
    run = lab.playbook(extra_vars={"q244405_policy": "workaround"}, hotfix_files=False)
    report = json.loads(lab.latest_report("run", "json").read_text(encoding="utf-8"))
    return lab, run, {h["host"]: h for h in report["hosts"]}


def test_a_host_with_a_full_wmi_outage_and_a_corrupt_log_keeps_its_files(two_faults):
    lab, run, _hosts = two_faults
    assert_ok_run(run, ["sms620"])
    assert not lab.exists("sms620", "D:\\SMSPKG\\6000000B.PCK")                    # the healthy child is done
    # Without WMI the site cannot say which packages are active (nor find its drives): nothing is removed.
    assert lab.exists("sms610", "D:\\SMSPKG\\60000009.PCK"), run.stdout[-3000:]


def test_the_report_says_why_the_host_with_a_wmi_outage_found_nothing(two_faults):
    """The probe's per-source errors reach the record: which sources failed and why, not a clean ok."""
    lab, _run, hosts = two_faults
    record = hosts["sms610"]
    assert record["status"] == "incomplete" and hosts["sms620"]["status"] == "ok", record
    texts = {item["source"]: item["text"] for item in record["sources_failed"]}
    assert texts["active_packages"].startswith("active packages unknown: ") and "0x80080005" in texts["active_packages"]
    assert texts["active_packages"].endswith("; nothing removed"), texts
    assert texts["package_folders"].startswith("package folders not listed: ") and "0x80080005" in texts["package_folders"]
    assert texts["processes"].startswith("whether the SMS Administrator console is open is unknown: "), texts
    assert record["summary"].startswith("incomplete: active packages unknown: "), record["summary"]
    markdown = lab.latest_report("run", "md").read_text(encoding="utf-8")
    assert "| sms610 | 610 | incomplete |" in markdown and "## Facts that could not be read" in markdown
    assert "**sms610** (package\\_folders): package folders not listed: " in markdown, markdown
