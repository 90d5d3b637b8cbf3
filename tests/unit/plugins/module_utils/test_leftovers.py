"""classify(): evidence levels, statuses, origin rules, clock tolerance, summarise()."""
from __future__ import annotations

from datetime import timedelta

import pytest

from ansible_collections.sms.remediation.plugins.module_utils import sms20
from ansible_collections.sms.remediation.plugins.module_utils.leftovers import (
    EVIDENCE_LEVELS,
    OriginView,
    classify,
    evidence_at_least,
    origin_view_from_facts,
    summarise,
)
from ansible_collections.sms.remediation.plugins.module_utils.probe_result import parse_probe

from probe_builders import adding, deleted, deleting, pck, site_probe

TABLE = sms20.merge_overrides(None)
CHILD, PARENT = "610", "600"


def child(files, active_ids=(), deleting_ids=(), log=(), active_available=True):
    return parse_probe("child", site_probe(CHILD, PARENT, files=files, active_ids=active_ids,
                                           deleting_ids=deleting_ids, log=log,
                                           active_available=active_available), TABLE)


def parent_view(*active_ids, available=True):
    facts = parse_probe("parent", site_probe(PARENT, None, active_ids=active_ids,
                                             active_available=available), TABLE)
    return {PARENT: origin_view_from_facts(facts.to_facts())}


CLAIM = (deleting("60000012"), deleted("60000012"))


def one(site, origins, min_evidence="origin"):
    result = classify(site, origins, min_evidence)
    assert len(result) == 1
    return result[0]


def test_levels_order():
    assert EVIDENCE_LEVELS == ("log_and_origin", "origin", "log", "absent_here")
    assert evidence_at_least("log_and_origin", "origin")
    assert evidence_at_least("origin", "origin")
    assert not evidence_at_least("log", "origin")
    assert not evidence_at_least(None, "absent_here")
    with pytest.raises(ValueError, match="min_evidence 'strong'"):
        evidence_at_least("log", "strong")


def test_log_and_origin():
    item = one(child([pck("60000012")], log=CLAIM), parent_view("60000099"))
    assert item.status == "stale_confirmed"
    assert item.evidence_level == "log_and_origin"
    assert item.actionable
    assert item.evidence["origin"] == {"site_code": "600", "in_run": True, "present": False}
    assert item.evidence["here"] == {"active": False}
    log = item.evidence["log"]
    assert log["claim"] == "Successfully deleted the package 60000012"
    assert log["tz_name"] == "Pacific Daylight Time"
    assert log["thread"] == 297 and log["line"] == 4 and log["source"].endswith("Distmgr.log")
    assert log["time"] == "1999-10-15T17:09:46.677000"


def test_origin_only():
    item = one(child([pck("60000012")]), parent_view())
    assert (item.status, item.evidence_level, item.actionable) == ("stale_confirmed", "origin", True)
    assert item.evidence["log"] is None


def test_log_only_origin_not_in_run():
    item = one(child([pck("60000012")], log=CLAIM), {})
    assert item.evidence_level == "log"
    assert item.status == "stale_unconfirmed"
    assert not item.actionable
    assert any("origin site 600 is not in this run" in r for r in item.reasons)
    assert item.evidence["origin"] == {"site_code": "600", "in_run": False, "present": None}
    item = one(child([pck("60000012")], log=CLAIM), {}, min_evidence="log")
    assert item.status == "stale_confirmed" and item.actionable


def test_absent_here_only():
    item = one(child([pck("60000012")]), {})
    assert item.evidence_level == "absent_here"
    assert item.status == "stale_unconfirmed"
    item = one(child([pck("60000012")]), {}, min_evidence="absent_here")
    assert item.status == "stale_confirmed"


def test_origin_unreachable_counts_as_not_in_run():
    item = one(child([pck("60000012")], log=CLAIM), parent_view(available=False))
    assert item.evidence_level == "log"
    assert item.evidence["origin"]["in_run"] is False
    assert any("origin site 600 is in the run but unreadable" in r for r in item.reasons)


def test_origin_view_unavailable_built_by_hand():
    origins = {PARENT: OriginView(PARENT, False, frozenset({"60000012"}), "WMI down")}
    item = one(child([pck("60000012")]), origins)
    # an unreadable origin is not evidence either way: not active, no origin evidence
    assert item.evidence_level == "absent_here"
    assert any("WMI down" in r for r in item.reasons)


def test_origin_is_this_site():
    site = child([pck("61000012")], log=(deleted("61000012"),))
    origins = {CHILD: OriginView(CHILD, True, frozenset(), None)}
    item = one(site, origins)
    assert item.evidence_level == "log"
    assert item.evidence["origin"]["in_run"] is False
    assert any("is this site" in r for r in item.reasons)


def test_present_at_origin_with_log_claim_is_active():
    item = one(child([pck("60000012")], log=CLAIM), parent_view("60000012"))
    assert item.status == "active"
    assert not item.actionable
    assert item.evidence["origin"]["present"] is True
    assert any("still present at its origin site 600" in r for r in item.reasons)
    # whatever the minimum evidence
    assert one(child([pck("60000012")], log=CLAIM), parent_view("60000012"),
               "absent_here").status == "active"


