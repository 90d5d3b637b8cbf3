# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Script parameters as PowerShell binds them (private to this collection): names are case-insensitive, a missing one takes the
script's default (the defaults below are the scripts' own ``param()`` defaults)."""

from __future__ import annotations

PROBE_DEFAULTS = {
    "SmsRegistryRoot": "HKLM:\\SOFTWARE\\Microsoft\\SMS",
    "PackageFolderName": "SMSPKG",
    "PackageFolders": [],
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
PACKAGE_DEFAULTS = {
    "Items": [],
    "QuarantineDir": None,
    "ActiveNamespace": None,
    "IdPattern": "^[A-Za-z0-9]{3}[0-9A-Fa-f]{5}\\.PCK$",
    "WmiTimeoutSeconds": 30,
}
HOTFIX_DEFAULTS = {
    "Mode": "Apply",
    "StagedPath": "",
    "ExpectedSha256": "",
    "MinimumVersion": "2.00.1380.1083",
    "SiteVersion": "",
    "AllowCrossBuild": False,
    "Recovery": "rollback",
    "TransactionId": "",
    "StopOrder": ["SMS_SITE_COMPONENT_MANAGER", "SMS_EXECUTIVE", "SMS_SITE_BACKUP"],
    "WaitSeconds": 120,
    "CopyAttempts": 6,
    "BackupSuffix": ".pre-Q244405",
    "HotfixLogName": "Q244405.log",
    "JournalName": "Q244405.journal.json",
}


class Params:
    def __init__(self, raw: dict, defaults: dict):
        self._raw = {str(k).lower(): v for k, v in (raw or {}).items()}
        self._defaults = {k.lower(): v for k, v in defaults.items()}

    def get(self, name: str):
        value = self._raw.get(name.lower())
        return self._defaults.get(name.lower()) if value is None else value

    def text(self, name: str) -> str | None:
        value = self.get(name)
        return None if value is None else str(value)

    def list(self, name: str) -> list:
        value = self.get(name)
        if value is None:
            return []
        if isinstance(value, (list, tuple)):
            return [v for v in value if v is not None]
        return [value]

    def flag(self, name: str) -> bool:
        value = self.get(name)
        if isinstance(value, str):
            return value.strip().lower() in ("1", "true", "yes", "on")
        return bool(value)

    def required(self, name: str, operation: str, error) -> str:
        value = self.get(name)
        if value is None or (isinstance(value, str) and not value):
            raise error(operation, f"parameter {name} is required")
        return str(value)
