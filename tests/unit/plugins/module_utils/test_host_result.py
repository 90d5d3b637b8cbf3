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
