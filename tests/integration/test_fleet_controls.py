"""Fleet controls of remediate.yml: batches children first, q244405_stop_at_failed_child, one summary
line per batch. A three-level hierarchy where one grandchild's SMS_EXECUTIVE never stops (the hotfix
fails there); its sibling keeps the deepest batch from failing as a whole (ansible-core ends the
playbook when every host of a batch fails)."""

from __future__ import annotations

import json
import re

import pytest

from lab_harness import HOTFIX_VERSION

LEFTOVER = "A0000009"
SCENARIO = {
    "seed": 5,
    "sites": [
        {"name": "smsa00", "site_code": "A00", "build": "sp1", "packages": {"active": ["A0000001"]}},
        {"name": "smsa10", "site_code": "A10", "parent": "A00", "build": "sp1",
         "packages": {"active": ["A0000001"], "leftovers": [LEFTOVER]}},
        {"name": "smsa11", "site_code": "A11", "parent": "A10", "build": "sp1",
         "packages": {"active": ["A0000001"], "leftovers": [LEFTOVER]},
         "faults": {"service_wont_stop": ["SMS_EXECUTIVE"]}},
        {"name": "smsa12", "site_code": "A12", "parent": "A10", "build": "sp1",
         "packages": {"active": ["A0000001"], "leftovers": [LEFTOVER]}},
        {"name": "smsa20", "site_code": "A20", "parent": "A00", "build": "sp1",
         "packages": {"active": ["A0000001"], "leftovers": [LEFTOVER]}},
    ],
}
BATCH_LINE = re.compile(r'"msg": "(batch \d+/\d+: .*hosts done)"')


def pck(package_id: str) -> str:
    return f"D:\\SMSPKG\\{package_id}.PCK"


def batch_lines(run) -> list[str]:
    return BATCH_LINE.findall(run.stdout)


def report_of(lab) -> dict:
    report = json.loads(lab.latest_report("run", "json").read_text(encoding="utf-8"))
    return {h["host"]: h for h in report["hosts"]} | {"_totals": report["totals"]}


@pytest.fixture(scope="module")
def stop_on(module_lab_factory):
    lab = module_lab_factory(SCENARIO, "stop_on")
    run = lab.playbook("-e", "q244405_stop_at_failed_child=true")
    return lab, run, report_of(lab)


@pytest.fixture(scope="module")
def stop_off(module_lab_factory):
    lab = module_lab_factory(SCENARIO, "stop_off")
    run = lab.playbook()
    return lab, run, report_of(lab)


def test_batches_children_first_one_level_each(stop_on):
    _lab, run, _report = stop_on
    assert batch_lines(run) == [
        "batch 1/3: 1 ok, 1 failed, 0 skipped; leftovers removed 2 (" + batch_lines(run)[0].split("(", 1)[1],
        "batch 2/3: 1 ok, 0 failed, 1 skipped; leftovers removed 1 (" + batch_lines(run)[1].split("(", 1)[1],
        "batch 3/3: 0 ok, 0 failed, 1 skipped; leftovers removed 0 (0 B); 5/5 hosts done",
    ], run.stdout[-5000:]
    assert batch_lines(run)[0].endswith("; 2/5 hosts done")
    assert batch_lines(run)[1].endswith("; 4/5 hosts done")
    order = re.findall(r"\(item=(sms\w+)\)", run.stdout)
    assert order[:2] == ["smsa11", "smsa12"] and order[-1] == "smsa00", order


def test_parent_of_failed_child_is_skipped(stop_on):
    lab, run, report = stop_on
    assert run.recap["smsa11"]["failed"] == 1, run.recap
    assert run.recap["localhost"]["failed"] == 0, "the report play must run"
    for host in ("smsa10", "smsa00"):
        assert run.recap[host]["failed"] == 0 and run.recap[host]["changed"] == 0, (host, run.recap[host])
        assert report[host]["status"] == "skipped", report[host]
        assert lab.exists(host, pck(LEFTOVER)) or host == "smsa00"
        assert lab.file_version(host, lab.distmgr_path(host)) != HOTFIX_VERSION, host
    assert "child site A11 (smsa11) failed" in report["smsa10"]["error"]
    assert "q244405_stop_at_failed_child" in report["smsa10"]["error"]
    assert "child site A10 (smsa10) was skipped" in report["smsa00"]["error"]
    assert report["_totals"]["skipped"] == 2 and report["_totals"]["failed"] == 1
    # the skipped parent's leftovers are still listed (kept), from its facts
    rows = {row["package_id"]: row["action"] for row in report["smsa10"]["leftovers"]}
    assert rows[LEFTOVER] == "kept" and set(rows.values()) == {"kept"}, rows


def test_siblings_and_other_branches_are_remediated(stop_on):
    lab, run, report = stop_on
    for host in ("smsa12", "smsa20"):
        assert report[host]["status"] == "ok", report[host]
        assert not lab.exists(host, pck(LEFTOVER)), host
        assert lab.file_version(host, lab.distmgr_path(host)) == HOTFIX_VERSION, host
        assert run.recap[host]["changed"] >= 1


def test_without_the_option_the_parent_is_remediated(stop_off):
    lab, run, report = stop_off
    assert run.recap["smsa11"]["failed"] == 1
    for host in ("smsa00", "smsa10", "smsa12", "smsa20"):
        assert report[host]["status"] == "ok", report[host]
        assert lab.file_version(host, lab.distmgr_path(host)) == HOTFIX_VERSION, host
    assert not lab.exists("smsa10", pck(LEFTOVER))
    lines = batch_lines(run)
    assert len(lines) == 1 and lines[0].startswith("batch 1/1: 4 ok, 1 failed, 0 skipped; leftovers removed 4 ("), lines
    assert lines[0].endswith("; 5/5 hosts done")


def test_serial_batches_report_progress(module_lab_factory):
    lab = module_lab_factory(SCENARIO, "serial")
    run = lab.playbook("--check", "-e", "q244405_serial=2")
    lines = batch_lines(run)
    assert [line.split(":")[0] for line in lines] == ["batch 1/3", "batch 2/3", "batch 3/3"], run.stdout[-4000:]
    assert [line.rsplit("; ", 1)[1] for line in lines] == ["2/5 hosts done", "4/5 hosts done", "5/5 hosts done"]
    assert all("would remove" in line for line in lines)
