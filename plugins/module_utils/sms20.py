"""The ONE table of SMS 2.0 facts that KB Q244405 does not state.

Every value below is an assumption about SMS 2.0 taken from a public source. Each
entry names its source (see ``../shared/notes/sms20-facts.md`` for the quotes)
and its confidence: **verified** (a source states it for SMS 2.0), **likely**
(inferred from a documented pattern or documented for a later product) or
**unknown**. A user overrides any of them with ``merge_overrides()`` (the roles
expose it as a variable), so a wrong assumption is fixed without code changes.
"""
from __future__ import annotations

import copy
import re

from ansible_collections.sms.remediation.plugins.module_utils.host_regex import to_dotnet

__all__ = [
    "DEFAULTS",
    "Sms20TableError",
    "WMI_TIMEOUT_SECONDS",
    "hotfix_parameters",
    "merge_overrides",
    "package_parameters",
    "probe_parameters",
]


class Sms20TableError(ValueError):
    """An override of the SMS 2.0 facts table is invalid (unknown key or wrong type)."""


DEFAULTS: dict = {
    # source: kb/272/Q272352 (Setup\Full Version), kb/270/Q270218 (Identification);
    # confidence: verified
    "registry_root": "HKLM:\\SOFTWARE\\Microsoft\\SMS",
    # source: kb/272/Q272352 (Setup), kb/270/Q270218 (Identification), kb/214/Q214979 (Tracing);
    # confidence: verified
    "registry_keys": {
        "setup": "Setup",
        "identification": "Identification",
        "tracing": "Tracing",
    },
    "registry_values": {
        # source: kb/272/Q272352 "Value Name: Full Version"; confidence: verified
        # (missing on secondary sites installed from the console: kb/267/Q267258)
        "full_version": "Full Version",
        # source: kb/191/Q191329 (SMS 1.2) and the PSS Checksym readme; confidence: likely
        "install_dir": "Installation Directory",
        # source: ConfigMgr-era scripts only (Find-ConfigManager.ps1); confidence: likely
        "site_code": "Site Code",
        # source: Microsoft CSS CM07 server-info diagnostic; confidence: likely
        "parent_site_code": "Parent Site Code",
        # source: CM07 diagnostic reads SMS\Setup\Type; confidence: likely
        "site_type": "Type",
        # source: kb/214/Q214979 "click Enabled and change the value to 1"; confidence: verified
        "tracing_enabled": "Enabled",
        # source: kb/214/Q214979 "modify the MaxFileSize value"; confidence: verified
        "tracing_max_size": "MaxFileSize",
    },
    # Ordered oldest first. The last 4-digit field's first digit is the service pack
    # (source: kb/213/Q213410; confidence: verified).
    "service_packs": [
        # source: kb/213/Q213410, kb/268/Q268803; confidence: verified
        {"name": "RTM", "version": "2.00.1239.0000"},
        # source: kb/251/Q251070 "SP1 version (build 1380): 2.00.1380.1000"; confidence: verified
        {"name": "SP1", "version": "2.00.1380.1000"},
        # source: kb/268/Q268803 "SMS 2.0 SP2 (2.0.1493.2000)"; confidence: verified
        {"name": "SP2", "version": "2.00.1493.2000"},
        # source: kb/266/Q266130 "If the number is 3000, Service Pack 3"; confidence: likely
        {"name": "SP3", "version": "2.00.1493.3000"},
        # source: kb/266/Q266130 (SP4 components 2.00.1493.4000-.4012); confidence: likely
        {"name": "SP4", "version": "2.00.1493.4000"},
        # source: none found (pattern only); confidence: likely
        {"name": "SP5", "version": "2.00.1493.5000"},
    ],
    # source: Q244405 "first corrected in ... Service Pack 2", kb/258/Q258682; confidence: verified
    "first_fixed_service_pack": "SP2",
    # source: kb/250/Q250850 SP1 hotfix bundle (includes Q244405) Distmgr.dll I386/Alpha
    # 2.00.1380.1083; confidence: verified for the bundle, the standalone minimum is unknown
    "hotfix_min_distmgr_version": "2.00.1380.1083",
    # source: kb/267/Q267977 "D:\SMSPKG\BD100007.PCK"; confidence: verified
    "package_folder_name": "SMSPKG",
    # source: kb/326/Q326045 ("Location of stored packages" is configurable), so the
    # probe discovers <drive>:\SMSPKG on every fixed drive when this is empty;
    # confidence: verified that the setting exists, default drive likely
    "package_folders": [],
    # source: PackageID = 3-char site code + 5 hex digits (TTG00001, 61000012, BD100007,
    # SR30002F, AUS0001B); file name from kb/267/Q267977; confidence: verified (by examples)
    "package_file_pattern": r"^(?P<id>[A-Za-z0-9]{3}[0-9A-Fa-f]{5})\.PCK$",
    "package_id_pattern": r"^(?P<site>[A-Za-z0-9]{3})(?P<serial>[0-9A-Fa-f]{5})$",
    # source: SMS 2.0 Resource Guide Table 21.5 "SMS\Logs\Distmgr.log"; confidence: verified
    "log_folder": "Logs",
    # source: kb/241/Q241001 ".lo_" roll-over; older file first; confidence: verified
    "log_names": ["Distmgr.lo_", "Distmgr.log"],
    # source: Q244405 log excerpt "$$<SMS_DISTRIBUTION_MANAGER>"; confidence: verified
    "log_component": "SMS_DISTRIBUTION_MANAGER",
    # source: Q244405 ("Start deleting the package", "Successfully deleted the package"),
    # kb/326/Q326045 ("Start adding package"); confidence: verified
    "log_pattern": "deleting the package|deleted the package|adding package",
    "services": {
        # source: kb/267/Q267889, kb/263/Q263214; confidence: verified
        "component_manager": "SMS_SITE_COMPONENT_MANAGER",
        # source: kb/223/Q223755, kb/263/Q263214; confidence: verified
        "executive": "SMS_EXECUTIVE",
        # source: Q244405 "If the SMS_SITE_BACKUP service is running"; confidence: verified
        "site_backup": "SMS_SITE_BACKUP",
        # source: kb/311/Q311085; confidence: verified (name)
        "sql_monitor": "SMS_SQL_MONITOR",
    },
    # source: Q244405 "Step 2: Manual Installation"; confidence: verified
    # Keys of "services" (not names), so a renamed service is overridden in one place.
    "hotfix_stop_order": [
        "component_manager",
        "executive",
        "site_backup",
    ],
    # source: kb/256/Q256208, kb/231/Q231250 'mmc.exe "D:\SMS\bin\i386\sms.msc"'; confidence: verified
    "console": {"process": "mmc.exe", "snapin": "sms.msc"},
    # PROCESSOR_ARCHITECTURE -> <sms_root>\bin\<folder>.
    # source: kb/246/Q246331 (Bin\i386, Bin\alpha); confidence: verified
    "platforms": {"x86": "i386", "ALPHA": "alpha"},
    # source: Q244405 "This method is only for I386-based computers"; confidence: verified
    "installer_platforms": ["i386"],
    # source: Q244405 "Run Q244405.exe" (the KB also misspells it QQ244405.exe); confidence: verified
    "hotfix_installer_name": "Q244405.exe",
    # source: Q244405 "Quiet mode using the /s switch"; confidence: verified
    "hotfix_installer_args": "/s",
    # source: kb/267/Q267258 "The Q<nnnnnn>.log file is located in the SMS\Logs folder"; confidence: verified
    "hotfix_log_name": "Q244405.log",
    # source: project choice (not an SMS fact); confidence: n/a
    "backup_suffix": ".pre-Q244405",
    # The hotfix transaction's journal, in <sms_root>\Logs next to the hotfix log (docs/internals.md
    # section 5). source: project choice (not an SMS fact); confidence: n/a
    "hotfix_journal_name": "Q244405.journal.json",
    # source: kb/316/Q316258, kb/317/Q317872 "root\sms\site_<xxx>"; confidence: verified
    "wmi_namespace_template": "root\\SMS\\site_{site_code}",
    # source: kb/317/Q317872 "SMS_ProviderLocation ... NamespacePath"; Resource Guide Tables B.9 (SMS_Package,
    # key PackageID, ActionInProgress), B.39 (SMS_Site); kb/229/Q229810 (SourceSite); confidence: verified
    "wmi_classes": {"provider_namespace": "root\\SMS", "provider_location": "SMS_ProviderLocation",
                    "package": "SMS_Package", "site": "SMS_Site"},
    # source: SMS 2.0 Resource Guide Table B.9 (ActionInProgress 3=DELETE), kb/229/Q229810;
    # confidence: verified
    "action_in_progress_delete": 3,
    # source: SMS 2.0 Resource Guide Table B.39 "1=SECONDARY 2=PRIMARY"; confidence: verified
    "site_types": {1: "secondary", 2: "primary"},
    # A Distmgr.log claim covers a .PCK written at most this many hours after it: log times are local
    # (time-zone name only), file times UTC, and local time is within -12h..+14h of UTC.
    # source: project choice (leftovers.py, "Clock tolerance"); confidence: n/a
    "claim_tolerance_hours": 24,
}

