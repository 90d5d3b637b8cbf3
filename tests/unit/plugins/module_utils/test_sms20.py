from __future__ import annotations

import copy

import pytest

from ansible_collections.sms.remediation.plugins.module_utils.sms20 import (
    DEFAULTS,
    Sms20TableError,
    merge_overrides,
    hotfix_parameters,
    package_parameters,
    probe_parameters,
)


def test_defaults_values():
    assert DEFAULTS["registry_root"] == "HKLM:\\SOFTWARE\\Microsoft\\SMS"
    assert [sp["name"] for sp in DEFAULTS["service_packs"]] == ["RTM", "SP1", "SP2", "SP3", "SP4", "SP5"]
    assert DEFAULTS["service_packs"][1] == {"name": "SP1", "version": "2.00.1380.1000"}
    assert DEFAULTS["service_packs"][2] == {"name": "SP2", "version": "2.00.1493.2000"}
    assert DEFAULTS["log_names"] == ["Distmgr.lo_", "Distmgr.log"]
    assert [DEFAULTS["services"][key] for key in DEFAULTS["hotfix_stop_order"]] == [
        "SMS_SITE_COMPONENT_MANAGER", "SMS_EXECUTIVE", "SMS_SITE_BACKUP"]
    assert DEFAULTS["platforms"] == {"x86": "i386", "ALPHA": "alpha"}
    assert DEFAULTS["wmi_namespace_template"].format(site_code="610") == "root\\SMS\\site_610"
    assert DEFAULTS["site_types"] == {1: "secondary", 2: "primary"}


def test_merge_none_is_deep_copy():
    table = merge_overrides(None)
    assert table == DEFAULTS
    table["services"]["executive"] = "X"
    table["log_names"].append("x")
    assert DEFAULTS["services"]["executive"] == "SMS_EXECUTIVE"
    assert DEFAULTS["log_names"] == ["Distmgr.lo_", "Distmgr.log"]


def test_merge_dict_key_by_key_and_replace_lists():
    before = copy.deepcopy(DEFAULTS)
    table = merge_overrides({
        "services": {"site_backup": "SMS_SITE_BACKUP2"},
        "package_folders": ["E:\\SMSPKG"],
        "hotfix_min_distmgr_version": "2.00.1380.1090",
        "platforms": {"MIPS": "mips"},
    })
    assert table["services"] == {
        "component_manager": "SMS_SITE_COMPONENT_MANAGER",
        "executive": "SMS_EXECUTIVE",
        "site_backup": "SMS_SITE_BACKUP2",
        "sql_monitor": "SMS_SQL_MONITOR",
    }
    assert table["package_folders"] == ["E:\\SMSPKG"]
    assert table["hotfix_min_distmgr_version"] == "2.00.1380.1090"
    assert table["platforms"] == {"x86": "i386", "ALPHA": "alpha", "MIPS": "mips"}
    assert DEFAULTS == before


@pytest.mark.parametrize(
    "overrides, fragment",
    [
        ({"bogus": 1}, "'bogus': unknown key; valid keys: action_in_progress_delete"),
        ({"services": {"nope": "X"}}, "services.nope: unknown key 'nope'; valid keys: component_manager, executive"),
        ({"log_names": "Distmgr.log"}, "log_names='Distmgr.log': expected a list, got str"),
        ({"log_names": ["a", 3]}, "log_names[1]=3: expected a string, got int"),
        ({"services": "SMS_EXECUTIVE"}, "services='SMS_EXECUTIVE': expected a dict, got str"),
        ({"action_in_progress_delete": "3"}, "action_in_progress_delete='3': expected an int, got str"),
        ({"action_in_progress_delete": True}, "expected int, got bool"),
        ({"registry_root": 5}, "registry_root=5: expected a string, got int"),
        ({"log_pattern": "(unclosed"}, "log_pattern='(unclosed': not a valid regular expression"),
        ({"package_file_pattern": r"^\w+\.PCK$"}, "named group (?P<id>...)"),
        ({"service_packs": [{"name": "RTM"}]}, "service_packs[0]={'name': 'RTM'}: expected"),
        ({"service_packs": []}, "at least one service pack"),
        ({"first_fixed_service_pack": "SP9"}, "first_fixed_service_pack='SP9': not one of"),
        ({"platforms": {"MIPS": 1}}, "platforms.MIPS=1: expected str, got int"),
        ({"claim_tolerance_hours": -1}, "claim_tolerance_hours=-1: expected 0 or more hours"),
    ],
)
def test_merge_errors(overrides, fragment):
    with pytest.raises(Sms20TableError) as exc:
        merge_overrides(overrides)
    assert fragment in str(exc.value)


def test_merge_not_a_dict():
    with pytest.raises(Sms20TableError, match=r"sms20 overrides=\['x'\]: expected a dict, got list"):
        merge_overrides(["x"])


def test_probe_parameters_defaults():
    assert probe_parameters(merge_overrides(None)) == {
        "SmsRegistryRoot": "HKLM:\\SOFTWARE\\Microsoft\\SMS",
        "PackageFolderName": "SMSPKG",
        "PackageFolders": [],
        "PackageFilePattern": r"^(?<id>[A-Za-z0-9]{3}[0-9A-Fa-f]{5})\.PCK$",
        "Platforms": ["i386", "alpha"],
        "LogNames": ["Distmgr.lo_", "Distmgr.log"],
        "LogPattern": "deleting the package|deleted the package|adding package",
        "LogComponent": "SMS_DISTRIBUTION_MANAGER",
        "Services": ["SMS_SITE_COMPONENT_MANAGER", "SMS_EXECUTIVE", "SMS_SITE_BACKUP", "SMS_SQL_MONITOR"],
        "ConsoleProcess": "mmc.exe",
        "ConsoleSnapIn": "sms.msc",
        "HotfixLogName": "Q244405.log",
        "HotfixJournalName": "Q244405.journal.json",
        "WmiTimeoutSeconds": 30,
    }


def test_probe_parameters_follow_overrides():
    params = probe_parameters(merge_overrides({
        "package_folders": ["D:\\SMSPKG", "E:\\SMSPKG"],
        "console": {"snapin": "custom.msc"},
        "log_names": ["Distmgr.log"],
    }))
    assert params["PackageFolders"] == ["D:\\SMSPKG", "E:\\SMSPKG"]
    assert params["ConsoleSnapIn"] == "custom.msc"
    assert params["ConsoleProcess"] == "mmc.exe"
    assert params["LogNames"] == ["Distmgr.log"]


def test_hotfix_and_package_parameters_follow_overrides():
    """A renamed service, another stop order, suffix, journal or package pattern reaches the host scripts."""
    table = merge_overrides({
        "services": {"executive": "SMS_EXEC2"},
        "hotfix_stop_order": ["executive", "component_manager"],
        "backup_suffix": ".before-fix",
        "hotfix_journal_name": "fix.journal.json",
        "hotfix_min_distmgr_version": "2.00.1380.1090",
        "package_file_pattern": r"^(?P<id>[A-Z0-9]{8})\.PCK\Z",
    })
    assert hotfix_parameters(table) == {
        "MinimumVersion": "2.00.1380.1090",
        "StopOrder": ["SMS_EXEC2", "SMS_SITE_COMPONENT_MANAGER"],
        "BackupSuffix": ".before-fix",
        "HotfixLogName": "Q244405.log",
        "JournalName": "fix.journal.json",
    }
    # .NET: a named group is (?<id>...), and \Z is \z
    assert package_parameters(table)["IdPattern"] == r"^(?<id>[A-Z0-9]{8})\.PCK\z"
