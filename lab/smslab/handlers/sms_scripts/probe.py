"""Twin of sms_probe.ps1: the read-only facts probe."""

from __future__ import annotations

import codecs
import os
import re
import threading

from smslab.handlers import HostContext, script
from smslab.state import HostState, LabPathError
from smslab.handlers.sms_scripts.common import (
    ENTRY_END,
    MAX_LINE_CHARS,
    Params,
    dotnet_regex,
    file_exists,
    join_path,
    service_record,
    sha256_of,
    utc_text,
    version_of,
    wmi_error,
    wmi_namespace_ok,
    wmi_site_code,
)


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
        if not wmi_namespace_ok(self.state, "root\\SMS"):
            self.error("wmi", wmi_error("root\\SMS"))
            return None
        return wmi_site_code(self.state)

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
        if not wmi_namespace_ok(self.state, namespace):
            message = wmi_error(namespace)
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
            service = service_record(self.state, name)
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
        path = join_path(join_path(join_path(install_dir, "bin"), platform), "Distmgr.dll")
        entry = {"path": path, "exists": False, "file_version": None, "size": None, "sha256": None}
        if path is None or not file_exists(self.state, path):
            return entry
        entry.update(exists=True, size=self.state.local_path(path).stat().st_size,
                     file_version=version_of(self.state, path), sha256=sha256_of(self.state, path))
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
            files.append({"name": entry.name, "size": size, "last_write_utc": utc_text(info.st_mtime),
                          "reparse_point": reparse, "directory": directory})
        folder["files"] = files
        return folder

    # Distmgr.log
    def search_log(self, path: str | None, pattern: re.Pattern) -> dict:
        entry = {"path": path, "exists": False, "size": None, "matches": None}
        if path is None or not file_exists(self.state, path):
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
            path = join_path(join_path(install_dir, "Logs"), name)
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
        hotfix_log = join_path(join_path(install_dir, "Logs"), self.p.get("HotfixLogName", PROBE_DEFAULTS["HotfixLogName"]))
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
            "hotfix_log": {"path": hotfix_log, "exists": hotfix_log is not None and file_exists(self.state, hotfix_log)},
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
