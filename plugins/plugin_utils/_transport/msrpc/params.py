# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Script parameters as PowerShell binds them (private to this collection): names are case-insensitive, a missing one takes the
script's default (the defaults below are the scripts' own ``param()`` defaults)."""

from __future__ import annotations

from ansible_collections.sms.remediation.plugins.module_utils import sms20

# The values a table sets are the sms20 defaults, as the controller sends them; the others are the scripts'
# own. tests/unit/plugins/plugin_utils/_transport/msrpc/test_msrpc_params.py ties all of them to the
# param() blocks of plugins/plugin_utils/powershell/*.ps1 (what PowerShell binds for a left-out parameter).
_TABLE = sms20.merge_overrides(None)
PROBE_DEFAULTS = sms20.probe_parameters(_TABLE)
PACKAGE_DEFAULTS = {
    "Items": [],
    "QuarantineDir": "",
    "ActiveNamespace": "",
    **sms20.package_parameters(_TABLE),
}
HOTFIX_DEFAULTS = {
    "Mode": "Apply",
    "StagedPath": "",
    "ExpectedSha256": "",
    "SiteVersion": "",
    "AllowCrossBuild": False,
    "Recovery": "rollback",
    "TransactionId": "",
    "WaitSeconds": 120,
    "CopyAttempts": 6,
    "KeepBackups": 0,
    **sms20.hotfix_parameters(_TABLE),
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
