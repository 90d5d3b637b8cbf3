"""The demo hierarchy end to end: --check --diff changes nothing, a real run fixes it, a second run is a no-op."""

from __future__ import annotations

import json


from lab_harness import HOTFIX_VERSION, assert_ok_run, assert_second_run_changes_nothing

HOSTS = ["sms600", "sms610", "sms620", "sms630"]
# Leftovers the collection classifies stale_confirmed on the demo (log + origin, or origin with logging off).
CONFIRMED = {"sms610": ["60000012", "60000014"], "sms620": ["60000012", "60000015"], "sms630": ["60000016"]}
# Every leftover the scenario puts on the children (deleted at 600, copies left behind: the Q244405 bug).
SCENARIO_LEFTOVERS = {"sms610": ["60000012", "60000014"], "sms620": ["60000012", "60000015"],
                      "sms630": ["60000016"]}
ACTIVE = {"sms600": ["60000001", "60000002", "60000003", "60000013"], "sms610": ["60000013", "61000001"],
          "sms620": ["60000013"], "sms630": []}
# host -> Distmgr.dll before: both SP1 children get the default (manual) swap, 620 its Alpha DLL. The RTM
# refusal (issue 11 defect 8) is hierarchy.yml's 713 (test_hierarchy.py).
FIXED_BY_RUN = {"sms610": "2.00.1380.1000", "sms620": "2.00.1380.1000"}
SENDER_FILE = "C:\\SMS\\inboxes\\despoolr.box\\receive\\2_4O7PRI.PCK"


def pck(package_id: str) -> str:
    return f"D:\\SMSPKG\\{package_id}.PCK"


# ---- check mode ----------------------------------------------------------------------------------
def test_check_mode_changes_nothing(demo_runs):
    assert demo_runs.check.rc == 0, demo_runs.check.stdout[-4000:]
    assert_ok_run(demo_runs.check, HOSTS)
    assert demo_runs.hash_before_check == demo_runs.hash_after_check, "--check changed hosts/"


def test_check_mode_diff_lists_removals_and_hotfix(demo_runs):
    out = demo_runs.check.stdout
    for host, ids in CONFIRMED.items():
        for package_id in ids:
            assert f"-{pck(package_id)}" in out, f"{host}: no diff line for {package_id}"
    for before in FIXED_BY_RUN.values():
        assert f"-Distmgr.dll {before}" in out
    assert out.count("+Distmgr.dll fixed") == len(FIXED_BY_RUN), "one hotfix diff per affected child"
    # Active packages never show up as removals.
    for host, ids in ACTIVE.items():
        for package_id in ids:
            assert f"-{pck(package_id)}" not in out


def test_check_report_written_in_check_mode(demo_runs):
    lab = demo_runs.lab
    report = json.loads(lab.latest_report("check", "json").read_text(encoding="utf-8"))
    assert report["meta"]["check_mode"] is True
    assert {h["host"] for h in report["hosts"]} == set(HOSTS)
    assert report["totals"]["leftovers_would_remove"] == sum(len(v) for v in CONFIRMED.values())
    assert report["totals"]["hotfix_would_apply"] == len(FIXED_BY_RUN)
    assert report["totals"]["leftovers_removed"] == 0


# ---- the real run and the second run ----------------------------------------------------------------
def test_real_run_succeeds(demo_runs):
    run = demo_runs.run
    assert run.rc == 0, run.stdout[-4000:]
    assert_ok_run(run, HOSTS)
    for host in CONFIRMED:
        assert run.recap[host]["changed"] > 0, host


def test_second_run_changes_nothing(demo_runs):
    assert_second_run_changes_nothing(demo_runs.second, HOSTS)


def test_confirmed_leftovers_removed(demo_runs):
    lab = demo_runs.lab
    for host, ids in CONFIRMED.items():
        for package_id in ids:
            assert not lab.exists(host, pck(package_id)), f"{host}: {package_id}.PCK still there"


def test_every_scenario_leftover_removed(demo_runs):
    lab = demo_runs.lab
    still = [(h, p) for h, ids in SCENARIO_LEFTOVERS.items() for p in ids if lab.exists(h, pck(p))]
    assert not still


def test_active_odd_and_sender_files_untouched(demo_runs):
    lab = demo_runs.lab
    for host, ids in ACTIVE.items():
        for package_id in ids:
            assert lab.exists(host, pck(package_id)), f"{host}: active {package_id}.PCK removed"
    assert lab.exists("sms610", "D:\\SMSPKG\\6100001G.PCK")
    assert lab.exists("sms610", SENDER_FILE)


def test_distmgr_replaced_with_backup(demo_runs):
    lab = demo_runs.lab
    for host, before in FIXED_BY_RUN.items():
        dll = lab.distmgr_path(host)
        assert lab.file_version(host, dll) == HOTFIX_VERSION, host
        assert lab.exists(host, dll + ".pre-Q244405"), f"{host}: no backup beside {dll}"
        assert lab.file_version(host, dll + ".pre-Q244405") == before, host
    # the swap puts the hotfix DLL of the host's platform: the lab's controller copy, byte for byte
    for host in FIXED_BY_RUN:
        platform = lab.host_json(host)["lab"]["platform"]
        assert lab.local(host, lab.distmgr_path(host)).read_bytes() == (
            lab.state_dir / "hotfix" / platform / "Distmgr.dll").read_bytes(), host
    # 600 (SP2) and 630 (already hotfixed) are left alone
    for host in ("sms600", "sms630"):
        dll = lab.distmgr_path(host)
        assert not lab.exists(host, dll + ".pre-Q244405"), host


def test_services_in_original_states(demo_runs):
    lab = demo_runs.lab
    for host in HOSTS:
        assert lab.host_json(host)["services"] == demo_runs.host_json_before[host]["services"], host
    assert lab.services("sms620")["SMS_SITE_BACKUP"] == "running"


def test_run_report_totals(demo_runs):
    lab = demo_runs.lab
    runs = lab.reports("run", "json")
    assert len(runs) >= 1
    # the first run report belongs to the real run (the second run may have the same second)
    report = json.loads(runs[0].read_text(encoding="utf-8"))
    totals = report["totals"]
    assert report["meta"]["check_mode"] is False
    assert totals["hosts"] == len(HOSTS)
    assert totals["failed"] == 0 and totals["unreachable"] == 0
    assert totals["leftovers_removed"] == sum(len(v) for v in CONFIRMED.values())
    assert totals["hotfix_applied"] == len(FIXED_BY_RUN)
    by_host = {h["host"]: h for h in report["hosts"]}
    assert sum(len(h.get("removed") or []) for h in by_host.values()) == totals["leftovers_removed"]
    for host, ids in CONFIRMED.items():
        assert sorted(by_host[host]["removed"]) == sorted(ids), host
    # bytes: the sizes of the removed files, as the lab built them
    sizes = {(host, p): demo_runs.pck_sizes_before[host][f"{p}.PCK"] for host, ids in CONFIRMED.items() for p in ids}
    assert totals["bytes_reclaimed"] == sum(sizes.values())
    assert totals["bytes_reclaimed"] == sum(h.get("bytes_reclaimed") or 0 for h in by_host.values())
    for host, ids in CONFIRMED.items():
        assert by_host[host]["bytes_reclaimed"] == sum(sizes[(host, p)] for p in ids), host
    assert totals["affected"] == 0
    for host in FIXED_BY_RUN:
        assert (by_host[host]["hotfix"]["method"], by_host[host]["hotfix"]["applied"]) == ("manual", True), host
