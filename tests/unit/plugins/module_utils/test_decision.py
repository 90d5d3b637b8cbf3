"""plan(): policies x Q244405 state x platform, refusals, force rules, and the safety property."""
from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.sms.remediation.plugins.module_utils import sms20
from ansible_collections.sms.remediation.plugins.module_utils.decision import POLICIES, plan
from ansible_collections.sms.remediation.plugins.module_utils.leftovers import (
    EVIDENCE_LEVELS,
    OriginView,
    classify,
)
from ansible_collections.sms.remediation.plugins.module_utils.probe_result import parse_probe

from probe_builders import (
    request,
    adding,
    deleted,
    deleting,
    pck,
    platforms,
    probe,
    registry,
    site_probe,
    wmi,
)

TABLE = sms20.merge_overrides(None)

# Q244405 states: (full version, i386 dll, alpha dll) -> expected affected / fixed_by
STATES = {
    "affected": ("2.00.1380.1000", "2.00.1380.1000", "2.00.1380.1000"),
    "fixed_sp2": ("2.00.1493.2000", "2.00.1493.2000", "2.00.1493.2000"),
    "fixed_hotfix": ("2.00.1380.1000", "2.00.1380.1083", "2.00.1380.1083"),
    "unknown": (None, None, None),
}


def facts_for(state: str, arch: str = "x86", console_open: bool = False):
    full, i386, alpha = STATES[state]
    overrides = dict(
        processor_architecture=arch,
        registry=registry(full_version=full),
        platforms=platforms(i386=i386, alpha=alpha),
        console_open=console_open,
    )
    if state == "unknown":
        overrides["wmi_site"] = wmi(available=False)
    return parse_probe("sms01", probe(**overrides), TABLE)


def test_policies_constant():
    assert POLICIES == ("auto", "report", "workaround", "hotfix")


def test_invalid_policy():
    with pytest.raises(ValueError, match="policy 'fix': expected one of auto, report, workaround, hotfix"):
        plan(facts_for("affected"), [], request("fix"), TABLE)


def test_invalid_method():
    with pytest.raises(ValueError, match="hotfix_method 'msi'"):
        plan(facts_for("affected"), [], request("hotfix", "msi", True), TABLE)


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("state", list(STATES))
@pytest.mark.parametrize("arch", ["x86", "ALPHA"])
@pytest.mark.parametrize("method", [None, "installer", "manual"])
def test_hotfix_matrix(policy, state, arch, method):
    site = facts_for(state, arch)
    result = plan(site, [], request(policy, method, True), TABLE)
    if policy in ("report", "workaround"):
        assert result.hotfix is False
        assert f"policy {policy} does not apply the hotfix" == result.hotfix_reason
        return
    if state in ("fixed_sp2", "fixed_hotfix"):
        assert result.hotfix is False
        assert result.hotfix_reason.startswith("already fixed (" + ("sp2" if state == "fixed_sp2" else "hotfix"))
    elif state == "unknown":
        assert result.hotfix is False
        assert result.hotfix_reason.startswith("cannot tell whether the site is affected")
    elif method == "installer" and arch == "ALPHA":
        assert result.hotfix is False
        assert result.hotfix_refused is True
        assert result.hotfix_reason == ("Q244405.exe runs on I386 only and this site server is alpha; "
                                        "use method=manual with the alpha Distmgr.dll")
    else:
        assert result.hotfix is True
        expected = method or ("installer" if arch == "x86" else "manual")
        assert result.hotfix_method == expected
        assert result.hotfix_reason.startswith("affected: ")


def test_installer_without_path_is_refused_loudly():
    result = plan(facts_for("affected"), [], request("auto", "installer", False), TABLE)
    assert result.hotfix is False and result.hotfix_refused is True
    assert result.hotfix_reason.startswith("method=installer needs installer_path")
    assert result.steps[-1].to_dict() == {"kind": "refuse", "args": {"step": "hotfix", "reason": result.hotfix_reason}}


