"""SMS 2.0 RTM: ``SMS_Package.ActionInProgress`` is documented from SP1 on; an RTM provider's rows lack it.
Missing reads as unknown (the probe says so; the package counts as active), never as idle (issue 19, defect 4)."""
from __future__ import annotations

from ansible_collections.sms.remediation.plugins.module_utils import sms20
from ansible_collections.sms.remediation.plugins.module_utils.probe_result import parse_probe

from probe_builders import probe

TABLE = sms20.merge_overrides(None)


def _rtm_list(*ids: str, key_present: bool) -> dict:
    rows = [{"PackageID": i, "SourceSite": i[:3], **({"ActionInProgress": None} if key_present else {})} for i in ids]
    return {"available": True, "error": None, "namespace": "root\\SMS\\site_610", "packages": rows,
            "action_in_progress_known": False}


def test_a_missing_action_in_progress_is_reported_as_unknown_not_idle():
    for key_present in (True, False):
        facts = parse_probe("sms01", probe(active_packages=_rtm_list("61000001", "60000002",
                                                                     key_present=key_present)), TABLE)
        assert facts.active.available is True
        assert facts.active.ids == {"61000001", "60000002"}          # listed: active whatever the action
        [warning] = [w for w in facts.warnings if "ActionInProgress" in w]
        assert "ActionInProgress unknown for 2 listed package(s) at site 610" in warning
        assert "60000002" in warning and "count as active" in warning


def test_a_known_action_gives_no_warning():
    rows = [{"PackageID": "61000001", "SourceSite": "610", "ActionInProgress": 0}]
    facts = parse_probe("sms01", probe(active_packages={"available": True, "error": None,
                                                        "namespace": "root\\SMS\\site_610", "packages": rows}), TABLE)
    assert not [w for w in facts.warnings if "ActionInProgress" in w]
