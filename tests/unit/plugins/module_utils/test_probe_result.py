"""parse_probe: schema validation, fallbacks, warnings, to_facts."""
from __future__ import annotations

import json

import pytest

from ansible_collections.sms.remediation.plugins.module_utils import sms20
from ansible_collections.sms.remediation.plugins.module_utils.facts import parse_utc
from ansible_collections.sms.remediation.plugins.module_utils.probe_result import (
    ProbeError,
    parse_probe,

)

from probe_builders import (
    active,
    adding,
    deleted,
    deleting,
    folder,
    log_files,
    no_log,
    pck,
    platforms,
    probe,
    registry,
    services,
    wmi,
)

TABLE = sms20.merge_overrides(None)


def parse(**overrides):
    return parse_probe("sms01", probe(**overrides), TABLE)


def test_valid_probe_gives_site_facts():
    facts = parse()
    assert facts.host == "sms01"
    assert facts.site_code == "610"
    assert facts.parent_site_code == "600"
    assert facts.site_type == "primary"
    assert facts.version == "2.00.1380.1000"
    assert facts.build == 1380
    assert facts.service_pack == "SP1"
    assert facts.platform == "i386"
    assert facts.install_dir == "C:\\SMS"
    assert facts.q244405.affected is True
    assert facts.q244405.fixed_by is None
    assert facts.services["SMS_EXECUTIVE"] == "running"
    assert facts.active.available is True
    assert facts.package_files == []


def test_probe_error_str_names_host():
    err = ProbeError("sms09", "something bad")
    assert str(err) == "sms09: something bad"
    assert err.host == "sms09"


@pytest.mark.parametrize("key", [
    "schema", "computer_name", "processor_architecture", "registry", "wmi_site", "install_dir",
    "platforms", "hotfix_log", "services", "console_open", "package_folders", "active_packages",
    "distmgr_log", "errors",
])
def test_missing_top_level_key_is_named(key):
    result = probe()
    del result[key]
    with pytest.raises(ProbeError) as exc:
        parse_probe("sms01", result, TABLE)
    assert str(exc.value).startswith("sms01: ")
    assert f"'{key}'" in str(exc.value)


def test_schema_2_is_refused():
    with pytest.raises(ProbeError, match=r"^sms01: probe result schema 2 is not supported \(field 'schema'"):
        parse(schema=2)


def test_not_a_dict():
    with pytest.raises(ProbeError, match="sms01: malformed probe result: expected an object, got list"):
        parse_probe("sms01", [], TABLE)


@pytest.mark.parametrize("overrides, field", [
    ({"schema": "1"}, "'schema'"),
    ({"console_open": "no"}, "'console_open'"),
    ({"package_folders": {}}, "'package_folders'"),
    ({"registry": []}, "'registry'"),
    ({"services": []}, "'services'"),
    ({"errors": None}, "'errors'"),
    ({"package_folders": [folder("D:\\SMSPKG", {**pck("61000012"), "size": "big"})]},
     "'package_folders[0].files[0].size'"),
    ({"package_folders": [folder("D:\\SMSPKG", {"name": "61000012.PCK"})]},
     "'package_folders[0].files[0].size'"),
    ({"active_packages": {**active("61000013"), "packages": [{"ActionInProgress": 0}]}},
     "'active_packages.packages[0].PackageID'"),
    ({"active_packages": {**active(), "packages": None}}, "'active_packages.packages'"),
    ({"platforms": {"i386": {"path": "x", "exists": "yes", "file_version": None, "size": None,
                             "sha256": None}}}, "'platforms.i386.exists'"),
    ({"wmi_site": {**wmi(), "BuildNumber": "1380"}}, "'wmi_site.BuildNumber'"),
    ({"wmi_site": {"available": True}}, "'wmi_site.error'"),
    ({"distmgr_log": {**log_files(deleted("60000012")),
                      "files": [{"path": "x", "exists": True, "size": 1, "matches": [{"line": "1", "text": "t"}]}]}},
     "'distmgr_log.files[0].matches[0].line'"),
    ({"registry": {"setup": None, "identification": None}}, "'registry.tracing'"),
    ({"errors": [{"source": "wmi"}]}, "'errors[0].message'"),
    ({"hotfix_log": {"path": "x", "exists": 1}}, "'hotfix_log.exists'"),
])
def test_wrong_types_are_named(overrides, field):
    with pytest.raises(ProbeError) as exc:
        parse(**overrides)
    assert str(exc.value).startswith("sms01: ")
    assert field in str(exc.value)


def test_bool_is_not_an_int():
    with pytest.raises(ProbeError, match="'schema'"):
        parse(schema=True)


def test_unknown_architecture():
    with pytest.raises(ProbeError) as exc:
        parse(processor_architecture="MIPS")
    assert str(exc.value) == "sms01: unknown processor architecture 'MIPS': not an SMS 2.0 platform (known: x86, ALPHA)"


