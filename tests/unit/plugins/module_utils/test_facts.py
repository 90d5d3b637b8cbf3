"""SiteFacts: the sms_site fact is written by to_facts() and read back by from_facts() (every reader goes
through it), leniently: what is missing reads as unknown, never as something that lets a file go."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import probe_builders as pb  # noqa: E402

from ansible_collections.sms.remediation.plugins.module_utils import sms20  # noqa: E402
from ansible_collections.sms.remediation.plugins.module_utils.facts import SiteFacts, parse_utc  # noqa: E402
from ansible_collections.sms.remediation.plugins.module_utils.leftovers import (  # noqa: E402
    OriginView, classify, origin_view_from_facts)
from ansible_collections.sms.remediation.plugins.module_utils.probe_result import parse_probe  # noqa: E402

TABLE = sms20.merge_overrides(None)


def child():
    answer = pb.site_probe("610", "600", files=[pb.pck("60000012"), pb.pck("61000001"), pb.pck("notes.txt")],
                           active_ids=["61000001"], log=(pb.deleting("60000012"), pb.deleted("60000012")))
    return parse_probe("sms610", answer, TABLE, transport="winrm")


def test_round_trip_through_json_keeps_every_fact():
    site = child()
    facts = json.loads(json.dumps(site.to_facts()))       # what ansible_facts holds
    back = SiteFacts.from_facts(facts)
    assert back.to_facts() == site.to_facts()
    assert back.transport == "winrm" and back.package_folders == ["D:\\SMSPKG"]
    assert back.log_histories["60000012"].claim.timestamp == site.log_histories["60000012"].claim.timestamp


def test_facts_read_back_classify_as_the_probe_did():
    site = child()
    origins = {"600": OriginView("600", True, frozenset(), None)}
    again = SiteFacts.from_facts(json.loads(json.dumps(site.to_facts())))
    assert [i.to_dict() for i in classify(again, origins)] == [i.to_dict() for i in classify(site, origins)]


def test_missing_keys_read_as_unknown():
    site = SiteFacts.from_facts({"site_code": "620"}, "sms620")
    assert site.host == "sms620" and site.site_code == "620"
    assert site.active.available is False and site.active.error == "no active package facts"
    assert site.q244405.affected is None and site.package_files == [] and site.platform is None


def test_origin_view_from_an_origin_summary_and_from_full_facts():
    site = child()
    for facts in (site.to_facts(), site.origin_summary()):
        view = origin_view_from_facts(facts)
        assert view == OriginView("610", True, frozenset({"61000001"}), None)
    unavailable = origin_view_from_facts({"host": "sms600", "site_code": "600", "active": {"available": False}})
    assert unavailable.available is False and "active list unavailable (unknown error)" in unavailable.reason


def test_parse_utc():
    assert parse_utc("1999-10-15T16:00:00Z").isoformat() == "1999-10-15T16:00:00+00:00"
    assert parse_utc("not a time") is None and parse_utc(None) is None