def test_manual_without_a_file_for_the_platform_is_skipped():
    result = plan(facts_for("affected"), [], request("auto", "manual", False), TABLE)
    assert result.hotfix is False and result.hotfix_refused is False and result.steps == []
    assert result.hotfix_reason == ("no hotfix source given (method=manual needs src, in remediate hotfix_files.i386: "
                                    "the fixed Distmgr.dll for i386)")


def test_console_open_refuses_the_hotfix_unless_allowed():
    result = plan(facts_for("affected", console_open=True), [], request("hotfix", None, True), TABLE)
    assert result.hotfix is False and result.hotfix_refused is True
    assert "console is open" in result.hotfix_reason and "allow_console_open" in result.hotfix_reason
    allowed = plan(facts_for("affected", console_open=True), [], request("hotfix", None, True, allow_console_open=True),
                   TABLE)
    assert allowed.hotfix is True and allowed.steps[-1].kind == "hotfix_installer"


# What each transport's probe answers when its console check fails: sms_probe.ps1 (Test-ConsoleOpen over WMI) and
# the msrpc probe (Win32_Process over DCOM, or no WMI at all); console_open is null in every case.
CONSOLE_UNKNOWN = {
    "winrm, WMI down": "WMI namespace root\\cimv2 unavailable (0x80080005)",
    "msrpc, WMI failed": "sms01: wmi: WMI root\\cimv2: RPC_S_SERVER_UNAVAILABLE",
    "msrpc, no WMI": "whether the SMS Administrator console is open needs Win32_Process: WMI over DCOM not configured",
}


@pytest.mark.parametrize("case", sorted(CONSOLE_UNKNOWN))
@pytest.mark.parametrize("method", ["installer", "manual"])
def test_a_console_that_cannot_be_checked_refuses_the_hotfix_unless_allowed(case, method):
    message = CONSOLE_UNKNOWN[case]
    site = parse_probe("sms01", probe(registry=registry(full_version=STATES["affected"][0]),
                                      platforms=platforms(*STATES["affected"][1:]), console_open=None,
                                      errors=[{"source": "processes", "message": message}]), TABLE)
    assert site.console_open is None
    result = plan(site, [], request("hotfix", method, True), TABLE)
    assert result.hotfix is False and result.hotfix_refused is True, result.hotfix_reason
    assert result.steps[-1].kind == "refuse" and result.steps[-1].args["reason"] == result.hotfix_reason
    assert "cannot tell whether the SMS Administrator console" in result.hotfix_reason
    assert message in result.hotfix_reason and "allow_console_open" in result.hotfix_reason
    allowed = plan(site, [], request("hotfix", method, True, allow_console_open=True), TABLE)
    assert allowed.hotfix is True and not allowed.hotfix_refused
    assert allowed.steps[-1].kind == f"hotfix_{'installer' if method == 'installer' else 'transaction'}"


def test_a_console_unknown_without_a_probe_error_is_refused_too():
    result = plan(facts_for("affected", console_open=None), [], request("hotfix", None, True), TABLE)
    assert result.hotfix_refused is True and "cannot tell" in result.hotfix_reason
    assert "the probe did not say" in result.hotfix_reason


# --- leftovers and force ------------------------------------------------------------------------

CLAIM = (deleting("60000012"), deleted("60000012"))


def mixed_site(active_available=True):
    files = [
        pck("60000012", size=10),      # stale_confirmed (log + origin)
        pck("60000013", size=20),      # stale_unconfirmed? no: origin -> confirmed
        pck("62000001", size=30),      # origin 620 not in run -> absent_here -> unconfirmed
        pck("60000014", size=40),      # present at origin -> active
        pck("61000005", size=50),      # active here
        pck("61000006", size=60),      # deleting here
        pck("notes.txt", size=70),     # unknown name
        pck("60000015", size=80, reparse_point=True),  # unknown: reparse point
    ]
    site = parse_probe("child", site_probe("610", "600", files=files, active_ids=["61000005"],
                                           deleting_ids=["61000006"], log=CLAIM,
                                           active_available=active_available), TABLE)
    origins = {"600": OriginView("600", True, frozenset({"60000014"}), None)}
    return site, classify(site, origins)