@pytest.mark.parametrize("arch", ["AMD64", "amd64", "IA64", "ARM64"])
def test_64_bit_host_is_not_an_sms20_platform(arch):
    # Issue 11 defect 9: SMS 2.0 has no x64 build; the error names the host and says so, before any
    # other field of the answer is looked at (here the registry is not even an object).
    with pytest.raises(ProbeError) as exc:
        parse(processor_architecture=arch, registry="not an object")
    assert str(exc.value).startswith(f"sms01: processor architecture {arch} is not an SMS 2.0 platform")
    assert "no 64-bit build" in str(exc.value)


def test_missing_architecture():
    with pytest.raises(ProbeError, match="sms01: processor_architecture is missing"):
        parse(processor_architecture=None)


def test_alpha_platform_uses_alpha_distmgr():
    facts = parse(processor_architecture="ALPHA",
                  platforms=platforms(i386="2.00.1380.1000", alpha="2.00.1380.1083"))
    assert facts.platform == "alpha"
    assert facts.q244405.fixed_by == "hotfix"
    # the i386 one is not the server's own
    facts = parse(processor_architecture="ALPHA",
                  platforms=platforms(i386="2.00.1380.1083", alpha="2.00.1380.1000"))
    assert facts.q244405.affected is True


@pytest.mark.parametrize("code", ["61", "6100", "6-0", "  "])
def test_bad_site_code(code):
    with pytest.raises(ProbeError) as exc:
        parse(registry=registry(site_code=code), wmi_site=wmi(site_code=code))
    assert str(exc.value).startswith("sms01: ")
    assert "site code" in str(exc.value)


def test_site_code_from_wmi_when_registry_missing():
    facts = parse(registry=registry(site_code=None), wmi_site=wmi(site_code="abc"))
    assert facts.site_code == "ABC"
    assert any("using WMI SMS_Site SiteCode" in w for w in facts.warnings)


def test_no_site_code_anywhere():
    with pytest.raises(ProbeError, match="sms01: no site code"):
        parse(registry=registry(site_code=None), wmi_site=wmi(available=False))


def test_site_code_disagreement_warns():
    facts = parse(wmi_site=wmi(site_code="611"))
    assert facts.site_code == "610"
    assert any("site code differs" in w for w in facts.warnings)


def test_version_fallback_to_wmi_build_1380():
    facts = parse(registry=registry(full_version=None), wmi_site=wmi(build=1380))
    assert facts.version == "2.00.1380.1000"
    assert facts.service_pack == "SP1"
    assert facts.build == 1380
    assert any(w.startswith("Setup\\Full Version missing; using WMI SMS_Site BuildNumber 1380")
               and "assuming SP1" in w for w in facts.warnings)
    assert facts.q244405.affected is True


def test_version_fallback_build_1493_is_sp2_or_later():
    facts = parse(registry=registry(full_version=""), wmi_site=wmi(build=1493),
                  platforms=platforms(i386="2.00.1493.2000"))
    assert facts.service_pack == "SP2"
    assert facts.q244405.fixed_by == "sp2"
    assert any("shared by SP2, SP3, SP4, SP5" in w for w in facts.warnings)


def test_version_fallback_unknown_build():
    facts = parse(registry=registry(full_version=None), wmi_site=wmi(build=1300))
    assert facts.version == "2.00.1300.0000"
    assert any("not in the service pack table" in w for w in facts.warnings)


def test_malformed_full_version_falls_back():
    facts = parse(registry=registry(full_version="2.x.1380"))
    assert facts.version == "2.00.1380.1000"
    assert any("is malformed" in w for w in facts.warnings)


def test_no_version_at_all_is_unknown_not_error():
    facts = parse(registry=registry(full_version=None), wmi_site=wmi(available=False, error="RPC down"),
                  platforms=platforms(i386=None))
    assert facts.version is None
    assert facts.q244405.affected is None
    assert any(w == "WMI unavailable: RPC down" for w in facts.warnings)
    assert any("site version unknown" in w for w in facts.warnings)


def test_registry_version_wins_over_wmi():
    facts = parse(registry=registry(full_version="2.0.1493.3000"), wmi_site=wmi(build=1380))
    assert facts.version == "2.00.1493.3000"
    assert facts.service_pack == "SP3"


def test_hotfix_log_does_not_outweigh_a_known_old_distmgr():
    # Issue 11 defect 4: the transaction writes Q244405.log itself, so the log alone proves nothing
    # when Distmgr.dll's version is known (and below the fixed one).
    facts = parse(hotfix_log={"path": "C:\\SMS\\Logs\\Q244405.log", "exists": True})
    assert facts.hotfix_log_present is True
    assert facts.distmgr_version == "2.00.1380.1000"
    assert facts.q244405.affected is True and facts.q244405.fixed_by is None
    assert "the file version decides" in facts.q244405.reason


def test_hotfix_log_counts_when_distmgr_version_is_unreadable():
    facts = parse(hotfix_log={"path": "C:\\SMS\\Logs\\Q244405.log", "exists": True},
                  platforms=platforms(i386=None))
    assert facts.q244405.fixed_by == "hotfix"


