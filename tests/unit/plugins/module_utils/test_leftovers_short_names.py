"""8.3 names (issue 18, defect 8): a package folder entry known only by its short name (``61000~1.PCK``, the
long name not listed) is kept as unknown, and the reason says it is a short name, not just "not a package ID".
The msrpc listing resolves short names first (test_msrpc_short_names.py)."""

from __future__ import annotations

from ansible_collections.sms.remediation.plugins.module_utils import sms20
from ansible_collections.sms.remediation.plugins.module_utils.leftovers import classify, origin_view_from_facts
from ansible_collections.sms.remediation.plugins.module_utils.probe_result import parse_probe
from probe_builders import pck, site_probe

TABLE = sms20.merge_overrides(None)


def test_the_classification_keeps_a_short_name_and_says_why():
    site = parse_probe("child", site_probe("610", "600", files=[pck("61000~1.PCK"), pck("60000012")]), TABLE)
    parent = parse_probe("parent", site_probe("600", None), TABLE)
    result = {item.name: item for item in classify(site, {"600": origin_view_from_facts(parent.to_facts())})}
    short = result["61000~1.PCK"]
    assert short.status == "unknown" and "8.3 short name" in " ".join(short.reasons), short
    assert result["60000012.PCK"].status == "stale_confirmed"
