"""host_result: one host's report record from its outcome and facts. Issue 11: a leftover nobody asked
for (active, unknown, weaker evidence) is "kept" with its reason; "refused" is for what was asked."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import probe_builders as pb  # noqa: E402

from ansible_collections.sms.remediation.plugins.module_utils import sms20  # noqa: E402
from ansible_collections.sms.remediation.plugins.module_utils.decision import plan  # noqa: E402
from ansible_collections.sms.remediation.plugins.module_utils.host_result import host_result  # noqa: E402
from ansible_collections.sms.remediation.plugins.module_utils.leftovers import (  # noqa: E402
    OriginView, classify, packages_fact)
from ansible_collections.sms.remediation.plugins.module_utils.probe_result import parse_probe  # noqa: E402
from ansible_collections.sms.remediation.plugins.module_utils.report import build_report  # noqa: E402

TABLE = sms20.merge_overrides(None)


def record(force=()):
    site = parse_probe("sms610", pb.site_probe("610", "600", files=[
        pb.pck("60000012"), pb.pck("61000001"), pb.pck("notes.txt")], active_ids=["61000001"]), TABLE)
    items = classify(site, {"600": OriginView("600", True, frozenset(), None)})
    decided = plan(site, items, pb.request("workaround", force=force), TABLE)
    outcome = {"error": None, "packages_before": packages_fact(site, items, "origin"), "plan": decided.to_dict(),
               "workaround": {"changed": True, "removed": ["60000012"], "refused": [], "bytes_reclaimed": 1}}
    return build_report({"sms610": host_result("sms610", outcome, site.to_facts(), False)}, {"policy": "workaround"})


def test_active_and_unknown_leftovers_are_kept_with_their_reason():
    entry = record()["hosts"][0]
    actions = {row["package_id"] or row["name"]: (row["action"], row["reason"]) for row in entry["leftovers"]}
    assert actions["60000012"][0] == "removed"
    assert actions["61000001"][0] == "kept" and "active" in actions["61000001"][1].lower()
    assert actions["notes.txt"][0] == "kept" and "notes.txt" in actions["notes.txt"][1]
    assert entry["refused"] == [] and record()["totals"]["leftovers_refused"] == 0


def test_a_forced_active_package_is_refused():
    entry = record(force=["61000001"])["hosts"][0]
    actions = {row["package_id"] or row["name"]: (row["action"], row["reason"]) for row in entry["leftovers"]}
    assert actions["61000001"][0] == "refused" and actions["61000001"][1].startswith("cannot force: active")


def test_the_report_names_the_transport_that_reached_the_host():
    from ansible_collections.sms.remediation.plugins.module_utils.report import render_html, render_markdown
    site = parse_probe("sms610", pb.site_probe("610", "600"), TABLE, transport="msrpc")
    report = build_report({"sms610": host_result("sms610", {"error": None}, site.to_facts(), False)}, {"policy": "auto"})
    assert report["hosts"][0]["site"]["transport"] == "msrpc"
    assert "| msrpc |" in render_markdown(report)
    assert "<td>msrpc</td>" in render_html(report)


# Issue 11 follow-up: what sms_probe.ps1 answers on a host whose WMI service is down (lab fault wmi_down): every
# WMI source failed, so the host finds no package folder and no active list. Its record must say so.
WMI_DOWN = "WMI namespace {} unavailable (0x80080005)"


def wmi_down_site():
    answer = pb.site_probe("610", "600", active_available=False)
    answer.update(
        wmi_site=pb.wmi(available=False, error=WMI_DOWN.format("root\\SMS\\site_610")),
        package_folders=[], console_open=None,
        services={name: {"exists": False, "state": None, "start_mode": None} for name in answer["services"]},
        errors=[{"source": "wmi", "message": WMI_DOWN.format("root\\SMS\\site_610")},
                {"source": "services", "message": WMI_DOWN.format("root\\cimv2")},
                {"source": "processes", "message": WMI_DOWN.format("root\\cimv2")},
                {"source": "package_folders", "message": WMI_DOWN.format("root\\cimv2")}])
    answer["active_packages"]["error"] = WMI_DOWN.format("root\\SMS\\site_610")
    return parse_probe("sms610", answer, TABLE)


def wmi_down_report(check_mode=False):
    site = wmi_down_site()
    decided = plan(site, [], pb.request("workaround"), TABLE)
    outcome = {"error": None, "packages_before": packages_fact(site, [], "origin"), "plan": decided.to_dict(),
               "workaround": {}}
    healthy = parse_probe("sms620", pb.site_probe("620", "600"), TABLE)
    return build_report({"sms610": host_result("sms610", outcome, site.to_facts(), check_mode),
                         "sms620": host_result("sms620", {"error": None}, healthy.to_facts(), check_mode)},
                        {"policy": "workaround", "check_mode": check_mode})


def test_a_host_whose_sources_failed_is_incomplete_and_says_which_and_why():
    report = wmi_down_report()
    entry, healthy = report["hosts"]
    assert (entry["status"], healthy["status"]) == ("incomplete", "ok")
    assert healthy["sources_failed"] == [] and report["totals"]["incomplete"] == 1 and report["totals"]["ok"] == 1
    texts = {item["source"]: item["text"] for item in entry["sources_failed"]}
    assert texts == {
        "active_packages": "active packages unknown: WMI namespace root\\SMS\\site_610 unavailable (0x80080005); "
                           "nothing removed",
        "services": "service states unknown: WMI namespace root\\cimv2 unavailable (0x80080005)",
        "processes": "whether the SMS Administrator console is open is unknown: WMI namespace root\\cimv2 "
                     "unavailable (0x80080005)",
        "package_folders": "package folders not listed: WMI namespace root\\cimv2 unavailable (0x80080005)"}
    assert entry["summary"].startswith("incomplete: active packages unknown: WMI namespace root\\SMS\\site_610")
    assert "package folders not listed" in entry["summary"] and entry["error"] is None


def test_every_report_format_names_the_failed_sources():
    from ansible_collections.sms.remediation.plugins.module_utils.report import render_csv, render_html, render_markdown
    report = wmi_down_report()
    markdown, page, table = render_markdown(report), render_html(report), render_csv(report)
    assert "## Facts that could not be read" in markdown and "| sms610 | 610 | incomplete |" in markdown
    assert "package folders not listed: WMI namespace root\\\\cimv2 unavailable (0x80080005)" in markdown
    assert '<tr class="incomplete"><td>sms610</td>' in page and "active packages unknown: WMI namespace" in page
    host_row = next(line for line in table.splitlines() if line.startswith("host,sms610,"))
    assert ",incomplete," in host_row and "package folders not listed" in host_row


def test_a_forced_removal_on_a_host_without_its_active_list_is_said_so():
    site = wmi_down_site()
    record = host_result("sms610", {"error": None, "workaround": {"removed": ["61000009"]}}, site.to_facts(), False)
    assert record["sources_failed"][0]["text"].endswith("; only forced packages acted on")
