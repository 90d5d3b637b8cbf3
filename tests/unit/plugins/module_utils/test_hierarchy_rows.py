"""The hierarchy as an inventory (module_utils/hierarchy.py): hosts, groups and depths from SMS_Site rows, and
each kind of bad input refused with the site named (no network: rows as the plugin reads them)."""

from __future__ import annotations

import pytest

from ansible_collections.sms.remediation.plugins.module_utils.hierarchy import (
    HierarchyError, build_hierarchy, first_fixed_build, hierarchy_vars,
)


def row(code, parent="", server=None, type_=2, build=1380, **extra):
    return {"SiteCode": code, "ReportingSiteCode": parent, "ServerName": f"SMS{code}" if server is None else server,
            "Type": type_, "Version": "2.0", "BuildNumber": build, "InstallDir": "C:\\SMS", "SiteName": f"Site {code}",
            "Status": 1, **extra}


DEMO = [row("600", build=1493), row("610", "600"), row("620", "600"), row("630", "600")]
THREE_TIERS = [row("A00", build=1493), row("B00", "A00"), row("C01", "B00", type_=1), row("C02", "B00", type_=1),
               row("D00", "A00", build=1239)]


def test_demo_hierarchy_hosts_groups_depths():
    tree = build_hierarchy(DEMO, "600", ["server_name_lower"])
    assert tree.hosts == {"600": "sms600", "610": "sms610", "620": "sms620", "630": "sms630"}
    assert tree.depths == {"600": 0, "610": 1, "620": 1, "630": 1}
    assert tree.groups() == {
        "sms_primary": ["sms600", "sms610", "sms620", "sms630"], "sms_secondary": [],
        "sms_site_600": ["sms600"], "sms_site_610": ["sms610"], "sms_site_620": ["sms620"], "sms_site_630": ["sms630"],
        "sms_children_of_600": ["sms610", "sms620", "sms630"]}


def test_three_tiers_parents_first_with_depths_and_types():
    tree = build_hierarchy(list(reversed(THREE_TIERS)), "a00")
    assert [site.code for site in tree.sites] == ["A00", "B00", "D00", "C01", "C02"]
    assert tree.depths == {"A00": 0, "B00": 1, "D00": 1, "C01": 2, "C02": 2}
    groups = tree.groups()
    assert groups["sms_secondary"] == ["SMSC01", "SMSC02"]
    assert groups["sms_children_of_b00"] == ["SMSC01", "SMSC02"]
    assert groups["sms_children_of_a00"] == ["SMSB00", "SMSD00"]
    assert "sms_children_of_c01" not in groups
    c01 = hierarchy_vars(tree, "C01")
    assert c01["sms_parent_site_code"] == "B00" and c01["sms_site_depth"] == 2 and c01["sms_site_type"] == "secondary"
    assert hierarchy_vars(tree, "B00")["sms_child_site_codes"] == ["C01", "C02"]


def test_sp2_or_later_is_listed_and_marked_fixed():
    tree = build_hierarchy(THREE_TIERS, "A00")
    assert first_fixed_build() == 1493
    assert hierarchy_vars(tree, "A00")["sms_fixed_by_build"] is True
    assert hierarchy_vars(tree, "B00")["sms_fixed_by_build"] is False        # SP1
    assert hierarchy_vars(tree, "D00")["sms_fixed_by_build"] is False        # RTM


def test_a_middle_site_queried_is_the_root_of_what_it_lists():
    tree = build_hierarchy([row("B00", "A00"), row("C01", "B00", type_=1)], "B00")
    assert tree.depths == {"B00": 0, "C01": 1}
    assert hierarchy_vars(tree, "B00")["sms_parent_site_code"] == "A00"      # kept, though not listed


def test_hostnames_choose_the_name():
    assert build_hierarchy(DEMO, "600", ["site_code"]).hosts["610"] == "610"
    assert build_hierarchy(DEMO, "600").hosts["610"] == "SMS610"             # default: ServerName as listed
    with pytest.raises(HierarchyError, match="hostnames: 'fqdn' is not one of server_name, server_name_lower"):
        build_hierarchy(DEMO, "600", ["fqdn"])


@pytest.mark.parametrize("rows, root, message", [
    ([row("600"), row("610", "600", server="")], "600", "site 610 (Site 610) has no server name"),
    ([row("600"), row("610", "600", server="SMS600")], "600", "sites 600 and 610 are both on server SMS600"),
    ([row("600"), row("610", "600", server="sms600")], "600", "sites 600 and 610 are both on server sms600"),
    ([row("600"), row("610", "6X0")], "600", "site 610 reports to site 6X0, which the central site's SMS_Site"),
    ([row("600"), row("610", "620"), row("620", "610")], "600", "sites 610 -> 620 -> 610 form a parent cycle"),
    ([row("600"), row("610", "610")], "600", "sites 610 -> 610 form a parent cycle"),
    ([row("600"), row("600", server="OTHER")], "600", "site 600 is listed twice"),
    ([row("600"), row("6-0", "600")], "600", "no valid site code (SiteCode '6-0'"),
    ([row("600"), row("610", "600", type_=3)], "600", "site 610: Type 3 is neither"),
    ([row("600"), row("610", "600", build="x")], "600", "site 610: BuildNumber 'x' is not a number"),
    ([row("600"), row("610")], "600", "site 610 has no parent but site 600 was queried"),
    ([row("610", "600")], "600", "site 600 was queried but its own SMS_Site lists it not"),
    ([], "600", "listed: nothing"),
])
def test_bad_input_names_the_site(rows, root, message):
    with pytest.raises(HierarchyError) as caught:
        build_hierarchy(rows, root)
    assert message in str(caught.value)
