"""The fleet report draws the hierarchy (report_tree.py): each site's outcome, the tree order, well-formed
nested lists with the reason beside and on hover (escaped), an indented Markdown tree, and a site without facts
placed by the inventory (sms_hierarchy's sms_site_code)."""

from __future__ import annotations

from html.parser import HTMLParser

from ansible_collections.sms.remediation.plugins.module_utils.report import build_report, render_html, render_markdown
from ansible_collections.sms.remediation.plugins.module_utils.report_tree import (
    render_tree_html, render_tree_markdown, site_outcome, tree, with_inventory_site,
)

from tree_fleet import fleet_records, fleet_report, record

OUTCOME_OF = {"smsa00": "clean", "smsb00": "removed", "smsc01": "leftovers", "smsc02": "refused",
              "smsd00": "hotfix", "smse00": "unreachable", "smsf00": "failed", "smsg00": "skipped"}


def test_each_site_gets_its_outcome():
    report = fleet_report()
    assert {e["host"]: site_outcome(e) for e in report["hosts"]} == OUTCOME_OF


def test_parents_first_with_depths():
    ordered, unplaced = tree(fleet_report())
    assert [(e["host"], depth) for e, depth in ordered] == [
        ("smsa00", 0), ("smsb00", 1), ("smsc01", 2), ("smsc02", 2), ("smsd00", 1), ("smse00", 1), ("smsf00", 1),
        ("smsg00", 1)]
    assert unplaced == []


class _Nesting(HTMLParser):
    """Checks that ul/li open and close in order, and records the depth of each site box."""

    def __init__(self):
        super().__init__()
        self.stack, self.sites, self.errors = [], {}, []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("ul", "li", "div", "span", "b", "i", "p", "h2"):
            self.stack.append(tag)
        if tag == "div" and "data-host" in attrs:
            self.sites[attrs["data-host"]] = (self.stack.count("ul"), attrs["data-outcome"], attrs["title"])

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()


def test_html_tree_is_well_formed_and_each_site_sits_at_its_depth():
    checker = _Nesting()
    checker.feed(render_tree_html(fleet_report()))
    assert checker.errors == [] and checker.stack == []
    assert {host: (depth, outcome) for host, (depth, outcome, _title) in checker.sites.items()} == {
        host: ({"smsa00": 1, "smsc01": 3, "smsc02": 3}.get(host, 2), outcome) for host, outcome in OUTCOME_OF.items()}
    assert "refused 1" in checker.sites["smsc02"][2]
    assert checker.sites["smse00"][2] == "unreachable: no answer from WinRM on smse00"


def test_reasons_are_escaped_and_the_page_has_the_tree_after_the_totals():
    records = fleet_records()
    records["smsf00"]["error"] = "<script>alert(1)</script>"
    page = render_html(build_report(records, {"policy": "auto"}))
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert page.index("<h2>Totals</h2>") < page.index("<h2>Hierarchy</h2>") < page.index("<h2>Sites</h2>")
    assert "http://" not in page and "https://" not in page          # offline: no external resource


def test_markdown_tree_is_indented_by_depth():
    lines = render_tree_markdown(fleet_report())
    assert lines[0] == "## Hierarchy"
    assert "- **smsa00** (site A00): clean, 1 package, 0 leftovers, 0 removed, 0 refused." in lines[2]
    assert lines[3].startswith("  - **smsb00** (site B00): leftovers removed, ")
    assert lines[4].startswith("    - **smsc01** (site C01): leftovers found, ")
    assert lines[7].startswith("  - **smse00** (site E00): unreachable, ") and "no answer from WinRM" in lines[7]
    assert "## Hierarchy" in render_markdown(fleet_report())


def test_check_mode_labels_say_would():
    records = fleet_records()
    report = build_report(records, {"policy": "auto", "check_mode": True})
    assert "would remove leftovers" in render_tree_html(report)


def test_a_site_without_facts_is_placed_by_the_inventory_or_listed_apart():
    bare = record("smsh00", None, None, status="unreachable", error="no result")
    placed = with_inventory_site(bare, {"sms_site_code": "H00", "sms_parent_site_code": "B00"})
    assert placed["site"]["site_code"] == "H00" and bare["site"] == {}
    assert with_inventory_site(bare, {}) is bare
    records = {**fleet_records(), "smsh00": placed, "smsi00": record("smsi00", None, None, status="unreachable",
                                                                     error="no result")}
    ordered, unplaced = tree(build_report(records, {}))
    assert ("smsh00", 2) in [(e["host"], d) for e, d in ordered]
    assert [e["host"] for e in unplaced] == ["smsi00"]
    assert "Not placed in the hierarchy (no site facts)" in render_tree_html(build_report(records, {}))


def test_a_parent_cycle_still_draws_each_site_once():
    records = {"x": record("x", "X00", "Y00"), "y": record("y", "Y00", "X00")}
    ordered, _unplaced = tree(build_report(records, {}))
    assert sorted(e["host"] for e, _depth in ordered) == ["x", "y"]
