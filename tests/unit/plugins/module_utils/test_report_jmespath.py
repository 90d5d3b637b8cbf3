"""The JMESPath queries that README.md shows over the JSON report, run against a report built with
module_utils/report.py (the same text as in the README, so the README cannot drift)."""
from __future__ import annotations

import json
import re
from pathlib import Path

import jmespath

from ansible_collections.sms.remediation.plugins.module_utils.batches import batch_plan, failed_children
from ansible_collections.sms.remediation.plugins.module_utils.report import build_report, render_json

README = Path(__file__).resolve().parents[4] / "README.md"
STILL_AFFECTED = "hosts[?q244405.affected].{host: host, site: site.site_code, hotfix: hotfix.state}"
REFUSED = "hosts[?refused].{host: host, refused: refused[].{id: id, reason: reason}}"


def _report() -> dict:
    hosts = {
        "sms600": {"status": "ok", "site": {"site_code": "600"}, "q244405": {"affected": False}},
        "sms610": {"status": "ok", "site": {"site_code": "610", "parent_site_code": "600"},
                   "q244405": {"affected": True},
                   "actions": {"removed": ["60000012"],
                               "refused": [{"id": "61000001", "reason": "active at this site"},
                                           {"id": None, "name": "6100001G.PCK", "reason": "not a package ID"}],
                               "hotfix": {"outcome": "failed"}}},
        "sms620": {"status": "skipped", "error": "child site 621 failed", "site": {"site_code": "620"},
                   "q244405": {"affected": True}},
        "sms630": {"status": "ok", "site": {"site_code": "630"}, "q244405": {"affected": False, "fixed_by": "2.00.1380.1083"}},
    }
    # through JSON, as a user reads the .json file
    return json.loads(render_json(build_report(hosts, {"policy": "auto", "check_mode": False})))


def test_readme_shows_the_queries():
    text = README.read_text(encoding="utf-8")
    assert STILL_AFFECTED in text and REFUSED in text


def test_still_affected():
    assert jmespath.search(STILL_AFFECTED, _report()) == [
        {"host": "sms610", "site": "610", "hotfix": "failed"},
        {"host": "sms620", "site": "620", "hotfix": "not applied"},
    ]


def test_refused_with_reasons():
    assert jmespath.search(REFUSED, _report()) == [
        {"host": "sms610", "refused": [{"id": "61000001", "reason": "active at this site"},
                                       {"id": None, "reason": "not a package ID"}]},
    ]


def test_readme_json_query_example_matches():
    """The community.general.json_query line in the README uses the same query text."""
    text = README.read_text(encoding="utf-8")
    assert re.search(r"json_query\(.*hosts\[\?q244405\.affected\]", text)


# ---- the fleet controls (module_utils/batches.py) ------------------------------------------------
SITES = {"a00": {"site_code": "A00"}, "a10": {"site_code": "A10", "parent_site_code": "A00"},
         "a11": {"site_code": "A11", "parent_site_code": "A10"}, "a20": {"site_code": "A20", "parent_site_code": "A00"},
         "x": {"site_code": "X01", "parent_site_code": "ZZZ"}}


def test_batch_plan_children_first_by_level():
    plan = batch_plan(SITES, serial=10, by_level=True)
    assert plan["order"] == ["a11", "a10", "a20", "a00", "x"]
    assert plan["serial"] == [1, 2, 2] and plan["batches"] == [["a11"], ["a10", "a20"], ["a00", "x"]]
    assert batch_plan(SITES, serial="40%")["serial"] == [2, 2, 1]
    assert batch_plan(SITES, serial=[1, 3])["batches"] == [["a11"], ["a10", "a20", "a00"], ["x"]]


def test_batch_plan_survives_loops_and_missing_facts():
    loop = {"p": {"site_code": "P", "parent_site_code": "Q"}, "q": {"site_code": "Q", "parent_site_code": "P"}, "n": {}}
    assert sorted(batch_plan(loop)["order"]) == ["n", "p", "q"]


def test_failed_children():
    outcomes = {"a11": {"error": "boom"}, "a20": {"skipped": "child failed"}}
    assert failed_children("A10", SITES, outcomes) == ["a11"]
    assert failed_children("A00", SITES, outcomes) == ["a20"]
    assert failed_children("A00", SITES, {}, removed_hosts=["a10"]) == ["a10"]
    assert failed_children("A20", SITES, outcomes) == []
