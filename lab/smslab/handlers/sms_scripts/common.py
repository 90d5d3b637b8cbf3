"""Shared by the script twins: parameters, host-state lookups, versions (.NET regexes: handlers/dotnet_regex.py)."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timezone

from smslab.state import HostState, LabPathError, file_version_of


MAX_LINE_CHARS = 4096           # same cut as the probe: a corrupt log cannot grow the output
ENTRY_END = re.compile(r"><thread=[^>]*\)>", re.IGNORECASE)
INVALID_NAMESPACE = 0x8004100E  # WBEM_E_INVALID_NAMESPACE
WMI_DOWN = 0x80080005           # CO_E_SERVER_EXEC_FAILURE: the WMI service (winmgmt) does not start


# ---- shared helpers ---------------------------------------------------------------------------
class Params:
    """PowerShell parameters are case-insensitive; missing ones take the script's default."""

    def __init__(self, raw: dict):
        self._raw = {str(k).lower(): v for k, v in (raw or {}).items()}

    def get(self, name: str, default=None):
        value = self._raw.get(name.lower())
        return default if value is None else value

    def list(self, name: str, default: list) -> list:
        value = self._raw.get(name.lower())
        if value is None:
            return list(default)
        if isinstance(value, (list, tuple)):
            return [str(v) for v in value]
        return [str(value)]


def join_path(parent: str | None, child: str) -> str | None:
    if not parent:
        return None
    return parent.rstrip("\\") + "\\" + child


def wmi_error(namespace: str, code: int = INVALID_NAMESPACE) -> str:
    return f"WMI namespace {namespace} unavailable (0x{code:08x})"


def fault_names(state: HostState, key: str) -> set[str]:
    value = state.faults.get(key)
    if not value:
        return set()
    if isinstance(value, str):
        value = [value]
    return {str(v).lower() for v in value}


def fail_step_names(state: HostState) -> set[str]:
    return fault_names(state, "fail_step")


def service_record(state: HostState, name: str) -> dict | None:
    for key, value in state.services.items():
        if key.lower() == name.lower():
            return value
    return None


def service_state_of(state: HostState, name: str) -> str | None:
    service = service_record(state, name)
    return None if service is None else str(service.get("state", "stopped")).lower()


def file_exists(state: HostState, path: str) -> bool:
    try:
        local = state.local_path(path)
    except LabPathError:
        return False
    return local.is_file()


def sha256_of(state: HostState, path: str) -> str:
    digest = hashlib.sha256()
    with open(state.local_path(path, must_exist=True), "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def version_of(state: HostState, path: str) -> str | None:
    with open(state.local_path(path, must_exist=True), "rb") as handle:
        return file_version_of(handle.read(4096))


def utc_text(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def wmi_site_code(state: HostState) -> str | None:
    site = state.wmi.get("site") or {}
    return site.get("SiteCode")


def wmi_down(state: HostState) -> bool:
    """Fault ``wmi_down``: the whole WMI service fails (services, processes and drives too), not only
    the SMS namespace (``wmi_unavailable``)."""
    return bool(state.faults.get("wmi_down"))


def wmi_namespace_error(state: HostState, namespace: str) -> str | None:
    """The error a query of ``namespace`` fails with now, or None when it answers."""
    if wmi_down(state):
        return wmi_error(namespace, WMI_DOWN)
    return None if wmi_namespace_ok(state, namespace) else wmi_error(namespace)


def wmi_namespace_ok(state: HostState, namespace: str) -> bool:
    """The site's namespace answers only when WMI works and the site code is the lab's."""
    wmi = state.wmi
    if not wmi.get("available", True) or state.faults.get("wmi_unavailable") or wmi_down(state):
        return False
    code = wmi_site_code(state)
    if namespace.lower() == "root\\sms":
        return True
    return code is not None and namespace.lower() == f"root\\sms\\site_{code}".lower()


def version_fields(text: str | None) -> tuple[int, int, int, int] | None:
    """``2.0.1380.1083`` == ``2.00.1380.1083``: four numeric fields, missing ones 0."""
    if not text:
        return None
    match = re.match(r"^\s*(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:\.(\d+))?", text)
    if not match:
        return None
    return tuple(int(g) if g is not None else 0 for g in match.groups())  # type: ignore[return-value]


def version_at_least(version: str | None, minimum: str | None) -> bool:
    have, need = version_fields(version), version_fields(minimum)
    return have is not None and need is not None and have >= need