# Seconds a host script gives one WMI connection or enumeration (-WmiTimeoutSeconds): a hung WMI service
# must not hang the run. source: project choice (not an SMS fact); confidence: n/a
WMI_TIMEOUT_SECONDS = 30

# Keys whose value is a regular expression: an override must compile.
_REGEX_KEYS = ("package_file_pattern", "package_id_pattern", "log_pattern")


def _type_name(value: object) -> str:
    return type(value).__name__


def _merge(default: object, override: object, path: str) -> object:
    """Merge ``override`` onto a deep copy of ``default``; raise on type mismatch."""
    if isinstance(default, dict):
        if not isinstance(override, dict):
            raise Sms20TableError(
                f"sms20 override {path}={override!r}: expected a dict, got {_type_name(override)}"
            )
        merged = copy.deepcopy(default)
        # Open dicts (the user may add entries), closed dicts (fixed set of keys).
        open_dict = path in ("platforms", "site_types")
        for key, value in override.items():
            if key not in default and not open_dict:
                valid = ", ".join(sorted(str(k) for k in default))
                raise Sms20TableError(
                    f"sms20 override {path}.{key}: unknown key {key!r}; valid keys: {valid}"
                )
            if key in default:
                merged[key] = _merge(default[key], value, f"{path}.{key}")
            else:
                sample = next(iter(default.values()), None)
                if sample is not None and not isinstance(value, type(sample)):
                    raise Sms20TableError(
                        f"sms20 override {path}.{key}={value!r}: expected "
                        f"{_type_name(sample)}, got {_type_name(value)}"
                    )
                merged[key] = copy.deepcopy(value)
        return merged
    if isinstance(default, list):
        if not isinstance(override, (list, tuple)):
            raise Sms20TableError(
                f"sms20 override {path}={override!r}: expected a list, got {_type_name(override)}"
            )
        return _check_list(path, list(override))
    if isinstance(default, bool) or isinstance(override, bool):
        if type(default) is not type(override):
            raise Sms20TableError(
                f"sms20 override {path}={override!r}: expected {_type_name(default)}, "
                f"got {_type_name(override)}"
            )
        return override
    if isinstance(default, int):
        if not isinstance(override, int):
            raise Sms20TableError(
                f"sms20 override {path}={override!r}: expected an int, got {_type_name(override)}"
            )
        return override
    if isinstance(default, str):
        if not isinstance(override, str):
            raise Sms20TableError(
                f"sms20 override {path}={override!r}: expected a string, got {_type_name(override)}"
            )
        if path in _REGEX_KEYS:
            try:
                re.compile(override)
            except re.error as exc:
                raise Sms20TableError(
                    f"sms20 override {path}={override!r}: not a valid regular expression ({exc})"
                ) from None
        if path == "package_file_pattern" and "(?P<id>" not in override:
            raise Sms20TableError(
                f"sms20 override {path}={override!r}: the pattern must have a named group (?P<id>...)"
            )
        return override
    raise Sms20TableError(f"sms20 override {path}: cannot override a value of type {_type_name(default)}")


