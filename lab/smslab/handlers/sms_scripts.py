"""The collection's three PowerShell scripts, simulated over a HostState, and the Q244405 installer.

Each function mirrors its script in ``plugins/plugin_utils/powershell/`` step by step and returns
exactly the result of docs/internals.md sections 1-3, computed from the simulated host, so the
controller cannot tell the lab from a real site server. Error messages use the same wording as
the scripts. Check mode (``ctx.check_mode``, i.e. ``-WhatIf``) never changes state or files.

Faults read from ``state.faults``: ``wmi_unavailable`` (probe, compressed_package),
``service_wont_stop`` / ``service_wont_start`` (lists of service names) and ``fail_step`` (a
hotfix step name: ``stop:<svc>``, ``backup``, ``swap``, ``verify``, ``start:<svc>``,
``verify_running``, ``log``) for hotfix_transaction and q244405.exe.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import ntpath
import os
import re
import threading
from datetime import datetime, timezone

from smslab.handlers import HostContext, ScriptError, command, script
from smslab.state import HostState, LabPathError, dll_bytes, file_version_of

MAX_LINE_CHARS = 4096           # same cut as the probe: a corrupt log cannot grow the output
ENTRY_END = re.compile(r"><thread=[^>]*\)>", re.IGNORECASE)
INVALID_NAMESPACE = 0x8004100E  # WBEM_E_INVALID_NAMESPACE


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


def dotnet_regex(pattern: str) -> re.Pattern:
    """Compile a .NET regex the way PowerShell's -match does (case-insensitive).

    .NET names groups ``(?<name>...)`` (and ``(?'name'...)``); Python wants ``(?P<name>...)``.
    Look-behinds ``(?<=`` / ``(?<!`` are left alone.
    """
    translated = re.sub(r"\(\?<(?![=!])(\w+)>", r"(?P<\1>", pattern)
    translated = re.sub(r"\(\?'(\w+)'", r"(?P<\1>", translated)
    return re.compile(translated, re.IGNORECASE)


def _join(parent: str | None, child: str) -> str | None:
    if not parent:
        return None
    return parent.rstrip("\\") + "\\" + child


def _wmi_error(namespace: str, code: int = INVALID_NAMESPACE) -> str:
    return f"WMI namespace {namespace} unavailable (0x{code:08x})"


def _fault_names(state: HostState, key: str) -> set[str]:
    value = state.faults.get(key)
    if not value:
        return set()
    if isinstance(value, str):
        value = [value]
    return {str(v).lower() for v in value}


def _fail_steps(state: HostState) -> set[str]:
    return _fault_names(state, "fail_step")


def _service(state: HostState, name: str) -> dict | None:
    for key, value in state.services.items():
        if key.lower() == name.lower():
            return value
    return None


def _service_state(state: HostState, name: str) -> str | None:
    service = _service(state, name)
    return None if service is None else str(service.get("state", "stopped")).lower()


def _file_exists(state: HostState, path: str) -> bool:
    try:
        local = state.local_path(path)
    except LabPathError:
        return False
    return local.is_file()


def _sha256_of(state: HostState, path: str) -> str:
    digest = hashlib.sha256()
    with open(state.local_path(path, must_exist=True), "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _version_of(state: HostState, path: str) -> str | None:
    with open(state.local_path(path, must_exist=True), "rb") as handle:
        return file_version_of(handle.read(4096))


def _utc(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _wmi_site_code(state: HostState) -> str | None:
    site = state.wmi.get("site") or {}
    return site.get("SiteCode")


def _wmi_namespace_ok(state: HostState, namespace: str) -> bool:
    """The site's namespace answers only when WMI works and the site code is the lab's."""
    wmi = state.wmi
    if not wmi.get("available", True) or state.faults.get("wmi_unavailable"):
        return False
    code = _wmi_site_code(state)
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


# ---- probe ------------------------------------------------------------------------------------
PROBE_DEFAULTS = {
    "SmsRegistryRoot": "HKLM:\\SOFTWARE\\Microsoft\\SMS",
    "PackageFolderName": "SMSPKG",
    "Platforms": ["i386", "alpha"],
    "LogNames": ["Distmgr.lo_", "Distmgr.log"],          # oldest first
    "LogPattern": "deleting the package|deleted the package|adding package",
    "LogComponent": "SMS_DISTRIBUTION_MANAGER",
    "Services": ["SMS_SITE_COMPONENT_MANAGER", "SMS_EXECUTIVE", "SMS_SITE_BACKUP", "SMS_SQL_MONITOR"],
    "ConsoleProcess": "mmc.exe",
    "ConsoleSnapIn": "sms.msc",
    "HotfixLogName": "Q244405.log",
}


class _Probe:
    def __init__(self, state: HostState, params: Params):
        self.state = state
        self.p = params
        self.errors: list[dict] = []

    def error(self, source: str, message: str) -> None:
        self.errors.append({"source": source, "message": message})

    # registry
    def registry_values(self, key: str, names: list[str]) -> dict | None:
        values = self.state.registry_key(key)
        if values is None:
            self.error("registry", f"registry key {key} not found")
            return None
        lowered = {k.lower(): v for k, v in values.items()}
        return {name: lowered.get(name.lower()) for name in names}

    def registry(self) -> dict:
        root = self.p.get("SmsRegistryRoot", PROBE_DEFAULTS["SmsRegistryRoot"]).rstrip("\\")
        component = self.p.get("LogComponent", PROBE_DEFAULTS["LogComponent"])
        return {
            "setup": self.registry_values(f"{root}\\Setup",
                                          ["Full Version", "Installation Directory", "Type", "UI Version"]),
            "identification": self.registry_values(f"{root}\\Identification",
                                                   ["Site Code", "Parent Site Code", "Installation Directory"]),
            "tracing": self.registry_values(f"{root}\\Tracing\\{component}", ["Enabled", "MaxFileSize"]),
        }

    # WMI
    def site_code(self, registry: dict) -> str | None:
        ident = registry["identification"]
        if ident is not None and ident.get("Site Code"):
            return str(ident["Site Code"])
        if not _wmi_namespace_ok(self.state, "root\\SMS"):
            self.error("wmi", _wmi_error("root\\SMS"))
            return None
        return _wmi_site_code(self.state)

    def wmi_facts(self, site_code: str | None) -> tuple[dict, dict]:
        site = {"available": False, "error": None, "SiteCode": None, "ReportingSiteCode": None, "Type": None,
                "Version": None, "BuildNumber": None, "InstallDir": None}
        packages = {"available": False, "error": None, "namespace": None, "packages": None}
        if not site_code or not re.fullmatch(r"[A-Za-z0-9]{3}", site_code):
            message = (f"site code '{site_code}' is not valid" if site_code
                       else "site code unknown: no Identification\\Site Code and no SMS Provider")
            site["error"] = packages["error"] = message
            self.error("wmi", message)
            return site, packages
        namespace = f"root\\SMS\\site_{site_code}"
        packages["namespace"] = namespace
        if not _wmi_namespace_ok(self.state, namespace):
            message = _wmi_error(namespace)
            site["error"] = packages["error"] = message
            self.error("wmi", message)
            return site, packages
        site["available"] = True
        row = self.state.wmi.get("site")
        if not row or str(row.get("SiteCode", "")).lower() != site_code.lower():
            site["error"] = f"no SMS_Site instance for site {site_code}"
        else:
            for name in ("SiteCode", "ReportingSiteCode", "Type", "Version", "BuildNumber", "InstallDir"):
                site[name] = row.get(name)
        packages["available"] = True
        packages["packages"] = [{"PackageID": pkg.get("PackageID"), "ActionInProgress": pkg.get("ActionInProgress"),
                                 "SourceSite": pkg.get("SourceSite")}
                                for pkg in self.state.wmi.get("packages") or []]
        return site, packages

    # services and console
    def services(self) -> tuple[dict, dict]:
        result, paths = {}, {}
        for name in self.p.list("Services", PROBE_DEFAULTS["Services"]):
            service = _service(self.state, name)
            if service is None:
                result[name] = {"exists": False, "state": None, "start_mode": None}
                continue
            result[name] = {"exists": True,
                            "state": str(service.get("state", "stopped")).lower().replace(" ", "_"),
                            "start_mode": str(service.get("start_mode", "manual")).lower()}
            paths[name] = service.get("path")
        return result, paths

    @staticmethod
    def install_dir_from_image_path(paths: dict) -> str | None:
        for name in ("SMS_EXECUTIVE", "SMS_SITE_COMPONENT_MANAGER"):
            image = next((v for k, v in paths.items() if k.lower() == name.lower()), None)
            if not image:
                continue
            match = re.match(r'^(?P<root>.+?)\\bin\\[^\\]+\\[^\\]+\.exe', image.strip().strip('"'), re.IGNORECASE)
            if match:
                return match.group("root")
        return None

    def console_open(self) -> bool:
        process = self.p.get("ConsoleProcess", PROBE_DEFAULTS["ConsoleProcess"]).lower()
        snap_in = self.p.get("ConsoleSnapIn", PROBE_DEFAULTS["ConsoleSnapIn"]).lower()
        return any(str(proc.get("name", "")).lower() == process
                   and snap_in in str(proc.get("command_line", "")).lower()
                   for proc in self.state.processes)

    # files
    def platform_dll(self, install_dir: str | None, platform: str) -> dict:
        path = _join(_join(_join(install_dir, "bin"), platform), "Distmgr.dll")
        entry = {"path": path, "exists": False, "file_version": None, "size": None, "sha256": None}
        if path is None or not _file_exists(self.state, path):
            return entry
        entry.update(exists=True, size=self.state.local_path(path).stat().st_size,
                     file_version=_version_of(self.state, path), sha256=_sha256_of(self.state, path))
        return entry

    def fixed_drive_folders(self) -> list[str]:
        name = self.p.get("PackageFolderName", PROBE_DEFAULTS["PackageFolderName"])
        root = self.state.fs_root
        drives = sorted(d.upper() for d in (os.listdir(root) if root.is_dir() else [])
                        if len(d) == 1 and d.isalpha() and (root / d).is_dir())
        return [f"{drive}:\\{name}" for drive in drives]

    def folder_listing(self, path: str) -> dict:
        folder = {"path": path, "exists": False, "files": None}
        try:
            local = self.state.local_path(path)
        except LabPathError as exc:
            self.error("package_folders", f"{path}: {exc}")
            return folder
        if not local.is_dir():
            return folder
        folder["exists"] = True
        files = []
        for entry in sorted(os.scandir(local), key=lambda e: e.name.lower()):
            reparse = entry.is_symlink()
            directory = entry.is_dir()                  # a junction to a folder is a directory
            info = entry.stat(follow_symlinks=False)
            size = None if directory else (0 if reparse else info.st_size)   # a link holds no data
            files.append({"name": entry.name, "size": size, "last_write_utc": _utc(info.st_mtime),
                          "reparse_point": reparse, "directory": directory})
        folder["files"] = files
        return folder

    # Distmgr.log
    def search_log(self, path: str | None, pattern: re.Pattern) -> dict:
        entry = {"path": path, "exists": False, "size": None, "matches": None}
        if path is None or not _file_exists(self.state, path):
            return entry
        try:
            parts = self.state.file_parts(path)
            entry.update(exists=True, size=self.state.file_size(path))
            if len(parts) == 2 and _ends_with_newline(parts[0]) and not _is_utf16(parts[0]):
                # The host's own part, then the part shared by many hosts: scanned once per pattern.
                found, count, pending = _scan_lines(_log_lines(parts[0]), pattern)
                shared_found, first_line = _shared_scan(parts[1], pattern)
                if pending is not None and first_line is not None:
                    pending["text"] += "\n" + first_line
                found += [{"line": count + match["line"], "text": match["text"]} for match in shared_found]
            else:
                with self.state.open_read(path) as handle:
                    found = _scan_lines(_stream_lines(handle), pattern)[0]
        except OSError as exc:
            self.error("log", f"{path}: {exc.strerror or exc}")
            return entry
        entry["matches"] = found
        return entry

    def log_facts(self, install_dir: str | None, tracing: dict | None) -> dict:
        enabled = max_size = None
        if tracing is not None:
            if tracing.get("Enabled") is not None:
                enabled = int(tracing["Enabled"]) == 1
            max_size = tracing.get("MaxFileSize")
        try:
            pattern = dotnet_regex(self.p.get("LogPattern", PROBE_DEFAULTS["LogPattern"]))
        except re.error as exc:
            self.error("log", f"invalid LogPattern: {exc}")
            pattern = None
        files = []
        for name in self.p.list("LogNames", PROBE_DEFAULTS["LogNames"]):
            path = _join(_join(install_dir, "Logs"), name)
            if pattern is None:
                files.append({"path": path, "exists": False, "size": None, "matches": None})
            else:
                files.append(self.search_log(path, pattern))
        return {"logging_enabled": enabled, "max_file_size": max_size, "files": files}

    def run(self) -> dict:
        registry = self.registry()
        wmi_site, active = self.wmi_facts(self.site_code(registry))
        services, image_paths = self.services()
        install_dir = None
        for candidate in ((registry["identification"] or {}).get("Installation Directory"),
                          (registry["setup"] or {}).get("Installation Directory"),
                          wmi_site["InstallDir"],
                          self.install_dir_from_image_path(image_paths)):
            if candidate:
                install_dir = str(candidate).rstrip("\\")
                break
        if install_dir is None:
            self.error("install_dir", "SMS installation directory not found (registry, WMI SMS_Site, service ImagePath)")
        platforms = {platform: self.platform_dll(install_dir, platform)
                     for platform in self.p.list("Platforms", PROBE_DEFAULTS["Platforms"])}
        hotfix_log = _join(_join(install_dir, "Logs"), self.p.get("HotfixLogName", PROBE_DEFAULTS["HotfixLogName"]))
        folder_paths = self.p.list("PackageFolders", []) or self.fixed_drive_folders()
        env = self.state.environment
        return {
            "schema": 1,
            "computer_name": env.get("COMPUTERNAME"),
            "processor_architecture": env.get("PROCESSOR_ARCHITECTURE"),
            "registry": registry,
            "wmi_site": wmi_site,
            "install_dir": install_dir,
            "platforms": platforms,
            "hotfix_log": {"path": hotfix_log, "exists": hotfix_log is not None and _file_exists(self.state, hotfix_log)},
            "services": services,
            "console_open": self.console_open(),
            "package_folders": [self.folder_listing(path) for path in folder_paths],
            "active_packages": active,
            "distmgr_log": self.log_facts(install_dir, registry["tracing"]),
            "errors": self.errors,
        }


def _scan_lines(lines, pattern: re.Pattern) -> tuple[list[dict], int, dict | None]:
    """The probe's filter: (matches, lines read, the last match if it waits for its continuation)."""
    found: list[dict] = []
    pending = None
    number = 0
    for number, text in enumerate(lines, start=1):
        if pending is not None:
            pending["text"] += "\n" + text
            pending = None
        if pattern.search(text):
            match = {"line": number, "text": text}
            found.append(match)
            if not ENTRY_END.search(text):
                pending = match
    return found, number, pending


def _ends_with_newline(local_path) -> bool:
    with open(local_path, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        if handle.tell() == 0:
            return True
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) == b"\n"


def _is_utf16(local_path) -> bool:
    with open(local_path, "rb") as handle:
        return handle.read(2) in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


_SHARED_SCANS: dict[tuple, tuple[list[dict], str | None]] = {}
_SHARED_SCANS_LOCK = threading.Lock()


def _shared_scan(local_path, pattern: re.Pattern) -> tuple[list[dict], str | None]:
    """Matches in a part shared by many hosts (line numbers from 1 in that part) and its first line.

    The shared part never changes (hosts that change the file drop it), so the result is kept per
    file and pattern: the lab runs every host on one machine, and a real site server would scan
    its own log on its own CPU. The same streaming filter as any other log; computed once.
    """
    info = os.stat(local_path)
    key = (str(local_path), info.st_size, info.st_mtime_ns, pattern.pattern, pattern.flags)
    with _SHARED_SCANS_LOCK:
        cached = _SHARED_SCANS.get(key)
        if cached is None:
            cached = _SHARED_SCANS[key] = _scan_shared_file(local_path, pattern)
    return [dict(match) for match in cached[0]], cached[1]


_LINE_SENSITIVE = re.compile(r"\^|\$|\\[AZz]|\(\?<[=!]")     # a pattern whose matches depend on where lines end


def _scan_shared_file(local_path, pattern: re.Pattern) -> tuple[list[dict], str | None]:
    """The probe's filter over a generated ASCII part, in 8 MiB blocks of whole lines: a block in
    which the pattern finds nothing is only counted (same result as the line by line scan)."""
    if _LINE_SENSITIVE.search(pattern.pattern):
        first: list[str] = []

        def lines():
            for text in _log_lines(local_path):
                if not first:
                    first.append(text)
                yield text
        return _scan_lines(lines(), pattern)[0], (first[0] if first else None)
    # Python's case-insensitive regex runs at ~15 MB/s; a pattern of plain words joined by | (the
    # default) is tested on the lower-cased block as substrings instead, which finds the same blocks.
    words = [w.encode("ascii") for w in pattern.pattern.lower().split("|")] \
        if re.fullmatch(r"[A-Za-z0-9 _]+(\|[A-Za-z0-9 _]+)*", pattern.pattern) else None
    found: list[dict] = []
    first_line = pending = None
    base = 0
    carry = b""
    with open(local_path, "rb") as handle:
        while True:
            block = handle.read(8 << 20)
            data = carry + block
            if not data:
                break
            cut = data.rfind(b"\n") + 1 if block else len(data)
            if cut == 0:
                carry = data
                continue
            data, carry = data[:cut], data[cut:]
            text = data.decode("utf-8", errors="replace")
            if first_line is None:
                first_line = text.split("\n", 1)[0][:MAX_LINE_CHARS].rstrip("\r")
            if words is not None:
                lowered = data.lower()
                hit = any(word in lowered for word in words)
            else:
                hit = pattern.search(text) is not None
            if pending is None and not hit:
                base += text.count("\n") + (0 if text.endswith("\n") else 1)
                continue
            lines = text.split("\n")
            if text.endswith("\n"):
                lines.pop()
            for number, line in enumerate(lines, start=base + 1):
                line = line[:MAX_LINE_CHARS].rstrip("\r")
                if pending is not None:
                    pending["text"] += "\n" + line
                    pending = None
                if pattern.search(line):
                    match = {"line": number, "text": line}
                    found.append(match)
                    if not ENTRY_END.search(line):
                        pending = match
            base += len(lines)
    return found, first_line


def _log_lines(local_path):
    """Decoded physical lines of a log file, streamed (see _stream_lines)."""
    with open(local_path, "rb") as handle:
        yield from _stream_lines(handle)


def _stream_lines(handle):
    """Decoded physical lines of a log, streamed, each cut at MAX_LINE_CHARS.

    Like the script's StreamReader: a UTF-16 byte order mark selects UTF-16, a UTF-8 one is
    skipped, anything else is UTF-8 with invalid bytes replaced; lines end at LF (CR dropped).
    """
    head = handle.read(3)
    if head[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        handle.seek(0)
        yield from _utf16_lines(handle)
        return
    handle.seek(3 if head == codecs.BOM_UTF8 else 0)
    while True:
        raw = handle.readline(MAX_LINE_CHARS * 4)
        if not raw:
            return
        if not raw.endswith(b"\n"):
            rest = raw
            while rest and not rest.endswith(b"\n"):      # discard the overlong remainder
                rest = handle.readline(1 << 16)
        text = raw.decode("utf-8", errors="replace").rstrip("\n")
        yield text[:MAX_LINE_CHARS].rstrip("\r")


def _utf16_lines(handle):
    import io
    reader = io.TextIOWrapper(handle, encoding="utf-16", errors="replace", newline="\n")
    while True:
        text = reader.readline(MAX_LINE_CHARS)
        if not text:
            return
        if not text.endswith("\n"):
            rest = text
            while rest and not rest.endswith("\n"):
                rest = reader.readline(1 << 16)
        yield text.rstrip("\n").rstrip("\r")


@script("probe")
def probe(ctx: HostContext, parameters: dict) -> tuple[dict, bool]:
    """sms_probe.ps1: read-only; never changes the state."""
    return _Probe(ctx.state, Params(parameters)).run(), False


# ---- compressed_package -----------------------------------------------------------------------
DEFAULT_ID_PATTERN = r"^[A-Za-z0-9]{3}[0-9A-Fa-f]{5}\.PCK$"
CHANGING = {"removed", "quarantined", "restored"}
WOULD = {"would_remove", "would_quarantine", "would_restore"}


def _full_path(path: str) -> str:
    """[System.IO.Path]::GetFullPath for a drive-absolute path: resolves '.' and '..'."""
    return ntpath.normpath(path.replace("/", "\\"))


def _ps_string(value) -> str:
    """PowerShell's [string] cast of a JSON value: [string]$null is ''."""
    return "" if value is None else str(value)


class _PackageJob:
    def __init__(self, ctx: HostContext, params: Params):
        self.ctx = ctx
        self.state = ctx.state
        self.mode = params.get("Mode")
        if self.mode not in ("absent", "quarantined", "restored"):
            raise ScriptError(f"Cannot validate argument on parameter 'Mode'. The argument \"{self.mode}\" does not "
                              "belong to the set \"absent,quarantined,restored\"")
        self.quarantine_dir = params.get("QuarantineDir")
        if self.mode != "absent" and not self.quarantine_dir:
            raise ScriptError(f"QuarantineDir is required for Mode {self.mode}")
        self.folders = [_full_path(f).rstrip("\\") for f in params.list("PackageFolders", []) if f]
        try:
            self.id_pattern = dotnet_regex(params.get("IdPattern", DEFAULT_ID_PATTERN))
        except re.error as exc:
            raise ScriptError(f"invalid IdPattern: {exc}") from None
        self.namespace = params.get("ActiveNamespace") or None
        self.items = params.get("Items", []) or []
        self.manifest_path = None if self.mode == "absent" else self.quarantine_dir.rstrip("\\") + "\\manifest.json"
        self.active: dict | None = None
        self.active_error: str | None = None
        if self.namespace:
            if _wmi_namespace_ok(self.state, self.namespace):
                self.active = {str(p.get("PackageID", "")).upper(): p.get("ActionInProgress")
                               for p in self.state.wmi.get("packages") or []}
            else:
                self.active_error = _wmi_error(self.namespace)

    # checks
    def refusal(self, package_id: str, target: str) -> str | None:
        name = ntpath.basename(target)
        if not self.id_pattern.search(name):
            return f"file name '{name}' does not match the package ID pattern"
        if ntpath.splitext(name)[0].lower() != package_id.lower():
            return f"file name '{name}' does not carry the package ID {package_id}"
        resolved = _full_path(target)
        parent = ntpath.dirname(resolved).rstrip("\\")
        if not any(parent.lower() == folder.lower() for folder in self.folders):
            return (f"resolved path {resolved} is not directly inside a package folder "
                    f"({', '.join(self.folders)})")
        if self.state.is_dir(parent) and self.state.is_reparse_point(parent):
            return f"package folder {parent} is a reparse point"
        if self.active_error is not None:
            return f"cannot re-check active packages: {self.active_error}"
        if self.active is not None and package_id.upper() in self.active:
            return (f"package {package_id} is active in {self.namespace} "
                    f"(ActionInProgress={self.active[package_id.upper()]})")
        return None

    def not_regular(self, path: str) -> str | None:
        if self.state.is_dir(path) and not self.state.is_reparse_point(path):
            return "not a file"
        if self.state.is_reparse_point(path):
            return f"{path} is a reparse point"
        return None

    def present(self, path: str) -> bool:
        local = self.state.local_path(path)
        return local.exists() or local.is_symlink()

    # manifest
    def read_manifest(self) -> list[dict]:
        if not _file_exists(self.state, self.manifest_path):
            return []
        text = self.state.read_bytes(self.manifest_path).decode("utf-8-sig")
        if not text.strip():
            return []
        data = json.loads(text)
        entries = data if isinstance(data, list) else [data]
        return [{"id": _ps_string(e.get("id")), "original_path": _ps_string(e.get("original_path")),
                 "quarantine_path": _ps_string(e.get("quarantine_path")), "sha256": _ps_string(e.get("sha256")),
                 "size": int(e.get("size") or 0), "origin_site": _ps_string(e.get("origin_site"))} for e in entries]

    def write_manifest(self, entries: list[dict]) -> None:
        self.state.write_bytes(self.manifest_path, json.dumps(entries, indent=4).encode("utf-8"))

    # actions
    def remove(self, result: dict) -> None:
        path = result["path"]
        result["size"] = self.state.local_path(path).stat().st_size
        result["sha256"] = _sha256_of(self.state, path)
        if self.ctx.check_mode:
            result["outcome"] = "would_remove"
            return
        self.state.remove(path)
        result["outcome"] = "removed"

    def quarantine(self, result: dict) -> None:
        path = result["path"]
        target = self.quarantine_dir.rstrip("\\") + "\\" + result["id"] + ".PCK"
        if self.present(target):
            result["outcome"], result["reason"] = "refused", f"quarantine already holds {target}"
            return
        result["size"] = self.state.local_path(path).stat().st_size
        result["sha256"] = _sha256_of(self.state, path)
        if self.ctx.check_mode:
            result["outcome"] = "would_quarantine"
            return
        self.state.makedirs(self.quarantine_dir)
        self.state.move(path, target)
        try:
            entries = self.read_manifest()
            entries.append({"id": result["id"], "original_path": path, "quarantine_path": target,
                            "sha256": result["sha256"], "size": result["size"],
                            "origin_site": result["id"][:3].upper()})
            self.write_manifest(entries)
        except Exception:
            self.state.move(target, path)       # without a manifest entry it could never come back
            raise
        result["outcome"] = "quarantined"

    @staticmethod
    def manifest_entry(entries: list[dict], package_id: str) -> dict | None:
        """Find-ManifestEntry: the latest entry for ``package_id`` (case-insensitive), or None."""
        entry = None
        for candidate in entries:
            if candidate["id"].lower() == package_id.lower():
                entry = candidate                # the latest one wins
        return entry

    def restore(self, result: dict) -> None:
        path = result["path"]
        entries = self.read_manifest()
        entry = self.manifest_entry(entries, result["id"])
        source = entry["quarantine_path"] if entry else self.quarantine_dir.rstrip("\\") + "\\" + result["id"] + ".PCK"
        if not _file_exists(self.state, source) and not self.state.local_path(source).is_symlink():
            result["outcome"], result["reason"] = "missing", f"{source} not found in quarantine"
            return
        if entry is None:
            result["outcome"], result["reason"] = "refused", f"no manifest entry for {result['id']} in {self.manifest_path}"
            return
        problem = self.not_regular(source)
        if problem:
            result["outcome"], result["reason"] = "refused", problem
            return
        if self.present(_full_path(path)):
            result["outcome"], result["reason"] = "refused", f"restore target {path} already exists"
            return
        result["size"] = self.state.local_path(source).stat().st_size
        result["sha256"] = _sha256_of(self.state, source)
        if result["sha256"] != entry["sha256"].lower():
            result["outcome"] = "refused"
            result["reason"] = f"sha256 of {source} is {result['sha256']}, manifest says {entry['sha256']}"
            return
        if self.ctx.check_mode:
            result["outcome"] = "would_restore"
            return
        self.state.move(source, _full_path(path))
        entries.remove(entry)
        self.write_manifest(entries)
        result["outcome"] = "restored"

    def run_item(self, item) -> dict:
        item = item if isinstance(item, dict) else {}
        lowered = {str(k).lower(): v for k, v in item.items()}
        package_id = str(lowered.get("id") or "")
        path = str(lowered.get("path") or "")
        result = {"id": package_id, "path": path, "outcome": None, "reason": None, "sha256": None, "size": None}
        try:
            if self.mode == "restored" and package_id and not path:
                # The target comes from the manifest (original_path) and passes every check below,
                # as a given path would. Without an entry restore() answers (missing or refused).
                entry = self.manifest_entry(self.read_manifest(), package_id)
                if entry is None:
                    self.restore(result)
                    return result
                path = result["path"] = entry["original_path"]
            if not package_id or not re.match(r"^[A-Za-z]:\\", path):
                result["outcome"], result["reason"] = "refused", "item needs an id and an absolute path (X:\\...)"
                return result
            result["reason"] = self.refusal(package_id, path)
            if result["reason"] is not None:
                result["outcome"] = "refused"
                return result
            if self.mode == "restored":
                self.restore(result)
                return result
            resolved = _full_path(path)
            if not self.present(resolved):
                result["outcome"] = "missing"
                return result
            result["reason"] = self.not_regular(resolved)
            if result["reason"] is not None:
                result["outcome"] = "refused"
                return result
            # act on the resolved path (the lab cannot map '..'), report the given one
            acting = dict(result, path=resolved)
            (self.remove if self.mode == "absent" else self.quarantine)(acting)
            result.update({k: v for k, v in acting.items() if k != "path"})
        # ValueError: an unreadable manifest.json; the script's ConvertFrom-Json throws and the item is refused.
        except (OSError, LabPathError, ValueError) as exc:
            result["outcome"], result["reason"] = "refused", f"error: {getattr(exc, 'strerror', None) or exc}"
        return result

    def run(self) -> tuple[dict, bool]:
        results = [self.run_item(item) for item in self.items]
        changed = any(r["outcome"] in CHANGING | WOULD for r in results)
        return {"items": results, "manifest": self.manifest_path}, changed


@script("compressed_package")
def compressed_package(ctx: HostContext, parameters: dict) -> tuple[dict, bool]:
    """sms_compressed_package.ps1: remove / quarantine / restore with per-item refusals."""
    return _PackageJob(ctx, Params(parameters)).run()


# ---- hotfix_transaction -----------------------------------------------------------------------
class _StepFailed(Exception):
    pass


class _Hotfix:
    def __init__(self, ctx: HostContext, params: Params):
        self.ctx = ctx
        self.state = ctx.state
        install_dir = params.get("InstallDir")
        self.platform = params.get("Platform")
        self.staged = params.get("StagedPath")
        self.expected = params.get("ExpectedSha256")
        for name, value in (("InstallDir", install_dir), ("Platform", self.platform),
                            ("StagedPath", self.staged), ("ExpectedSha256", self.expected)):
            if not value:
                raise ScriptError(f"Cannot bind argument to parameter '{name}' because it is an empty string.")
        if self.platform not in ("i386", "alpha"):
            raise ScriptError(f"Cannot validate argument on parameter 'Platform'. The argument \"{self.platform}\" "
                              "does not belong to the set \"i386,alpha\"")
        self.install_dir = install_dir.rstrip("\\")
        self.minimum = params.get("MinimumVersion", "2.00.1380.1083")
        self.stop_order = params.list("StopOrder", ["SMS_SITE_COMPONENT_MANAGER", "SMS_EXECUTIVE", "SMS_SITE_BACKUP"])
        self.wait = int(params.get("WaitSeconds", 120))
        self.target = f"{self.install_dir}\\bin\\{self.platform}\\Distmgr.dll"
        self.backup = self.target + params.get("BackupSuffix", ".pre-Q244405")
        self.log_name = params.get("HotfixLogName", "Q244405.log")
        self.steps: list[dict] = []
        self.fail_steps = _fail_steps(self.state)
        self.wont_stop = _fault_names(self.state, "service_wont_stop")
        self.wont_start = _fault_names(self.state, "service_wont_start")
        self.running: list[str] = []
        self.swapped = False
        self.original: bytes | None = None
        self.original_sha = self.original_version = None
        self.restored = False
        self.step = "precheck"

    def add(self, step: str, ok: bool, detail: str) -> None:
        self.steps.append({"step": step, "ok": ok, "detail": detail})

    def states(self) -> dict:
        return {name: _service_state(self.state, name) for name in self.stop_order}

    def injected(self, step: str) -> None:
        if step.lower() in self.fail_steps:
            raise _StepFailed(f"lab fault injected at step '{step}'")

    # services (the lab's ServiceController)
    def stop_service(self, name: str) -> None:
        if _service_state(self.state, name) == "stopped":
            return
        if name.lower() in self.wont_stop:
            raise _StepFailed(f"service {name} did not stop within {self.wait} seconds")
        _service(self.state, name)["state"] = "stopped"

    def start_service(self, name: str) -> None:
        if _service_state(self.state, name) == "running":
            return
        if name.lower() in self.wont_start:
            raise _StepFailed(f"service {name} did not start within {self.wait} seconds")
        _service(self.state, name)["state"] = "running"

    def precheck(self) -> str | None:
        if version_fields(self.minimum) is None:
            return f"MinimumVersion '{self.minimum}' is not a version"
        if not _file_exists(self.state, self.target):
            return f"{self.target} not found"
        if not _file_exists(self.state, self.staged):
            return f"staged file {self.staged} not found"
        staged_sha = _sha256_of(self.state, self.staged)
        if staged_sha != self.expected.lower():
            return f"staged file sha256 {staged_sha} does not match expected {self.expected}"
        staged_version = _version_of(self.state, self.staged)
        if not version_at_least(staged_version, self.minimum):
            return f"staged file version {staged_version} is below {self.minimum}"
        return None

    def forward(self) -> None:
        for name in self.stop_order:
            if name not in self.running:
                continue
            self.step = f"stop:{name}"
            self.injected(self.step)
            self.stop_service(name)
            self.add(self.step, True, "stopped")

        self.step = "backup"
        self.injected(self.step)
        self.original = self.state.read_bytes(self.target)
        if _file_exists(self.state, self.backup):
            same = _sha256_of(self.state, self.backup) == self.original_sha
            detail = f"existing backup {self.backup} kept ({'same file' if same else 'an older file'})"
        else:
            self.state.write_bytes(self.backup, self.original)
            if _sha256_of(self.state, self.backup) != self.original_sha:
                raise _StepFailed(f"backup {self.backup} does not match the original")
            detail = f"copied to {self.backup}"
        self.add("backup", True, detail)

        self.step = "swap"
        self.swapped = True
        self.injected(self.step)
        self.state.write_bytes(self.target, self.state.read_bytes(self.staged))
        self.add("swap", True, f"copied {self.staged} over {self.target}")

        self.step = "verify"
        sha = _sha256_of(self.state, self.target)
        version = _version_of(self.state, self.target)
        self.injected(self.step)
        if sha != self.expected.lower():
            raise _StepFailed(f"sha256 of {self.target} is {sha}, expected {self.expected}")
        if not version_at_least(version, self.minimum):
            raise _StepFailed(f"file version of {self.target} is {version}, expected at least {self.minimum}")
        self.add("verify", True, f"sha256 {sha}, version {version}")

        for name in reversed(self.stop_order):
            if name not in self.running:
                continue
            self.step = f"start:{name}"
            self.injected(self.step)
            self.start_service(name)
            self.add(self.step, True, "running")

        self.step = "verify_running"
        self.injected(self.step)
        not_running = [name for name in self.running if _service_state(self.state, name) != "running"]
        if not_running:
            raise _StepFailed(f"not running after start: {', '.join(not_running)}")
        self.add("verify_running", True, ", ".join(self.running) if self.running else "no service was running")

        self.step = "log"
        self.injected(self.step)
        log_path = f"{self.install_dir}\\Logs\\{self.log_name}"
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        line = (f"{stamp} Q244405 Distmgr.dll ({self.platform}) replaced: {self.original_version} -> {version}, "
                f"sha256 {sha}, by sms.remediation hotfix_transaction\r\n")
        previous = self.state.read_bytes(log_path) if _file_exists(self.state, log_path) else b""
        self.state.write_bytes(log_path, previous + line.encode("utf-8"))
        self.add("log", True, f"appended to {self.log_name}")

    def rollback(self) -> None:
        if self.swapped and self.original is not None:
            for name in self.stop_order:
                if name not in self.running or _service_state(self.state, name) == "stopped":
                    continue
                try:
                    self.stop_service(name)
                    self.add(f"rollback:stop:{name}", True, "stopped")
                except _StepFailed as exc:
                    self.add(f"rollback:stop:{name}", False, str(exc))
            self.state.write_bytes(self.target, self.original)
            restored_sha = _sha256_of(self.state, self.target)
            if restored_sha == self.original_sha:
                self.restored = True
                self.add("rollback:restore", True, f"original Distmgr.dll put back (sha256 {restored_sha})")
            else:
                self.add("rollback:restore", False,
                         f"restored file sha256 {restored_sha} differs from the original {self.original_sha}")
        for name in reversed(self.stop_order):
            if name not in self.running or _service_state(self.state, name) == "running":
                continue
            try:
                self.start_service(name)
                self.add(f"rollback:start:{name}", True, "running")
            except _StepFailed as exc:
                self.add(f"rollback:start:{name}", False, str(exc))

    def run(self) -> tuple[dict, bool]:
        before = self.states()
        result = {"outcome": None, "failed_step": None, "error": None, "restored": False,
                  "services_before": before, "services_after": None, "steps": self.steps,
                  "new_version": None, "new_sha256": None}
        # Anything not stopped counts as running: stopped for the swap, started afterwards.
        self.running = [name for name in self.stop_order if before[name] is not None and before[name] != "stopped"]
        problem = self.precheck()
        if problem is not None:
            self.add("precheck", False, problem)
            result.update(outcome="failed", failed_step="precheck", error=problem)
        else:
            self.original_sha = _sha256_of(self.state, self.target)
            self.original_version = _version_of(self.state, self.target)
            if self.original_sha == self.expected.lower():
                self.add("precheck", True, f"{self.target} already has sha256 {self.original_sha}")
                result["outcome"] = "unchanged"
            elif self.ctx.check_mode:
                self.add("precheck", True, f"would stop {', '.join(self.running)}, back up, replace and restart")
                result["outcome"] = "would_replace"
            else:
                self.add("precheck", True, f"services running: {', '.join(self.running)}")
                try:
                    self.forward()
                    result["outcome"] = "replaced"
                except (_StepFailed, OSError, LabPathError) as exc:
                    message = str(exc) if isinstance(exc, _StepFailed) else (getattr(exc, "strerror", None) or str(exc))
                    self.add(self.step, False, message)
                    result.update(outcome="failed", failed_step=self.step, error=message)
                    self.rollback()
                result["restored"] = self.restored
        result["services_after"] = self.states()
        if _file_exists(self.state, self.target):
            result["new_sha256"] = _sha256_of(self.state, self.target)
            result["new_version"] = _version_of(self.state, self.target)
        changed = result["outcome"] in ("replaced", "would_replace") or (
            result["outcome"] == "failed" and result["failed_step"] != "precheck")
        return result, changed


@script("hotfix_transaction")
def hotfix_transaction(ctx: HostContext, parameters: dict) -> tuple[dict, bool]:
    """sms_hotfix_transaction.ps1: stop -> backup -> swap -> verify -> start, with rollback."""
    with ctx.state.lock:
        return _Hotfix(ctx, Params(parameters)).run()


# ---- Q244405.exe (the KB's hotfix installer) ----------------------------------------------------
HOTFIX_VERSION = "2.00.1380.1083"
INSTALLER_SERVICES = ["SMS_SITE_COMPONENT_MANAGER", "SMS_EXECUTIVE", "SMS_SITE_BACKUP"]


@command("q244405.exe")
def q244405_installer(ctx: HostContext, argv: list[str]) -> tuple[int, str, str]:
    """``Q244405.exe /s``: I386 only, quiet mode only in the lab, refuses while the console is open."""
    state = ctx.state
    args = argv[1:] if argv and ntpath.basename(argv[0]).lower().startswith("q244405") else list(argv)
    switches = {a.lower() for a in args}
    if str(state.environment.get("PROCESSOR_ARCHITECTURE", "")).upper() == "ALPHA":
        return 1, "", "Q244405.exe: this hotfix installer runs on I386-based computers only; " \
                      "install the Alpha Distmgr.dll manually (KB Q244405, Manual Installation)\r\n"
    if not switches & {"/s", "-s"}:
        return 1, "", "Q244405.exe: interactive wizard not supported in the lab; run with /s\r\n"
    if any(str(p.get("name", "")).lower() == "mmc.exe" and "sms.msc" in str(p.get("command_line", "")).lower()
           for p in state.processes):
        return 1, "", "Q244405.exe: close the Systems Management Server Administrator console and run setup again\r\n"
    setup = state.registry_key("HKLM\\SOFTWARE\\Microsoft\\SMS\\Setup") or {}
    ident = state.registry_key("HKLM\\SOFTWARE\\Microsoft\\SMS\\Identification") or {}
    if not setup.get("Full Version"):
        return 1, "", "Q244405.exe: Systems Management Server 2.0 not found (Setup\\Full Version missing)\r\n"
    install_dir = ident.get("Installation Directory") or setup.get("Installation Directory")
    if not install_dir:
        return 1, "", "Q244405.exe: SMS installation directory not found in the registry\r\n"
    install_dir = str(install_dir).rstrip("\\")
    wont_stop = _fault_names(state, "service_wont_stop")
    wont_start = _fault_names(state, "service_wont_start")

    with state.lock:
        running = [n for n in INSTALLER_SERVICES if _service_state(state, n) not in (None, "stopped")]
        stopped: list[str] = []

        def restart() -> list[str]:
            failed = []
            for name in reversed(stopped):
                if name.lower() in wont_start:
                    failed.append(name)
                else:
                    _service(state, name)["state"] = "running"
            return failed

        for name in running:
            if name.lower() in wont_stop:
                failed = restart()
                message = f"Q244405.exe: could not stop {name}; no file was changed"
                if failed:
                    message += f"; could not restart {', '.join(failed)}"
                return 1, "", message + "\r\n"
            _service(state, name)["state"] = "stopped"
            stopped.append(name)
        target = f"{install_dir}\\bin\\i386\\Distmgr.dll"
        state.write_bytes(target, dll_bytes(HOTFIX_VERSION, 4096))
        log_path = f"{install_dir}\\Logs\\Q244405.log"
        previous = state.read_bytes(log_path) if _file_exists(state, log_path) else b""
        state.write_bytes(log_path, previous + (
            f"Q244405 hotfix installed: {target} updated to version {HOTFIX_VERSION}\r\n").encode("ascii"))
        failed = restart()
    if failed:
        return 1, "", f"Q244405.exe: Distmgr.dll updated but {', '.join(failed)} did not start\r\n"
    return 0, f"Q244405: Distmgr.dll updated to {HOTFIX_VERSION} in {install_dir}\\bin\\i386\r\n", ""
