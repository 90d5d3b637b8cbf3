"""Fleet report: build_report totals and the four renderings."""
from __future__ import annotations

import csv
import io
import json
import re

from ansible_collections.sms.remediation.plugins.module_utils import sms20
from ansible_collections.sms.remediation.plugins.module_utils.decision import plan
from ansible_collections.sms.remediation.plugins.module_utils.leftovers import OriginView, classify
from ansible_collections.sms.remediation.plugins.module_utils.probe_result import parse_probe
from ansible_collections.sms.remediation.plugins.module_utils.report import (
    CSV_COLUMNS,
    build_report,
    render_csv,
    render_html,
    render_json,
    render_markdown,
)

from probe_builders import deleted, deleting, pck, site_probe, request

TABLE = sms20.merge_overrides(None)


def host_result(check_mode=False):
    """A per-host result as the role would build it, from the real domain functions."""
    site = parse_probe("child01", site_probe("610", "600", files=[
        pck("60000012", size=1000), pck("62000001", size=5), pck("<script>alert(1)</script>.PCK"),
    ], log=(deleting("60000012"), deleted("60000012"))), TABLE)
    items = classify(site, {"600": OriginView("600", True, frozenset(), None)})
    p = plan(site, items, request("auto", None, True, ()), TABLE)
    return {
        "host": "child01",
        "status": "ok",
        "error": None,
        "check_mode": check_mode,
        "site": {"site_code": site.site_code, "parent_site_code": site.parent_site_code,
                 "version": site.version, "service_pack": site.service_pack,
                 "platform": site.platform, "logging_enabled": site.logging["enabled"]},
        "q244405": {"affected": site.q244405.affected, "fixed_by": site.q244405.fixed_by,
                    "reason": site.q244405.reason},
        "leftovers": [i.to_dict() for i in items],
        "actions": {
            "removed": [i.package_id for i in p.remove],
            "quarantined": [],
            "refused": p.refused,
            "hotfix": {"applied": not check_mode, "would_apply": check_mode,
                       "method": p.hotfix_method, "outcome": None if check_mode else "replaced",
                       "reason": p.hotfix_reason},
        },
        "bytes_reclaimed": sum(i.size for i in p.remove),
    }


def fleet(check_mode=False):
    hosts = {
        "child01": host_result(check_mode),
        "parent00": {
            "host": "parent00", "status": "ok", "error": None, "check_mode": check_mode,
            "site": {"site_code": "600", "parent_site_code": None, "version": "2.00.1493.2000",
                     "service_pack": "SP2", "platform": "i386", "logging_enabled": True},
            "q244405": {"affected": False, "fixed_by": "sp2", "reason": "SP2"},
            "leftovers": [],
            "actions": {"removed": [], "quarantined": [], "refused": [],
                        "hotfix": {"applied": False, "would_apply": False, "method": None,
                                   "outcome": None, "reason": "already fixed"}},
            "bytes_reclaimed": 0,
        },
        "alpha9": {"host": "alpha9", "status": "failed",
                   "error": "alpha9: unknown processor architecture 'MIPS' (known: x86, ALPHA)"},
        "down1": {"host": "down1", "status": "unreachable", "error": "WinRM: connection <refused> & \"timed out\""},
    }
    meta = {"policy": "auto", "check_mode": check_mode, "started": "2024-01-01T10:00:00Z",
            "finished": "2024-01-01T10:05:00Z"}
    return build_report(hosts, meta)


def test_build_report_totals_and_order():
    report = fleet()
    assert report["schema_version"] == 1
    assert [h["host"] for h in report["hosts"]] == ["alpha9", "child01", "down1", "parent00"]
    t = report["totals"]
    assert (t["hosts"], t["ok"], t["failed"], t["unreachable"]) == (4, 2, 1, 1)
    assert t["affected"] == 1
    assert t["fixed"] == 2  # parent by SP2, child by the hotfix just applied
    assert t["hotfix_applied"] == 1
    assert t["leftovers_removed"] == 1
    assert t["bytes_reclaimed"] == 1000
    assert t["leftovers_refused"] == 0  # the two others were kept: nobody asked for them
    child = report["hosts"][1]
    assert "removed 1" in child["summary"]
    assert child["hotfix"]["state"] == "applied (installer)"


