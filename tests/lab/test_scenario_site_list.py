"""What each simulated site's SMS Provider lists in ``SMS_Site``: itself and every site beneath it, so the
central site lists the whole hierarchy (what the ``sms_hierarchy`` inventory plugin reads)."""

from __future__ import annotations

from pathlib import Path

from smslab.scenario import build_state_dir
from smslab.state import HostState

ROOT = Path(__file__).resolve().parents[2]


def _sites(state_dir: Path, name: str) -> list[dict]:
    return HostState.load(state_dir / "hosts" / name).wmi["sites"]


def test_the_central_site_lists_every_site_and_a_child_only_itself(tmp_path):
    build_state_dir(ROOT / "lab" / "scenarios" / "demo.yml", tmp_path)
    central = _sites(tmp_path, "sms600")
    assert [(row["SiteCode"], row["ReportingSiteCode"], row["ServerName"]) for row in central] == [
        ("600", "", "SMS600"), ("610", "600", "SMS610"), ("620", "600", "SMS620"), ("630", "600", "SMS630")]
    assert {row["BuildNumber"] for row in central} == {1493, 1380}
    assert all(row["Status"] == 1 and row["Type"] == 2 for row in central)
    assert [row["SiteCode"] for row in _sites(tmp_path, "sms610")] == ["610"]


def test_a_middle_site_lists_its_own_subtree(tmp_path):
    scenario = {"sites": [
        {"name": "central", "site_code": "A00", "parent": None},
        {"name": "middle", "site_code": "B00", "parent": "A00"},
        {"name": "leaf", "site_code": "C00", "parent": "B00", "type": "secondary"},
        {"name": "other", "site_code": "D00", "parent": "A00"}]}
    build_state_dir(scenario, tmp_path)
    assert [row["SiteCode"] for row in _sites(tmp_path, "middle")] == ["B00", "C00"]
    assert [row["SiteCode"] for row in _sites(tmp_path, "central")] == ["A00", "B00", "C00", "D00"]
    assert _sites(tmp_path, "leaf")[0]["Type"] == 1