def by_id(items):
    return {i.package_id or i.name: i for i in items}


@pytest.mark.parametrize("transport, quarantine_dir, refused", [
    ("msrpc", "C:\\Q244405", True),        # an SMB rename cannot leave the D$ share
    ("msrpc", "D:\\Q244405", False),
    ("winrm", "C:\\Q244405", False),       # PowerShell's move copies across drives
    (None, "C:\\Q244405", False),
])
def test_a_quarantine_on_another_drive_is_refused_in_the_plan_over_msrpc(transport, quarantine_dir, refused):
    site, items = mixed_site()
    site.transport = transport
    confirmed = {i.package_id for i in items if i.actionable and i.status == "stale_confirmed"}
    result = plan(site, items, request("workaround", workaround_state="quarantined", quarantine_dir=quarantine_dir),
                  TABLE)
    removed = {i.package_id for i in result.remove}
    reasons = {r["id"]: r["reason"] for r in result.refused}
    if not refused:
        assert removed == confirmed and not reasons
        return
    assert removed == set() and result.step("workaround") is None           # nothing handed to the host
    assert set(reasons) == confirmed
    assert reasons["60000012"] == (
        "child: D:\\SMSPKG\\60000012.PCK is on drive D: and the quarantine folder C:\\Q244405 on drive C:: over msrpc "
        "a move is an SMB rename, which cannot cross drives (shares D$ and C$); use a quarantine_dir on drive D: "
        "(over winrm PowerShell copies across drives)")


def test_report_policy_changes_nothing():
    site, items = mixed_site()
    result = plan(site, items, request("report", None, True, ["62000001"]), TABLE)
    assert result.remove == [] and result.refused == [] and result.hotfix is False
    assert any("force IDs ignored" in n for n in result.notes)


def test_hotfix_policy_does_not_touch_leftovers():
    site, items = mixed_site()
    result = plan(site, items, request("hotfix", None, True), TABLE)
    assert result.remove == []
    assert result.hotfix is True


@pytest.mark.parametrize("policy", ["workaround", "auto"])
def test_removes_only_actionable(policy):
    site, items = mixed_site()
    result = plan(site, items, request(policy, None, True), TABLE)
    assert sorted(i.package_id for i in result.remove) == ["60000012", "60000013"]
    # Nobody asked for these: they are kept with their reason, not refused.
    assert result.refused == []
    refused = {r["id"] or r["name"]: r["reason"] for r in result.kept}
    assert set(refused) == {"62000001", "60000014", "61000005", "61000006", "notes.txt", "60000015"}
    assert refused["60000014"].startswith("active: ")
    assert "origin site 600" in refused["60000014"]
    assert "left to Distribution Manager" in refused["61000006"]
    assert refused["notes.txt"].startswith("unknown: file name 'notes.txt'")
    assert refused["62000001"].startswith("stale_unconfirmed: ")
    if policy == "auto":
        assert result.hotfix is True
        assert any("does not remove the existing ones" in n for n in result.notes)
    else:
        assert result.hotfix is False


def test_force_stale_unconfirmed():
    site, items = mixed_site()
    result = plan(site, items, request("workaround", None, True, ["62000001"]), TABLE)
    assert "62000001" in [i.package_id for i in result.remove]
    assert any("forced by the user" in n for n in result.notes)


def test_force_active_is_refused():
    site, items = mixed_site()
    result = plan(site, items, request("workaround", None, True, ["60000014", "61000005", "61000006"]), TABLE)
    removed = {i.package_id for i in result.remove}
    assert not removed & {"60000014", "61000005", "61000006"}
    refused = {r["id"]: r["reason"] for r in result.refused}
    for pid in ("60000014", "61000005", "61000006"):
        assert refused[pid].startswith("cannot force: active: ")


