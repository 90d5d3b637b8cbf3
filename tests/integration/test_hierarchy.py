"""lab/scenarios/hierarchy.yml end to end: evidence levels with logging on at one child only, and the
opt-in q244405_enable_distmgr_logging (--check --diff changes nothing, a real run sets Enabled=1, a
second run changes nothing)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
import yaml

from lab_harness import SCENARIOS, Lab, Run, assert_ok_run, assert_second_run_changes_nothing, make_lab

PARENT = "sms700"
CHILDREN = ["sms711", "sms712", "sms713"]
HOSTS = [PARENT, *CHILDREN]
LOGGING_ON = {"sms712"}
TRACING = "HKLM\\SOFTWARE\\Microsoft\\SMS\\Tracing\\SMS_DISTRIBUTION_MANAGER"
TRACING_PS = "HKLM:\\SOFTWARE\\Microsoft\\SMS\\Tracing\\SMS_DISTRIBUTION_MANAGER"
# Leftovers of the scenario and the evidence the collection must find for each (strongest first).
EVIDENCE = {
    "sms711": {"70000003": "origin"},
    "sms712": {"70000003": "log_and_origin", "70000004": "log_and_origin"},   # 70000004: claim in Distmgr.lo_
    "sms713": {"70000003": "origin", "70000004": "origin"},
}
LOGGING = {"q244405_enable_distmgr_logging": True}


def pck(package_id: str) -> str:
    return f"D:\\SMSPKG\\{package_id}.PCK"


def tracing(lab: Lab, host: str) -> dict:
    registry = lab.host_json(host)["registry"]
    return next(values for key, values in registry.items() if key.lower() == TRACING.lower())


def origin_active(lab: Lab) -> set[str]:
    return {p["PackageID"] for p in lab.host_json(PARENT)["wmi"]["packages"]}


def report_of(run_index_path) -> dict:
    return json.loads(run_index_path.read_text(encoding="utf-8"))


@dataclass
class HierarchyRuns:
    lab: Lab
    hash_before_check: str
    hash_after_check: str
    enabled_before: dict
    pck_before: dict
    check: Run
    run: Run
    second: Run
    check_report: dict
    run_report: dict


@pytest.fixture(scope="module")
def hierarchy(tmp_path_factory):
    lab = make_lab(SCENARIOS / "hierarchy.yml", tmp_path_factory.mktemp("hierarchy"))
    try:
        enabled_before = {h: tracing(lab, h).get("Enabled") for h in HOSTS}
        pck_before = {h: sorted(p.stem for p in lab.local(h, "D:\\SMSPKG").glob("*.PCK")) for h in HOSTS}
        before = lab.state_hash()
        check = lab.playbook("--check", "--diff", extra_vars=LOGGING)
        after_check = lab.state_hash()
        check_report = report_of(lab.latest_report("check", "json"))
        run = lab.playbook(extra_vars=LOGGING)
        run_report = report_of(lab.reports("run", "json")[0])
        second = lab.playbook(extra_vars=LOGGING)
        yield HierarchyRuns(lab, before, after_check, enabled_before, pck_before, check, run, second,
                            check_report, run_report)
    finally:
        lab.stop()


def by_host(report: dict) -> dict:
    return {entry["host"]: entry for entry in report["hosts"]}


# ---- the scenario is what the tests assume ----------------------------------------------------------
def test_scenario_has_one_parent_three_children_logging_on_one_child(hierarchy):
    lab = hierarchy.lab
    assert lab.host_names == sorted(HOSTS)
    assert {h: bool(v) for h, v in hierarchy.enabled_before.items()} == {h: h in LOGGING_ON for h in HOSTS}
    for child in CHILDREN:
        identification = lab.host_json(child)["registry"]["HKLM\\SOFTWARE\\Microsoft\\SMS\\Identification"]
        assert identification["Parent Site Code"] == "700", child


# ---- evidence ---------------------------------------------------------------------------------------
def test_evidence_level_of_each_leftover(hierarchy):
    hosts = by_host(hierarchy.run_report)
    for host, expected in EVIDENCE.items():
        rows = {r["package_id"]: r for r in hosts[host]["leftovers"] if r["package_id"] in expected}
        assert {pid: r["evidence_level"] for pid, r in rows.items()} == expected, host
        for pid, row in rows.items():
            assert row["status"] == "stale_confirmed", (host, pid, row)
            assert row["action"] == "removed", (host, pid, row)


def test_leftovers_removed_and_nothing_else(hierarchy):
    lab = hierarchy.lab
    for host in HOSTS:
        expected = sorted(set(hierarchy.pck_before[host]) - set(EVIDENCE.get(host, {})))
        after = sorted(p.stem for p in lab.local(host, "D:\\SMSPKG").glob("*.PCK"))
        assert after == expected, host


def test_packages_present_at_the_origin_are_never_removed(hierarchy):
    lab = hierarchy.lab
    active_at_origin = origin_active(lab)
    assert active_at_origin, "the parent lists no package"
    for host in CHILDREN:
        removed = set(by_host(hierarchy.run_report)[host]["removed"])
        assert not removed & active_at_origin, host
        for package_id in set(hierarchy.pck_before[host]) & active_at_origin:
            assert lab.exists(host, pck(package_id)), f"{host}: {package_id} is active at 700 and was removed"
    assert lab.exists("sms712", pck("71200001")), "a package being deleted is left to Distribution Manager"


def test_report_says_no_log_evidence_where_logging_is_off(hierarchy):
    for report in (hierarchy.check_report, hierarchy.run_report):
        hosts = by_host(report)
        for host in HOSTS:
            site = hosts[host]["site"]
            if host in LOGGING_ON:
                assert site["log_evidence"] is True, host
                assert "no log evidence" not in hosts[host]["summary"], host
                continue
            assert site["log_evidence"] is False, host
            assert "logging is off" in site["logging_note"], (host, site)
            assert "no log evidence on this site" in site["logging_note"], (host, site)
            assert "no log evidence on this site" in hosts[host]["summary"], host
        for host, ids in EVIDENCE.items():
            reasons = {r["package_id"]: r["reason"] for r in hosts[host]["leftovers"]}
            for package_id in ids:
                if host in LOGGING_ON:
                    assert "Distmgr.log claims" in reasons[package_id], (host, package_id)
                else:
                    assert "no log evidence" in reasons[package_id], (host, package_id)


# ---- --check --diff with the logging option ---------------------------------------------------------
def test_check_with_logging_shows_the_registry_diff_and_changes_nothing(hierarchy):
    check = hierarchy.check
    assert check.rc == 0, check.stdout[-4000:]
    assert_ok_run(check, HOSTS)
    assert hierarchy.hash_before_check == hierarchy.hash_after_check, "--check changed hosts/"
    out = check.stdout
    # the callback prints the diff as JSON: backslashes doubled
    assert json.dumps(TRACING_PS) in out, out[-4000:]
    assert '-            "value": "0x00000000"' in out and '+            "value": "0x00000001"' in out, \
        "no before/after of Enabled in the diff"
    assert out.count(json.dumps(TRACING_PS)) == len(HOSTS) - len(LOGGING_ON), "one registry diff per host with logging off"
    hosts = by_host(hierarchy.check_report)
    for host in HOSTS:
        assert hosts[host]["logging"]["would_enable"] is (host not in LOGGING_ON), host
        assert hosts[host]["logging"]["enabled_by_run"] is False, host
    assert hierarchy.check_report["totals"]["logging_would_enable"] == len(HOSTS) - len(LOGGING_ON)
    assert hierarchy.check_report["totals"]["logging_enabled_by_run"] == 0


# ---- the real run and the second run ----------------------------------------------------------------
def test_real_run_sets_enabled_where_it_was_off(hierarchy):
    run, lab = hierarchy.run, hierarchy.lab
    assert run.rc == 0, run.stdout[-4000:]
    assert_ok_run(run, HOSTS)
    for host in HOSTS:
        assert tracing(lab, host)["Enabled"] == 1, host
        assert tracing(lab, host)["MaxFileSize"] == 1048576, f"{host}: MaxFileSize must stay as it was"
    hosts = by_host(hierarchy.run_report)
    for host in HOSTS:
        logging = hosts[host]["logging"]
        assert logging["enabled_by_run"] is (host not in LOGGING_ON), host
        assert logging["would_enable"] is False and logging["executive_restarted"] is False, host
        if host not in LOGGING_ON:
            assert logging["takes_effect"] == "at the next restart of SMS_EXECUTIVE"
            assert "logging enabled by this run" in hosts[host]["summary"], host
    assert hierarchy.run_report["totals"]["logging_enabled_by_run"] == len(HOSTS) - len(LOGGING_ON)


def test_second_run_changes_nothing(hierarchy):
    assert_second_run_changes_nothing(hierarchy.second, HOSTS)


# ---- the hotfix: SP1 children swapped, the RTM child refused (another build) --------------------------
def test_the_rtm_child_keeps_its_distmgr_and_the_report_says_why(hierarchy):
    """The KB's hotfix Distmgr.dll is the SP1 bundle's (build 1380); on RTM (1239) the controller refuses it
    without allow_cross_build (issue 11 defect 8), before any call to the host, and the site stays affected."""
    lab, hosts = hierarchy.lab, by_host(hierarchy.run_report)
    for host in ("sms711", "sms712"):
        assert (hosts[host]["hotfix"]["method"], hosts[host]["hotfix"]["applied"]) == ("manual", True), host
    rtm = "sms713"
    dll = lab.distmgr_path(rtm)
    assert lab.file_version(rtm, dll) == "2.00.1239.0000" and not lab.exists(rtm, dll + ".pre-Q244405")
    hotfix = (lab.state_dir / "hotfix" / "i386" / "Distmgr.dll").read_bytes()
    holding = {h: [f for f in (lab.hosts_dir / h / "fs").rglob("*") if f.is_file() and f.read_bytes() == hotfix]
               for h in ("sms711", rtm)}
    assert holding["sms711"] and not holding[rtm], holding      # not even staged on the RTM site
    for report in (hierarchy.check_report, hierarchy.run_report):
        record = by_host(report)[rtm]
        assert record["status"] == "ok" and record["q244405"]["affected"] is True, record
        reason = record["hotfix"]["reason"] or ""
        assert record["hotfix"]["applied"] is False and "allow_cross_build" in reason and "build 1239" in reason, \
            record["hotfix"]
    assert hierarchy.check_report["totals"]["hotfix_would_apply"] == 2
    assert hierarchy.run_report["totals"]["hotfix_applied"] == 2
    assert hierarchy.run_report["totals"]["affected"] == 1


# ---- restarting SMS_EXECUTIVE so it takes effect now ------------------------------------------------
def test_restart_executive_option(lab_factory):
    lab = lab_factory(SCENARIOS / "hierarchy.yml", name="restart")
    services_before = {h: lab.services(h) for h in HOSTS}
    run = lab.playbook(extra_vars={"q244405_policy": "report", **LOGGING,
                                   "q244405_distmgr_logging_restart_executive": True})
    assert run.rc == 0, run.stdout[-4000:]
    assert_ok_run(run, HOSTS)
    report = by_host(report_of(lab.latest_report("run", "json")))
    for host in HOSTS:
        assert tracing(lab, host)["Enabled"] == 1, host
        assert lab.services(host) == services_before[host], f"{host}: services must end as they were"
        logging = report[host]["logging"]
        assert logging["executive_restarted"] is (host not in LOGGING_ON), host
        if host not in LOGGING_ON:
            assert logging["takes_effect"] == "now (SMS_EXECUTIVE restarted)", host
    # report policy: nothing else changed
    for host in CHILDREN:
        assert report[host]["removed"] == [], host
        assert report[host]["hotfix"]["applied"] is False, host


# ---- a leftover whose package is still active at its origin ----------------------------------------
def test_a_copy_still_active_at_the_origin_is_kept_whatever_the_evidence_option(lab_factory):
    scenario = yaml.safe_load((SCENARIOS / "hierarchy.yml").read_text(encoding="utf-8"))
    sms711 = next(site for site in scenario["sites"] if site["name"] == "sms711")
    sms711["packages"]["leftovers"].append(70000002)      # not active at 711, active at its origin 700
    lab = lab_factory(scenario, name="origin-active")
    assert "70000002" in origin_active(lab)
    assert lab.exists("sms711", pck("70000002"))
    run = lab.playbook(extra_vars={"q244405_policy": "workaround", "q244405_min_evidence": "absent_here"})
    assert run.rc == 0, run.stdout[-4000:]
    assert lab.exists("sms711", pck("70000002")), "a package active at its origin was removed"
    assert not lab.exists("sms711", pck("70000003"))
    rows = {r["package_id"]: r for r in by_host(report_of(lab.latest_report("run", "json")))["sms711"]["leftovers"]}
    assert rows["70000002"]["action"] != "removed", rows["70000002"]
    assert not rows["70000002"]["actionable"], rows["70000002"]
