from __future__ import annotations

import pytest

from ansible_collections.sms.remediation.plugins.module_utils.sms20 import merge_overrides
from ansible_collections.sms.remediation.plugins.module_utils.versions import (
    Q244405State,
    SmsVersion,
    VersionError,
    parse_version,
    q244405_state,
    service_pack_for,
)

TABLE = merge_overrides(None)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2.00.1380.1000", SmsVersion(2, 0, 1380, 1000)),
        ("2.0.1380.1000", SmsVersion(2, 0, 1380, 1000)),
        ("  2.00.1493.3240 \n", SmsVersion(2, 0, 1493, 3240)),
        ("2.00.1239.0000", SmsVersion(2, 0, 1239, 0)),
        ("2.0.1380.1083", SmsVersion(2, 0, 1380, 1083)),
    ],
)
def test_parse_ok(text, expected):
    assert parse_version(text) == expected


def test_canonical_str():
    assert str(parse_version("2.0.1380.1000")) == "2.00.1380.1000"
    assert str(parse_version("2.00.1239.0")) == "2.00.1239.0000"
    assert str(SmsVersion(2, 0, 1493, 3)) == "2.00.1493.0003"


def test_ordering_is_numeric():
    assert parse_version("2.0.1380.1083") > parse_version("2.00.1380.1000")
    assert parse_version("2.00.1493.2000") > parse_version("2.00.1380.9999")
    assert parse_version("2.0.1493.3241") == parse_version("2.00.1493.3241")
    assert sorted([parse_version("2.00.1493.2000"), parse_version("2.00.1239.0000")])[0].build == 1239


@pytest.mark.parametrize(
    "text, fragment",
    [
        (None, "version None: a version string is required"),
        ("", "version '': empty"),
        ("   ", "version '   ': empty"),
        ("2.00.1380", "version '2.00.1380': 4 fields expected (major.minor.build.revision), got 3"),
        ("2.00.1380.1000.1", "4 fields expected (major.minor.build.revision), got 5"),
        ("2.00.13a0.1000", "build field '13a0' is not a number"),
        ("2.00..1000", "build field '' is not a number"),
        ("2.00.1380.", "revision field '' is not a number"),
        ("2.00.-1.1000", "build field '-1' is negative"),
        ("2.00.1380.99999999", "revision field '99999999' is too large"),
        ("2.00.1380.70000", "revision field '70000' is too large"),
        ("2.00.1380.1000 SP1", "revision field '1000 SP1' is not a number"),
        ("2.00.\u0661\u0663\u0668\u0660.1000", "is not a number"),  # Arabic-Indic digits
        ("000", "got 1"),
        (2.0, "expected a string, got float"),
    ],
)
def test_parse_refused(text, fragment):
    with pytest.raises(VersionError) as exc:
        parse_version(text)
    assert fragment in str(exc.value)


@pytest.mark.parametrize(
    "version, sp",
    [
        ("2.00.1239.0000", "RTM"),
        ("2.00.1239.0123", "RTM"),
        ("2.00.1380.1000", "SP1"),
        ("2.00.1380.1083", "SP1"),
        ("2.00.1493.2000", "SP2"),
        ("2.0.1493.2999", "SP2"),
        ("2.00.1493.3009", "SP3"),
        ("2.00.1493.4102", "SP4"),
        ("2.00.1493.5000", "SP5"),
    ],
)
def test_service_pack_for(version, sp):
    assert service_pack_for(version, TABLE) == sp
    assert service_pack_for(parse_version(version), TABLE) == sp


@pytest.mark.parametrize("version", ["1.20.800.0000", "3.00.2451.0000", "2.00.1000.0000"])
def test_service_pack_for_not_sms20(version):
    with pytest.raises(VersionError, match="not an SMS 2.0 version"):
        service_pack_for(version, TABLE)