def _check_list(path: str, items: list) -> list:
    """Validate the items of a list override (shape depends on the key)."""
    if path == "service_packs":
        if not items:
            raise Sms20TableError("sms20 override service_packs=[]: at least one service pack is required")
        result = []
        for i, item in enumerate(items):
            if (
                not isinstance(item, dict)
                or set(item) != {"name", "version"}
                or not all(isinstance(v, str) for v in item.values())
            ):
                raise Sms20TableError(
                    f"sms20 override service_packs[{i}]={item!r}: expected "
                    "{'name': str, 'version': str}"
                )
            result.append(dict(item))
        return result
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise Sms20TableError(
                f"sms20 override {path}[{i}]={item!r}: expected a string, got {_type_name(item)}"
            )
    return list(items)


def merge_overrides(overrides: dict | None) -> dict:
    """Return a deep copy of DEFAULTS with the user's overrides merged in.

    Dicts are merged key by key, other values are replaced. Unknown keys and
    values of the wrong type raise ``Sms20TableError`` naming the key.
    """
    if overrides is None:
        return copy.deepcopy(DEFAULTS)
    if not isinstance(overrides, dict):
        raise Sms20TableError(
            f"sms20 overrides={overrides!r}: expected a dict, got {_type_name(overrides)}"
        )
    table = copy.deepcopy(DEFAULTS)
    for key, value in overrides.items():
        if key not in DEFAULTS:
            valid = ", ".join(sorted(DEFAULTS))
            raise Sms20TableError(f"sms20 override {key!r}: unknown key; valid keys: {valid}")
        table[key] = _merge(DEFAULTS[key], value, key)
    if table["first_fixed_service_pack"] not in [sp["name"] for sp in table["service_packs"]]:
        raise Sms20TableError(
            f"sms20 override first_fixed_service_pack={table['first_fixed_service_pack']!r}: "
            f"not one of the service_packs names {[sp['name'] for sp in table['service_packs']]}"
        )
    if table["claim_tolerance_hours"] < 0:
        raise Sms20TableError(f"sms20 override claim_tolerance_hours={table['claim_tolerance_hours']}: "
                              "expected 0 or more hours")
    return table