def test_force_unknown_reparse_is_refused():
    site, items = mixed_site()
    result = plan(site, items, request("workaround", None, True, ["60000015"]), TABLE)
    assert "60000015" not in {i.package_id for i in result.remove}
    refused = {r["id"]: r["reason"] for r in result.refused}
    assert refused["60000015"].startswith("cannot force: unknown: the file is a reparse point")


def test_force_unknown_when_active_list_unavailable():
    site, items = mixed_site(active_available=False)
    result = plan(site, items, request("workaround", None, True, ["62000001", "60000014"]), TABLE)
    removed = {i.package_id for i in result.remove}
    assert removed == {"62000001"}  # 60000014 is present at its origin: active, never forced
    refused = {r["id"] or r["name"]: r["reason"] for r in result.refused + result.kept}
    assert refused["60000014"].startswith("cannot force: active")
    assert refused["60000012"].startswith("unknown: active list unavailable")


def test_force_id_matching_nothing_and_invalid():
    site, items = mixed_site()
    result = plan(site, items, request("workaround", None, True, ["6000AAAA", "bad id", "60000012"]), TABLE)
    assert any("force ID 6000AAAA matches no compressed package" in n for n in result.notes)
    assert any("force ID ignored: package ID 'bad id'" in n for n in result.notes)
    assert any("force ID 60000012: already confirmed" in n for n in result.notes)


def test_to_dict():
    site, items = mixed_site()
    data = plan(site, items, request("auto", None, True), TABLE).to_dict()
    assert set(data) == {"policy", "hotfix", "hotfix_method", "hotfix_reason", "hotfix_refused", "remove", "kept",
                         "refused", "notes", "steps"}
    assert all(isinstance(r, dict) for r in data["remove"])


# --- the safety property --------------------------------------------------------------------------

SITES = ["600", "610", "620"]
IDS = [f"{site}{n:05X}" for site in SITES for n in range(1, 7)]
EXAMPLES = int(os.environ.get("SMS_PROPERTY_EXAMPLES", "2000"))


@st.composite
def scenarios(draw):
    here = draw(st.sampled_from(SITES))
    # one folder: a file name appears once (NTFS names are unique, case-insensitively)
    file_ids = draw(st.lists(st.sampled_from(IDS), max_size=8, unique=True))
    # per file: (size, last write time, reparse point) drawn as one small index each
    attrs = draw(st.lists(st.integers(0, 11), min_size=len(file_ids), max_size=len(file_ids)))
    times = [None, "1999-10-15T16:00:00Z", "1999-10-20T16:00:00Z"]
    files = [pck(pid, size=a * 1000, last_write_utc=times[a % 3], reparse_point=a % 4 == 3)
             for pid, a in zip(file_ids, attrs)]
    files += [pck(n) for n in draw(st.lists(st.sampled_from(
        ["junk.txt", "6000001.PCK", "CON.PCK", "60000001.pck.tmp"]), max_size=2, unique=True))]
    active_available = draw(st.booleans())
    active_ids = draw(st.lists(st.sampled_from(IDS), max_size=6))
    deleting_ids = draw(st.lists(st.sampled_from(IDS), max_size=3))
    events = draw(st.lists(st.tuples(st.sampled_from(["deleting", "deleted", "adding"]),
                                     st.sampled_from(IDS)), max_size=10))
    makers = {"deleting": deleting, "deleted": deleted, "adding": adding}
    log = [makers[kind](pid) for kind, pid in events]
    origins = {}
    for code in draw(st.lists(st.sampled_from(SITES), unique=True)):
        origins[code] = OriginView(code, draw(st.booleans()),
                                   frozenset(draw(st.lists(st.sampled_from(IDS), max_size=6))),
                                   "unreachable")
    probe_result = site_probe(here, None, files=files, active_ids=active_ids,
                              deleting_ids=deleting_ids, log=log, active_available=active_available)
    return {
        "probe": probe_result,
        "origins": origins,
        "min_evidence": draw(st.sampled_from(EVIDENCE_LEVELS)),
        "policy": draw(st.sampled_from(POLICIES)),
        "force": draw(st.lists(st.sampled_from(IDS), max_size=4)),
        "here": here,
        "active": set(active_ids) | set(deleting_ids) if active_available else set(),
        "active_available": active_available,
    }


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_never_removes_active_deleting_origin_present_or_unknown(s):
    site = parse_probe("prop", s["probe"], TABLE)
    items = classify(site, s["origins"], s["min_evidence"])
    for force in ((), s["force"]):
        result = plan(site, items, request(s["policy"], None, True, force), TABLE)
        if s["policy"] in ("report", "hotfix"):
            assert result.remove == []
        for item in result.remove:
            pid = item.package_id
            # a name that is not a package ID, or a link, is never removed
            assert pid is not None
            # classify keeps the order of site.package_files
            raw = site.package_files[next(i for i, x in enumerate(items) if x is item)]
            assert not raw.reparse_point
            # active here (ActionInProgress=3 included)
            assert pid not in s["active"]
            # present at its origin (a different, readable site of the run)
            view = s["origins"].get(pid[:3])
            if pid[:3] != s["here"] and view is not None and view.available:
                assert pid not in view.active_ids
            assert item.status != "active"
            if not force:
                assert item.status == "stale_confirmed" and item.actionable
                assert s["active_available"]
            elif item.status == "unknown":
                assert pid in force
                assert item.reasons[0].startswith("active list unavailable")
            elif item.status == "stale_unconfirmed":
                assert pid in force
        # every leftover is either removed or refused under a removing policy
        if s["policy"] in ("workaround", "auto"):
            assert len(result.remove) + len(result.kept) + len(result.refused) == len(items)