@pytest.mark.parametrize(
    "site, distmgr, log, expected",
    [
        ("2.00.1380.1000", "2.00.1380.1000", False, Q244405State(
            True, None, "SP1",
            "SMS 2.0 SP1 (2.00.1380.1000) with Distmgr.dll 2.00.1380.1000 < 2.00.1380.1083: affected")),
        ("2.00.1239.0000", "2.00.1239.0000", False, Q244405State(
            True, None, "RTM",
            "SMS 2.0 RTM (2.00.1239.0000) with Distmgr.dll 2.00.1239.0000 < 2.00.1380.1083: affected")),
        ("2.0.1380.1000", "2.0.1380.1083", False, Q244405State(
            False, "hotfix", "SP1",
            "SMS 2.0 SP1 (2.00.1380.1000) with Distmgr.dll 2.00.1380.1083 >= 2.00.1380.1083: fixed by the hotfix")),
        # Issue 11 defect 4: a known Distmgr.dll version decides; the log does not outweigh it.
        ("2.00.1380.1000", "2.00.1380.1000", True, Q244405State(
            True, None, "SP1",
            "SMS 2.0 SP1 (2.00.1380.1000) with Distmgr.dll 2.00.1380.1000 < 2.00.1380.1083 "
            "(Q244405.log present, but the file version decides): affected")),
        # ... and counts only when the version cannot be read.
        ("2.00.1380.1000", None, True, Q244405State(
            False, "hotfix", "SP1",
            "SMS 2.0 SP1 (2.00.1380.1000) with Q244405.log present (Distmgr.dll: Distmgr.dll version unknown): "
            "fixed by the hotfix")),
        (None, "2.00.1380.1000", True, Q244405State(
            None, None, None, "site version missing; Distmgr.dll 2.00.1380.1000 < 2.00.1380.1083: unknown")),
        ("2.00.1380.1000", None, False, Q244405State(
            True, None, "SP1",
            "SMS 2.0 SP1 (2.00.1380.1000), Distmgr.dll version unknown, no Q244405.log: affected")),
        ("2.00.1493.2000", "2.00.1493.2000", False, Q244405State(
            False, "sp2", "SP2", "SMS 2.0 SP2 (2.00.1493.2000): fixed by SP2 or later")),
        ("2.00.1493.4000", None, False, Q244405State(
            False, "sp2", "SP4", "SMS 2.0 SP4 (2.00.1493.4000): fixed by SP2 or later")),
        (None, None, False, Q244405State(
            None, None, None, "site version missing; Distmgr.dll version unknown: unknown")),
        (None, "2.00.1380.1000", False, Q244405State(
            None, None, None, "site version missing; Distmgr.dll 2.00.1380.1000 < 2.00.1380.1083: unknown")),
        (None, "2.00.1380.1083", False, Q244405State(
            False, "hotfix", None,
            "site version missing; Distmgr.dll 2.00.1380.1083 >= 2.00.1380.1083: fixed by the hotfix")),
        ("", None, True, Q244405State(
            False, "hotfix", None,
            "site version missing; Distmgr.dll version unknown; Q244405.log present: fixed by the hotfix")),
        ("000", "2.00.1493.3240", False, Q244405State(
            False, "sp2", None,
            "site version unusable (version '000': 4 fields expected (major.minor.build.revision), got 1); "
            "Distmgr.dll 2.00.1493.3240 >= SP2 (2.00.1493.2000): fixed by SP2 or later")),
        ("2.00.1380.1000", "garbage", False, Q244405State(
            True, None, "SP1",
            "SMS 2.0 SP1 (2.00.1380.1000), Distmgr.dll version unusable (version 'garbage': 4 fields "
            "expected (major.minor.build.revision), got 1), no Q244405.log: affected")),
        ("3.00.2451.0000", None, False, Q244405State(
            None, None, None,
            "site version unusable (version 3.00.2451.0000: not an SMS 2.0 version (RTM is 2.00.1239.0000)); "
            "Distmgr.dll version unknown: unknown")),
    ],
)
def test_q244405_state(site, distmgr, log, expected):
    assert q244405_state(site, distmgr, log, TABLE) == expected


def test_q244405_threshold_is_a_variable():
    table = merge_overrides({"hotfix_min_distmgr_version": "2.00.1380.1090"})
    state = q244405_state("2.00.1380.1000", "2.00.1380.1083", False, table)
    assert state.affected is True
    assert state.reason.endswith("Distmgr.dll 2.00.1380.1083 < 2.00.1380.1090: affected")