def test_check_mode_says_would():
    report = fleet(check_mode=True)
    t = report["totals"]
    assert t["leftovers_removed"] == 0 and t["leftovers_would_remove"] == 1
    assert t["bytes_reclaimed"] == 0 and t["bytes_would_reclaim"] == 1000
    child = report["hosts"][1]
    assert "would remove 1" in child["summary"]
    assert child["hotfix"]["state"] == "would apply (installer)"
    for text in (render_markdown(report), render_html(report), render_csv(report)):
        assert "would remove" in text.lower() or "Would remove" in text
        assert "would apply" in text
    assert "removed" not in [r["action"] for r in child["leftovers"]]


def test_failed_host_without_error_gets_a_cause():
    report = build_report({"x": {"status": "failed"}, "y": {"status": "weird"}}, {"policy": "report"})
    assert report["hosts"][0]["error"] == "no cause reported"
    assert report["hosts"][1]["status"] == "failed"
    assert "invalid host status" in report["hosts"][1]["error"]


def test_json_round_trips_and_is_stable():
    report = fleet()
    text = render_json(report)
    assert json.loads(text) == json.loads(json.dumps(report))
    assert render_json(fleet()) == text
    keys = list(json.loads(text))
    assert keys == sorted(keys)


def test_csv_parses_back():
    report = fleet()
    rows = list(csv.DictReader(io.StringIO(render_csv(report))))
    assert tuple(rows[0].keys()) == CSV_COLUMNS
    host_rows = [r for r in rows if r["record_type"] == "host"]
    leftover_rows = [r for r in rows if r["record_type"] == "leftover"]
    assert [r["host"] for r in host_rows] == ["alpha9", "child01", "down1", "parent00"]
    assert len(leftover_rows) == 3
    by_pkg = {r["package_id"]: r for r in leftover_rows}
    assert by_pkg["60000012"]["action"] == "removed"
    assert by_pkg["60000012"]["evidence_level"] == "log_and_origin"
    assert by_pkg["60000012"]["size"] == "1000"
    assert by_pkg["62000001"]["action"] == "kept"
    assert "weaker than the required origin" in by_pkg["62000001"]["reason"]
    assert by_pkg["<script>alert(1)</script>.PCK"]["leftover_status"] == "unknown"
    failed = next(r for r in host_rows if r["host"] == "alpha9")
    assert "unknown processor architecture 'MIPS'" in failed["reason"]


def test_html_is_self_contained_and_escaped():
    page = render_html(fleet())
    assert page.startswith("<!DOCTYPE html>")
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;.PCK" in page
    assert "connection &lt;refused&gt; &amp; &quot;timed out&quot;" in page
    assert "http://" not in page and "https://" not in page
    assert not re.search(r'(?i)<(link|img|iframe)\b', page)
    assert not re.search(r'(?i)\bsrc\s*=', page)
    assert page.count("<script>") == 1 and "<style>" in page
    assert 'class="sortable"' in page
    for expected in ("child01", "parent00", "Failures", "alpha9", "1000", "applied (installer)"):
        assert expected in page


def test_markdown_escapes_table_cells():
    report = build_report({"h|1": {"host": "h|1", "status": "failed", "error": "bad | pipe"}},
                          {"policy": "report"})
    md = render_markdown(report)
    assert "h\\|1" in md and "bad \\| pipe" in md
    assert "## Failures" in md


def test_markdown_lists_leftovers():
    md = render_markdown(fleet())
    assert "## child01: compressed packages" in md
    assert "60000012" in md and "removed" in md


def test_empty_fleet():
    report = build_report({}, {"policy": "report", "check_mode": True})
    assert report["totals"]["hosts"] == 0
    assert render_csv(report).strip() == ",".join(CSV_COLUMNS)
    assert "<table" in render_html(report)
    assert render_markdown(report).startswith("# Q244405 remediation report")