# --- one decision: remediate and distmgr_hotfix refuse for the same reasons ----------------------

def _reason_pair(site, **options):
    """(remediate's plan, distmgr_hotfix's plan) of the same request: policy hotfix, and the hotfix required."""
    return (plan(site, [], request("hotfix", **options), TABLE),
            plan(site, [], request("hotfix", hotfix_required=True, **options), TABLE))


@pytest.mark.parametrize("site, options, fatal_in_remediate", [
    (facts_for("affected", console_open=True), {"method": "manual"}, True),
    (facts_for("affected", arch="ALPHA"), {"method": "installer"}, True),
    (facts_for("affected"), {"method": "installer", "source": False}, True),
    (facts_for("affected"), {"method": "manual", "source": False}, False),
    (facts_for("unknown"), {"method": "manual"}, False),
    (parse_probe("rtm", probe(registry=registry(full_version="2.00.1239.0000"),
                              platforms=platforms(i386="2.00.1239.0000")), TABLE), {"method": "manual"}, False),
])
def test_remediate_and_distmgr_hotfix_refuse_for_the_same_reason(site, options, fatal_in_remediate):
    in_remediate, in_hotfix_module = _reason_pair(site, **options)
    assert in_remediate.hotfix is in_hotfix_module.hotfix is False
    assert in_remediate.hotfix_reason == in_hotfix_module.hotfix_reason
    # The single-step module was asked for the hotfix: every refusal fails it; remediate skips the mild ones.
    assert in_hotfix_module.hotfix_refused is True
    assert in_remediate.hotfix_refused is fatal_in_remediate
    assert in_hotfix_module.steps[-1].to_dict() == {
        "kind": "refuse", "args": {"step": "hotfix", "reason": in_hotfix_module.hotfix_reason}}


def test_cross_build_is_allowed_per_run():
    rtm = parse_probe("rtm", probe(registry=registry(full_version="2.00.1239.0000"),
                                   platforms=platforms(i386="2.00.1239.0000")), TABLE)
    refused = plan(rtm, [], request("hotfix", "manual"), TABLE)
    assert "belongs to build 1380" in refused.hotfix_reason and "build 1239" in refused.hotfix_reason
    allowed = plan(rtm, [], request("hotfix", "manual", allow_cross_build=True), TABLE)
    assert allowed.hotfix is True and allowed.steps[-1].kind == "hotfix_transaction"