def probe_parameters(table: dict) -> dict:
    """Return the parameters of ``sms_probe.ps1`` (docs/internals.md section 1) from a table."""
    platforms: list[str] = []
    for folder in table["platforms"].values():
        if folder not in platforms:
            platforms.append(folder)
    return {
        "SmsRegistryRoot": table["registry_root"],
        "PackageFolderName": table["package_folder_name"],
        "PackageFolders": list(table["package_folders"]),
        # Every regex that reaches a host is .NET: host_regex.to_dotnet is the one translation.
        "PackageFilePattern": to_dotnet(table["package_file_pattern"], "package_file_pattern"),
        "Platforms": platforms,
        "LogNames": list(table["log_names"]),
        "LogPattern": to_dotnet(table["log_pattern"], "log_pattern"),
        "LogComponent": table["log_component"],
        "Services": list(table["services"].values()),
        "ConsoleProcess": table["console"]["process"],
        "ConsoleSnapIn": table["console"]["snapin"],
        "HotfixLogName": table["hotfix_log_name"],
        "HotfixJournalName": table["hotfix_journal_name"],
        "WmiTimeoutSeconds": WMI_TIMEOUT_SECONDS,
    }


def package_parameters(table: dict) -> dict:
    """Return the parameters of ``sms_compressed_package.ps1`` (docs/internals.md section 2) that a table sets."""
    return {
        "IdPattern": to_dotnet(table["package_file_pattern"], "package_file_pattern"),
        "WmiTimeoutSeconds": WMI_TIMEOUT_SECONDS,
    }


def hotfix_parameters(table: dict) -> dict:
    """Return the parameters of ``sms_hotfix_transaction.ps1`` (docs/internals.md section 3) that a table sets."""
    return {
        "MinimumVersion": table["hotfix_min_distmgr_version"],
        "StopOrder": [table["services"][role] for role in table["hotfix_stop_order"]],
        "BackupSuffix": table["backup_suffix"],
        "HotfixLogName": table["hotfix_log_name"],
        "JournalName": table["hotfix_journal_name"],
    }