def test_active_here():
    item = one(child([pck("60000012")], active_ids=["60000012"], log=CLAIM), parent_view())
    assert item.status == "active"
    assert item.evidence["here"] == {"active": True}


def test_action_in_progress_delete_is_active():
    item = one(child([pck("60000012")], deleting_ids=["60000012"], log=CLAIM), parent_view())
    assert item.status == "active"
    assert not item.actionable
    assert "left to Distribution Manager" in item.reasons[0]


def test_readded_package_has_no_claim():
    log = (deleting("60000012"), deleted("60000012"), adding("60000012"))
    item = one(child([pck("60000012")], log=log), {})
    assert item.evidence["log"] is None
    assert item.evidence_level == "absent_here"
    assert any("added again" in r for r in item.reasons)
    # with the origin in the run it is only origin-level evidence
    assert one(child([pck("60000012")], log=log), parent_view()).evidence_level == "origin"


def test_unknown_name_never_actionable():
    for name in ("readme.txt", "6100001.PCK", "61000012.PKG", "CON.PCK", "61000012.PCK.bak"):
        item = one(child([pck(name)]), parent_view(), "absent_here")
        assert item.status == "unknown", name
        assert not item.actionable
        assert item.package_id is None
        assert item.reasons and name in item.reasons[0]


def test_reparse_point_is_unknown():
    item = one(child([pck("60000012", reparse_point=True)], log=CLAIM), parent_view(), "absent_here")
    assert item.status == "unknown"
    assert "reparse point" in item.reasons[0]


def test_active_list_unavailable_is_unknown():
    item = one(child([pck("60000012")], log=CLAIM, active_available=False), parent_view(),
               "absent_here")
    assert item.status == "unknown"
    assert item.reasons[0].startswith("active list unavailable at site 610")
    assert not item.actionable


def test_active_list_unavailable_but_present_at_origin_is_active():
    item = one(child([pck("60000012")], active_available=False), parent_view("60000012"))
    assert item.status == "active"


def test_claim_older_than_file_by_more_than_24h():
    newer = pck("60000012", last_write_utc="1999-10-17T18:00:00Z")  # ~49h after the claim
    item = one(child([newer], log=CLAIM), parent_view())
    assert item.status == "stale_unconfirmed"
    assert not item.actionable
    assert item.evidence_level == "origin"  # the log no longer counts
    assert any("does not cover this file" in r for r in item.reasons)


def test_claim_within_tolerance_covers_file():
    # file written 20h after the claim's local time: within the 24h tolerance
    later = pck("60000012", last_write_utc="1999-10-16T13:09:46Z")
    item = one(child([later], log=CLAIM), parent_view())
    assert item.evidence_level == "log_and_origin"
    assert item.evidence["log"]["time_checked"] is True
    assert item.status == "stale_confirmed"


def test_claim_tolerance_comes_from_the_table():
    # the same file 20h after the claim: covered at 24h, not covered when the table says 12h
    later = pck("60000012", last_write_utc="1999-10-16T13:09:46Z")
    hours = {"claim_tolerance_hours": 12}
    tolerance = timedelta(hours=sms20.merge_overrides(hours)["claim_tolerance_hours"])
    item = classify(child([later], log=CLAIM), parent_view(), "origin", claim_tolerance=tolerance)[0]
    assert item.evidence_level == "origin"
    assert any("more than 12h after the log claim" in r for r in item.reasons)


def test_claim_without_file_time_is_accepted_unchecked():
    item = one(child([pck("60000012", last_write_utc=None)], log=CLAIM), parent_view())
    assert item.evidence_level == "log_and_origin"
    assert item.evidence["log"]["time_checked"] is False


def test_invalid_min_evidence():
    with pytest.raises(ValueError, match="min_evidence"):
        classify(child([]), {}, "everything")


def test_origin_view_from_facts_shapes():
    with pytest.raises(ValueError):
        origin_view_from_facts({"host": "x"})
    view = origin_view_from_facts({"host": "x", "site_code": "600", "active": None})
    assert view.available is False
    view = origin_view_from_facts({"host": "x", "site_code": "600",
                                   "active": {"available": True, "ids": ["60000001"]}})
    assert view.available and view.active_ids == frozenset({"60000001"})


def test_summarise():
    site = child([pck("60000012", size=100), pck("60000013", size=50), pck("61000001", size=7),
                  pck("junk.txt", size=9), pck("60000014", size=3)],
                 active_ids=["60000014"], log=CLAIM)
    items = classify(site, parent_view())
    summary = summarise(items)
    assert summary["count"] == 5
    assert summary["stale_confirmed"] == 2
    assert summary["stale_unconfirmed"] == 1
    assert summary["active"] == 1
    assert summary["unknown"] == 1
    assert summary["bytes_reclaimable"] == 150
    assert summary["by_evidence_level"]["log_and_origin"] == 1


def test_to_dict_keys():
    item = one(child([pck("60000012")]), parent_view())
    assert set(item.to_dict()) == {"package_id", "name", "path", "folder", "size", "status",
                                   "evidence_level", "actionable", "reasons", "evidence"}