def test_logging_off_warning():
    facts = parse(registry=registry(tracing_enabled=0), distmgr_log=no_log())
    expected = ("Distmgr.log logging is off (HKLM\\SOFTWARE\\Microsoft\\SMS\\Tracing\\"
                "SMS_DISTRIBUTION_MANAGER Enabled=0): no log evidence on this site")
    assert expected in facts.warnings
    assert facts.logging["enabled"] is False
    assert facts.logging["evidence_available"] is False


def test_logging_off_with_old_log_still_gives_evidence():
    facts = parse(registry=registry(tracing_enabled=0),
                  distmgr_log=log_files(deleted("60000012"), enabled=False))
    assert facts.logging["evidence_available"] is True
    assert facts.log_histories["60000012"].claim is not None
    assert any("only the existing log file(s)" in w for w in facts.warnings)


def test_package_files_from_all_folders_with_name_errors():
    facts = parse(package_folders=[
        folder("D:\\SMSPKG", pck("61000012"), pck("readme.txt")),
        folder("E:\\SMSPKG\\", pck("60000001"), pck("sub", directory=True)),
        folder("F:\\SMSPKG", exists=False),
    ])
    names = [(f.path, f.package_id) for f in facts.package_files]
    assert names == [("D:\\SMSPKG\\61000012.PCK", "61000012"), ("D:\\SMSPKG\\readme.txt", None),
                     ("E:\\SMSPKG\\60000001.PCK", "60000001")]
    bad = facts.package_files[1]
    assert bad.name_error and "readme.txt" in bad.name_error
    assert any("F:\\SMSPKG does not exist" in w for w in facts.warnings)
    assert any("sub-folder" in w for w in facts.warnings)


def test_active_packages_deleting():
    facts = parse(active_packages=active("61000013", deleting=["61000014"]))
    assert facts.active.ids == frozenset({"61000013", "61000014"})
    assert facts.active.deleting == frozenset({"61000014"})


def test_active_packages_unavailable():
    facts = parse(active_packages=active(available=False, error="Access denied"))
    assert facts.active.available is False
    assert facts.active.error == "Access denied"
    assert any("active package list unavailable" in w for w in facts.warnings)


def test_active_list_from_another_site_is_not_trusted():
    facts = parse(active_packages=active("61000013", site_code="600"))
    assert facts.active.available is False
    assert "namespace" in facts.active.error


def test_log_histories_oldest_first_and_readd():
    # the .lo_ (older) deleted 61000012; the .log re-adds it -> no claim
    facts = parse(distmgr_log=log_files(adding("61000012"), deleted("61000099"),
                                        old=(deleting("61000012"), deleted("61000012"))))
    assert facts.log_histories["61000012"].claim is None
    assert facts.log_histories["61000012"].last_kind == "adding"
    assert facts.log_histories["61000099"].claim is not None


def test_log_file_order_is_normalised():
    raw = log_files(adding("61000012"), old=(deleted("61000012"),))
    raw["files"].reverse()  # probe listed Distmgr.log first
    facts = parse(distmgr_log=raw)
    assert facts.log_histories["61000012"].claim is None


def test_services_missing_warns():
    facts = parse(services=services(SMS_EXECUTIVE=None))
    assert facts.services["SMS_EXECUTIVE"] is None
    assert any("SMS_EXECUTIVE is not installed" in w for w in facts.warnings)


def test_probe_errors_become_warnings():
    facts = parse(errors=[{"source": "registry", "message": "access denied"}])
    assert "probe error (registry): access denied" in facts.warnings


def test_to_facts_is_json_safe_and_stable():
    facts = parse(package_folders=[folder("D:\\SMSPKG", pck("60000012"))],
                  active_packages=active("61000013", deleting=["61000014"]),
                  distmgr_log=log_files(deleting("60000012"), deleted("60000012")))
    out = facts.to_facts()
    text = json.dumps(out, sort_keys=True)
    assert json.loads(text) == out
    assert out["active"]["ids"] == ["61000013", "61000014"]
    assert out["log_histories"]["60000012"]["claim"]["thread"] == 297
    assert out["log_histories"]["60000012"]["claim"]["time"] == "1999-10-15T17:09:46.677000"
    assert out["q244405"]["affected"] is True
    assert list(out) == sorted(out, key=list(out).index)  # insertion order stable
    assert json.dumps(parse(package_folders=[folder("D:\\SMSPKG", pck("60000012"))],
                            active_packages=active("61000013", deleting=["61000014"]),
                            distmgr_log=log_files(deleting("60000012"), deleted("60000012"))).to_facts(),
                      sort_keys=True) == text


def test_site_type_from_registry_when_wmi_down():
    facts = parse(wmi_site=wmi(available=False))
    assert facts.site_type == "secondary"  # registry Setup\Type = 1 in the builder
    assert any("site type from registry" in w for w in facts.warnings)


@pytest.mark.parametrize("text, expected", [
    ("1999-10-15T16:00:00Z", "1999-10-15T16:00:00+00:00"),
    ("1999-10-15T16:00:00+02:00", "1999-10-15T14:00:00+00:00"),
    ("1999-10-15T16:00:00", "1999-10-15T16:00:00+00:00"),
    ("garbage", None),
    (None, None),
])
def test_parse_utc(text, expected):
    value = parse_utc(text)
    assert (value.isoformat() if value else None) == expected
