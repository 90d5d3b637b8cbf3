"""Twin of sms_probe.ps1: the read-only facts probe."""

from __future__ import annotations

import codecs
import os
import re
import threading

from smslab.handlers import HostContext, script
from smslab.handlers.dotnet_regex import DotnetRegexError, compile_dotnet
from smslab.state import HostState, LabPathError
from smslab.handlers.sms_scripts.common import (
    WMI_DOWN,
    ENTRY_END,
    MAX_LINE_CHARS,
    file_exists,
    join_path,
    service_record,
    sha256_of,
    utc_text,
    version_of,
    wmi_error,
    wmi_namespace_error,
    wmi_down,
    wmi_site_code,
)
from smslab.handlers.sms_scripts.encodings import ANSI_ERRORS, ansi_codec, log_encoding


class _Probe:
    def __init__(self, state: HostState, params: dict):
        # bound to the script's param() block (ps_binding): every parameter is there, defaults filled in
        self.state = state
        self.p = params
        self.errors: list[dict] = []
        self.ansi_codec = ansi_codec(state)

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
        root = self.p["SmsRegistryRoot"].rstrip("\\")
        component = self.p["LogComponent"]
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
        problem = wmi_namespace_error(self.state, "root\\SMS")
        if problem:
            self.error("wmi", problem)
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
        message = wmi_namespace_error(self.state, namespace)
        if message:
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
        if wmi_down(self.state):
            for name in (self.p["Services"] or []):
                result[name] = {"exists": False, "state": None, "start_mode": None}
            self.error("services", wmi_error("root\\cimv2", WMI_DOWN))
            return result, paths
        for name in (self.p["Services"] or []):
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

    def console_open(self) -> bool | None:
        if wmi_down(self.state):
            self.error("processes", wmi_error("root\\cimv2", WMI_DOWN))
            return None
        process = self.p["ConsoleProcess"].lower()
        snap_in = self.p["ConsoleSnapIn"].lower()
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

    def transaction_journal(self, install_dir: str | None) -> dict | None:
        """Get-TransactionJournal: the journal a cut hotfix transaction left, as text, or None; ``<name>.tmp``
        when only that is there (a cut inside the msrpc transport's swap)."""
        journal = join_path(join_path(install_dir, "Logs"), self.p["HotfixJournalName"])
        if journal is None:
            return None
        path = next((c for c in (journal, journal + ".tmp") if file_exists(self.state, c)), None)
        if path is None:
            return None
        size = self.state.file_size(path)
        if size > 65536:
            return {"path": path, "text": None, "error": f"{size} bytes: too big for a journal"}
        # File.ReadAllText: UTF-8 unless a byte order mark says otherwise
        return {"path": path, "text": self.state.read_bytes(path).decode("utf-8-sig", errors="replace"), "error": None}

    def fixed_drive_folders(self) -> list[str]:
        name = self.p["PackageFolderName"]
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
            with self.state.open_read(path) as handle:
                encoding = log_encoding(handle.read(4096), self.ansi_codec)
            if len(parts) == 2 and _ends_with_newline(parts[0]) and encoding == self.ansi_codec:
                # The host's own part, then the part shared by many hosts: scanned once per pattern.
                found, count, pending = _scan_lines(_log_lines(parts[0], encoding), pattern)
                shared_found, first_line = _shared_scan(parts[1], pattern, encoding)
                if pending is not None and first_line is not None:
                    pending["text"] += "\n" + first_line
                found += [{"line": count + match["line"], "text": match["text"]} for match in shared_found]
            else:
                with self.state.open_read(path) as handle:
                    found = _scan_lines(_stream_lines(handle, encoding), pattern)[0]
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
            pattern = compile_dotnet(self.p["LogPattern"], ignore_case=True)
        except DotnetRegexError as exc:
            self.error("log", f"invalid LogPattern: {exc}")
            pattern = None
        files = []
        for name in (self.p["LogNames"] or []):
            path = join_path(join_path(install_dir, "Logs"), name)
            if pattern is None:
                files.append({"path": path, "exists": False, "size": None, "matches": None})
            else:
                files.append(self.search_log(path, pattern))
        return {"logging_enabled": enabled, "max_file_size": max_size, "files": files}

    def source(self, name: str, body, fallback=None):
        """Invoke-ProbeSource: an unexpected error of one source is recorded; the others still run."""
        try:
            return body()
        except (OSError, LabPathError, ValueError, TypeError) as exc:
            self.error(name, f"unexpected error: {getattr(exc, 'strerror', None) or exc}")
            return fallback

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
        platforms = {platform: self.source("platforms", lambda p=platform: self.platform_dll(install_dir, p),
                                           {"path": None, "exists": False, "file_version": None, "size": None,
                                            "sha256": None})
                     for platform in (self.p["Platforms"] or [])}
        hotfix_log = join_path(join_path(install_dir, "Logs"), self.p["HotfixLogName"])
        folder_paths = self.p["PackageFolders"]
        if not folder_paths:
            if wmi_down(self.state):        # drives are found through Win32_LogicalDisk
                self.error("package_folders", wmi_error("root\\cimv2", WMI_DOWN))
                folder_paths = []
            else:
                folder_paths = self.fixed_drive_folders()
        env = self.state.environment
        return {
            "schema": 1,
            "computer_name": env.get("COMPUTERNAME"),
            # a 32-bit PowerShell on 64-bit Windows: the machine's architecture is in ..._ARCHITEW6432
            "processor_architecture": env.get("PROCESSOR_ARCHITEW6432") or env.get("PROCESSOR_ARCHITECTURE"),
            "registry": registry,
            "wmi_site": wmi_site,
            "install_dir": install_dir,
            "platforms": platforms,
            "hotfix_log": {"path": hotfix_log, "exists": hotfix_log is not None and file_exists(self.state, hotfix_log)},
            "transaction_journal": self.source("transaction_journal", lambda: self.transaction_journal(install_dir)),
            "services": services,
            "console_open": self.console_open(),
            "package_folders": [self.folder_listing(path) for path in folder_paths],
            "active_packages": active,
            "distmgr_log": self.source("log", lambda: self.log_facts(install_dir, registry["tracing"]),
                                       {"logging_enabled": None, "max_file_size": None, "files": []}),
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


_SHARED_SCANS: dict[tuple, tuple[list[dict], str | None]] = {}
_SHARED_SCANS_LOCK = threading.Lock()


def _shared_scan(local_path, pattern: re.Pattern, encoding: str) -> tuple[list[dict], str | None]:
    """Matches in a part shared by many hosts (line numbers from 1 in that part) and its first line.

    The shared part never changes (hosts that change the file drop it), so the result is kept per
    file and pattern: the lab runs every host on one machine, and a real site server would scan
    its own log on its own CPU. The same streaming filter as any other log; computed once.
    """
    info = os.stat(local_path)
    key = (str(local_path), info.st_size, info.st_mtime_ns, pattern.pattern, pattern.flags, encoding)
    with _SHARED_SCANS_LOCK:
        cached = _SHARED_SCANS.get(key)
        if cached is None:
            cached = _SHARED_SCANS[key] = _scan_shared_file(local_path, pattern, encoding)
    return [dict(match) for match in cached[0]], cached[1]


_LINE_SENSITIVE = re.compile(r"\^|\$|\\[AZz]|\(\?<[=!]")     # a pattern whose matches depend on where lines end


def _scan_shared_file(local_path, pattern: re.Pattern, encoding: str) -> tuple[list[dict], str | None]:
    """The probe's filter over a generated ASCII part, in 8 MiB blocks of whole lines: a block in
    which the pattern finds nothing is only counted (same result as the line by line scan)."""
    if _LINE_SENSITIVE.search(pattern.pattern):
        first: list[str] = []

        def lines():
            for text in _log_lines(local_path, encoding):
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
            text = data.decode(encoding, errors=ANSI_ERRORS)
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


def _log_lines(local_path, encoding: str):
    """Decoded physical lines of a log file, streamed (see _stream_lines)."""
    with open(local_path, "rb") as handle:
        yield from _stream_lines(handle, encoding)


def _stream_lines(handle, encoding: str):
    """Decoded physical lines of a log, streamed, each cut at MAX_LINE_CHARS.

    Like the script's StreamReader over Get-LogEncoding: ``encoding`` comes from ``log_encoding``, a
    byte order mark is skipped, bytes the encoding cannot decode are replaced; lines end at LF (CR dropped).
    """
    if encoding.startswith("utf-16"):
        yield from _utf16_lines(handle, encoding)
        return
    head = handle.read(3)
    handle.seek(3 if head == codecs.BOM_UTF8 else 0)
    errors = "replace" if encoding == "utf-8" else ANSI_ERRORS
    while True:
        raw = handle.readline(MAX_LINE_CHARS * 4)
        if not raw:
            return
        if not raw.endswith(b"\n"):
            rest = raw
            while rest and not rest.endswith(b"\n"):      # discard the overlong remainder
                rest = handle.readline(1 << 16)
        text = raw.decode(encoding, errors=errors).rstrip("\n")
        yield text[:MAX_LINE_CHARS].rstrip("\r")


def _utf16_lines(handle, encoding: str):
    import io
    head = handle.read(2)
    bom = codecs.BOM_UTF16_LE if encoding == "utf-16-le" else codecs.BOM_UTF16_BE
    handle.seek(2 if head == bom else 0)
    reader = io.TextIOWrapper(handle, encoding=encoding, errors="replace", newline="\n")
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
    return _Probe(ctx.state, parameters).run(), False
