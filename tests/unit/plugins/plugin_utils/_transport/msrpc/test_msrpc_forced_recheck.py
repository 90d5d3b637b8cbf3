"""Forced package IDs go only after a WMI re-check just before removal finds them not active (issue 19,
defect 3). Before, a plan made while the active list was unavailable handed the host no namespace to re-check
in, and the user's forced IDs were deleted on the strength of the plan alone."""

from __future__ import annotations

import sys
from pathlib import Path

from ansible_collections.sms.remediation.plugins.module_utils import sms20
from ansible_collections.sms.remediation.plugins.module_utils.decision import plan
from ansible_collections.sms.remediation.plugins.module_utils.leftovers import classify
from ansible_collections.sms.remediation.plugins.module_utils.probe_result import parse_probe
from ansible_collections.sms.remediation.plugins.plugin_utils._steps import packages as steps
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc import packages as packages_module
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.packages import act_on_packages
from fake_host import FakeHost

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "module_utils"))
import probe_builders as pb  # noqa: E402  pylint: disable=wrong-import-position

TABLE = sms20.merge_overrides(None)
FORCED = ("61000012", "61000013")
PCK = b"compressed package bytes"


class WmiDown:
    calls = 0

    @classmethod
    def active_packages(cls, session, site_code, timeout):
        cls.calls += 1
        return {"available": False, "error": f"active packages unknown: no answer from WMI (site {site_code})",
                "namespace": None, "packages": None}


class WmiBack:
    """WMI answers again at removal time: 61000013 was created meanwhile (active), 61000012 is not listed."""

    @staticmethod
    def active_packages(session, site_code, timeout):
        return {"available": True, "error": None, "namespace": f"root\\SMS\\site_{site_code}",
                "packages": [{"PackageID": "61000013", "ActionInProgress": 0, "SourceSite": "610"}]}


class Transport:
    """What the workaround step needs of a transport: the msrpc package actions on a fake host."""

    check_mode = False

    def __init__(self, host):
        self.host = host

    def act_on_packages(self, parameters):
        return act_on_packages(self.host, parameters, False)


def _planned():
    raw = pb.site_probe("610", "600", files=[pb.pck(pid) for pid in FORCED], active_available=False)
    site = parse_probe("sms01", raw, TABLE)
    return site, plan(site, classify(site, {}), pb.request(policy="workaround", force=FORCED, source=False), TABLE)


def _host():
    host = FakeHost()
    for pid in FORCED:
        host.files.add_file(f"D:\\SMSPKG\\{pid}.PCK", PCK)
    return host


def _run(result_plan, host):
    [step] = [s for s in result_plan.steps if s.kind == "workaround"]
    return steps.workaround(Transport(host), step.args)


def test_wmi_unreachable_at_removal_removes_nothing_forced_and_says_why_per_package(monkeypatch):
    monkeypatch.setattr(packages_module.wmi_hook, "wmi_module", lambda: WmiDown)
    _site, result_plan = _planned()
    assert sorted(item.package_id for item in result_plan.remove) == list(FORCED)       # forcing was allowed
    host = _host()
    result = _run(result_plan, host)
    assert result["removed"] == [] and not result["changed"]
    assert sorted(r["id"] for r in result["refused"]) == list(FORCED)
    for refusal in result["refused"]:
        assert refusal["reason"].startswith("cannot re-check active packages: active packages unknown: no answer")
    assert all(host.files.data(f"D:\\SMSPKG\\{pid}.PCK") == PCK for pid in FORCED)


def test_a_forced_id_goes_only_when_the_recheck_finds_it_not_active(monkeypatch):
    monkeypatch.setattr(packages_module.wmi_hook, "wmi_module", lambda: WmiBack)
    _site, result_plan = _planned()
    host = _host()
    result = _run(result_plan, host)
    assert result["removed"] == ["61000012"]
    [refusal] = result["refused"]
    assert refusal["id"] == "61000013" and "is active in root\\SMS\\site_610" in refusal["reason"]
    assert host.files.data("D:\\SMSPKG\\61000013.PCK") == PCK
