# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The schema-1 probe answer (docs/internals.md section 1) assembled on the controller over msrpc (private to this collection).

Each source is read on its own, as sms_probe.ps1 does: a failure lands in ``errors`` and the rest still
runs. Only a host that cannot be reached at all (connection, logon) fails the probe. Sources:
registry (MS-RRP) for Setup / Identification / Tracing, the computer name and architecture and the
services' ImagePath and Start; service states (MS-SCMR); fixed drives as ``<d>$`` shares; folder
listings, Distmgr.dll (sha256 and PE version resource) and the logs over SMB; WMI through ``wmi_hook``."""

from __future__ import annotations

import contextlib
import hashlib
import re
import time

from ansible_collections.sms.remediation.plugins.plugin_utils._transport.base import TransportError
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc import (
    activation, impacket_speedups, smb1_readahead, wmi_hook)
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.files import drive_shares
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.log_reader import ansi_codec, search_log
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.params import PROBE_DEFAULTS, Params
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.pe_version import file_version_of_bytes
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.regex import compile_script_regex

MAX_DLL_BYTES = 32 * 1024 * 1024       # Distmgr.dll is about 230 KB; a larger "DLL" is not read whole
MAX_JOURNAL_BYTES = 65536              # a journal is a few KB; a bigger file is not one (as the script)
COMPUTER_NAME_KEY = "HKLM\\SYSTEM\\CurrentControlSet\\Control\\ComputerName\\ComputerName"
CODE_PAGE_KEY = "HKLM\\SYSTEM\\CurrentControlSet\\Control\\Nls\\CodePage"
ENVIRONMENT_KEY = "HKLM\\SYSTEM\\CurrentControlSet\\Control\\Session Manager\\Environment"
SERVICES_KEY = "HKLM\\SYSTEM\\CurrentControlSet\\Services"
START_MODES = {0: "boot", 1: "system", 2: "auto", 3: "manual", 4: "disabled"}
# The fixed drives (``<d>$`` shares) found by one probe serve the next ones for a day: enumerating them costs a
# pipe, a bind and a call (~6 round trips). A drive that is gone is noticed (its share is missing) and the drives
# are enumerated again at once; a drive added is seen within DRIVES_MAX_AGE_S.
DRIVES_FACT, DRIVES_MAX_AGE_S = "fixed_drives", 24 * 3600
# A host that answered IActivation (NT 4.0) is remembered for a day: a new process would otherwise try
# IRemoteSCMActivator first, a TCP connection and a refused bind (2 round trips) each run.
ACTIVATOR_FACT, ACTIVATOR_MAX_AGE_S = "dcom_activator", 24 * 3600
# The computer name, the processor architecture and the ANSI code page (three registry keys, 6 round trips) change
# only with a reinstall or a rename and a reboot: a rerun takes them from the host's cache when the server is the
# one that gave them, by the NetBIOS name of its NTLMSSP challenge (no round trip) or else (NT 4.0 without extended
# security) by the ComputerName key read again. Kept for a day at most.
IDENTITY_FACT, IDENTITY_MAX_AGE_S = "host_identity", 24 * 3600
# A Distmgr.dll's sha256 and version, kept with the size and the three times its folder listing gives: a rerun
# asks for that entry (one round trip) instead of reading ~230-370 KB (about 6 round trips on NT 4.0). Any
# replacement (the hotfix's swap, a copy, a restore) changes the size or a time; kept for a day at most.
DLL_FACT, DLL_MAX_AGE_S = "distmgr_dlls", 24 * 3600
_IMAGE_ROOT = re.compile(r"^(?P<root>.+?)\\bin\\[^\\]+\\[^\\]+\.exe", re.IGNORECASE)


def fresh(entry, max_age: float) -> dict | None:
    """``entry`` of the host's cache file when its ``at`` is less than ``max_age`` seconds ago, else None."""
    try:
        return entry if 0 <= time.time() - float(entry["at"]) < max_age else None
    except (KeyError, TypeError, ValueError):
        return None


def join(parent: str | None, child: str) -> str | None:
    return None if not parent else parent.rstrip("\\") + "\\" + child


class _Probe:
    def __init__(self, host, parameters: dict):
        self.host = host                 # transport.MsrpcHost: session, files, registry, services, cache
        self.p = Params(parameters, PROBE_DEFAULTS)
        self.errors: list[dict] = []
        self.log_reads: list[dict] = []
        self.timeout = int(self.p.get("WmiTimeoutSeconds") or PROBE_DEFAULTS["WmiTimeoutSeconds"])
        self.identity: dict | None = None      # IDENTITY_FACT as this probe read or recognised it

    def error(self, source: str, message: str) -> None:
        self.errors.append({"source": source, "message": message})

    def guarded(self, source: str, what, default=None):
        """Run one read; a host error becomes an entry of ``errors`` (the probe goes on)."""
        try:
            return what()
        except TransportError as exc:
            self.error(source, exc.message)
            return default

    # ---- registry ----------------------------------------------------------------------------
    def registry_values(self, key: str, names: list[str]) -> dict | None:
        try:
            values = self.host.registry.read_values(key, names, "registry")
        except TransportError as exc:
            self.error("registry", f"registry key {key}: {exc.message}")
            return None
        if values is None:
            self.error("registry", f"registry key {key} not found")
        return values

    def registry(self) -> dict:
        root = self.p.text("SmsRegistryRoot").rstrip("\\")
        return {
            "setup": self.registry_values(f"{root}\\Setup", ["Full Version", "Installation Directory", "Type", "UI Version"]),
            "identification": self.registry_values(f"{root}\\Identification",
                                                   ["Site Code", "Parent Site Code", "Installation Directory"]),
            "tracing": self.registry_values(f"{root}\\Tracing\\{self.p.text('LogComponent')}", ["Enabled", "MaxFileSize"]),
        }

    def read_value(self, key: str, name: str, source: str):
        values = self.host.registry.read_values(key, [name], source)
        return None if values is None else values.get(name)

    def environment(self) -> tuple[str | None, str | None]:
        """(COMPUTERNAME, PROCESSOR_ARCHITECTURE): what ``$env:`` gives the script, from the registry."""
        server = getattr(self.host.session, "ntlm_server_name", None)
        kept = self._fresh_fact(IDENTITY_FACT, IDENTITY_MAX_AGE_S) or {}
        if server and kept.get("server_name") == server and kept.get("computer_name") and kept.get("architecture"):
            self.identity = dict(kept)
            return kept["computer_name"], kept["architecture"]
        name = self.guarded("registry", lambda: self.read_value(COMPUTER_NAME_KEY, "ComputerName", "registry"))
        if name and not server and kept.get("computer_name") == name and kept.get("architecture"):
            self.identity = dict(kept)
            return name, kept["architecture"]
        if not name:
            name = self.host.session.smb.getServerName() or None
        arch = self.guarded("registry", lambda: self.read_value(ENVIRONMENT_KEY, "PROCESSOR_ARCHITECTURE", "registry"))
        if not arch:
            self.error("registry", f"{ENVIRONMENT_KEY}\\PROCESSOR_ARCHITECTURE not found: the platform is unknown")
        elif not self.errors:           # both read from the registry: kept for the next run
            self.identity = {"server_name": server, "computer_name": name, "architecture": arch, "at": time.time()}
            self.host.log_cache.put_host_fact(IDENTITY_FACT, self.identity)
        return name, arch

    # ---- WMI (through the hook) -------------------------------------------------------------
    def wmi_facts(self, registry: dict) -> tuple[dict, dict]:
        ident = registry["identification"] or {}
        site_code = str(ident["Site Code"]) if ident.get("Site Code") else None
        if not site_code or not re.fullmatch(r"[A-Za-z0-9]{3}", site_code):
            message = (f"site code '{site_code}' is not valid" if site_code
                       else "site code unknown: no Identification\\Site Code and no SMS Provider")
            self.error("wmi", message)
            return wmi_hook.unavailable_site(message), wmi_hook.unavailable_packages(message, None)
        namespace = f"root\\SMS\\site_{site_code}"
        wmi = wmi_hook.wmi_module()
        if wmi is None:
            self.error("wmi", f"WMI namespace {namespace} unavailable: {wmi_hook.NOT_YET}")
            return (wmi_hook.unavailable_site(wmi_hook.NOT_YET),
                    wmi_hook.unavailable_packages(wmi_hook.NOT_YET, namespace))
        site = (wmi.site(self.host.session, site_code, self.timeout) if hasattr(wmi, "site")
                else wmi_hook.unavailable_site(wmi_hook.NOT_YET))
        packages = wmi.active_packages(self.host.session, site_code, self.timeout)
        for part in (site, packages):
            if part.get("error") and not part.get("available"):
                self.error("wmi", part["error"])
        return site, packages

    def _wmi_address(self) -> str | None:
        wmi = wmi_hook.wmi_module()
        return wmi.target_of(self.host.session).address if wmi is not None and hasattr(wmi, "target_of") else None

    def _fresh_fact(self, name: str, max_age: float) -> dict | None:
        """A fact of the host's cache file written less than ``max_age`` seconds ago, or None."""
        return fresh(self.host.log_cache.host_fact(name), max_age)

    def _fresh_activator(self, address: str | None) -> dict | None:
        fact = self._fresh_fact(ACTIVATOR_FACT, ACTIVATOR_MAX_AGE_S)
        return fact if fact is not None and fact.get("address") == address else None

    def recall_activator(self) -> None:
        """The activator an earlier run found at this host's WMI address, into this process's memory."""
        address = self._wmi_address()
        fact = self._fresh_activator(address)
        if fact is not None and address and activation.remembered(address) is None:
            activation.remember(address, str(fact["activator"]))

    def keep_activator(self) -> None:
        address = self._wmi_address()
        found = activation.remembered(address) if address else None
        if found == activation.ACTIVATION:
            if self._fresh_activator(address) is None:       # none, another address, or too old to be recalled
                self.host.log_cache.put_host_fact(ACTIVATOR_FACT, {"activator": found, "address": address, "at": time.time()})
        elif found is not None:         # IRemoteSCMActivator is tried first anyway
            self.host.log_cache.put_host_fact(ACTIVATOR_FACT, None)

    def console_open(self) -> bool | None:
        wmi = wmi_hook.wmi_module()
        if wmi is not None and hasattr(wmi, "console_check"):
            check = wmi.console_check(self.host.session, self.p.text("ConsoleProcess"), self.p.text("ConsoleSnapIn"),
                                      self.timeout)
            if check["open"] is None:       # as Test-ConsoleOpen: unknown, with the cause (it refuses the hotfix)
                self.error("processes", check["error"] or "Win32_Process gave no answer")
            return check["open"]
        self.error("processes", f"whether the SMS Administrator console is open needs Win32_Process: {wmi_hook.NOT_YET}")
        return None

    # ---- services ---------------------------------------------------------------------------
    def services(self) -> tuple[dict, dict]:
        result, paths = {}, {}
        names = [str(name) for name in self.p.list("Services")]
        # every state from one enumeration (services.Services.states); a failed enumeration fails each service
        states = self.guarded("services", lambda: self.host.services.states(names, "services")) or {}
        for name in names:
            result[name] = {"exists": False, "state": None, "start_mode": None}
            state = states.get(name)
            if state is None:
                continue
            config = self.guarded("services", lambda: self.host.registry.read_values(
                f"{SERVICES_KEY}\\{name}", ["Start", "ImagePath"], "services"))
            if config is None:       # no Services key readable: ask the service manager
                scm = self.guarded("services", lambda: self.host.services.config(name, "services")) or {}
                config = {"Start": None, "ImagePath": scm.get("path")}
                start_mode = scm.get("start_mode")
            else:
                start_mode = START_MODES.get(config.get("Start"))
            result[name] = {"exists": True, "state": state, "start_mode": start_mode}
            if config.get("ImagePath"):
                paths[name] = str(config["ImagePath"])
        return result, paths

    @staticmethod
    def install_dir_from_image_path(paths: dict) -> str | None:
        for name in ("SMS_EXECUTIVE", "SMS_SITE_COMPONENT_MANAGER"):
            image = next((v for k, v in paths.items() if k.upper() == name), None)
            if image:
                match = _IMAGE_ROOT.match(image.strip().strip('"'))
                if match:
                    return match.group("root")
        return None

    # ---- files ------------------------------------------------------------------------------
    def platform_dll(self, install_dir: str | None, platform: str) -> dict:
        path = join(join(join(install_dir, "bin"), platform), "Distmgr.dll")
        entry = {"path": path, "exists": False, "file_version": None, "size": None, "sha256": None}
        if path is None:
            return entry
        files = self.host.files
        try:
            info = files.stat(path, "platforms")
        except TransportError:          # the read below says what is wrong
            info = False
        if info is None or (info and info.directory):
            return entry
        known = self.known_dll(path, info) if info else None
        if known is not None:
            entry.update(exists=True, size=info.size, sha256=known["sha256"], file_version=known["file_version"])
            return entry
        try:
            # sha256 needs every byte; the version parser then looks only at the headers and the
            # resource section of the bytes this one pass read.
            data = smb1_readahead.read_all(files, path, "platforms", MAX_DLL_BYTES, missing_ok=True)
        except TransportError as exc:        # there but unreadable (or too big): what a lookup says of it
            if info:
                entry.update(exists=True, size=info.size)
            self.error("platforms", f"{path}: {exc.message}")
            return entry
        if data is not None:
            entry.update(exists=True, sha256=hashlib.sha256(data).hexdigest(), size=len(data),
                         file_version=file_version_of_bytes(data))
            if info and len(data) == info.size:     # the bytes read are the file listed (else: not kept)
                self.keep_dll(path, info, entry)
        return entry

    def known_dll(self, path: str, info) -> dict | None:
        """The sha256 and version an earlier probe read from this very file (same size and times), or None."""
        kept = fresh((self.host.log_cache.host_fact(DLL_FACT) or {}).get(path.lower()), DLL_MAX_AGE_S)
        try:
            same = kept["size"] == info.size and list(kept["stamps"]) == list(info.stamps)
        except (KeyError, TypeError, ValueError):
            return None
        return kept if same and any(info.stamps) else None

    def keep_dll(self, path: str, info, entry: dict) -> None:
        if not any(info.stamps):         # a server that reports no times: nothing to recognise the file by
            return
        kept = dict(self.host.log_cache.host_fact(DLL_FACT) or {})       # a copy: the cache sees the change
        kept[path.lower()] = {"size": info.size, "stamps": list(info.stamps), "sha256": entry["sha256"],
                              "file_version": entry["file_version"], "at": time.time()}
        self.host.log_cache.put_host_fact(DLL_FACT, kept)

    def transaction_journal(self, install_dir: str | None) -> dict | None:
        """The journal a cut hotfix transaction left, or None. The msrpc transaction swaps a new journal in
        from ``<name>.tmp``: a cut inside that swap leaves only the ``.tmp``, which is reported then."""
        path = join(join(install_dir, "Logs"), self.p.text("HotfixJournalName"))
        if path is None:
            return None
        files = self.host.files
        for candidate in (path, path + ".tmp"):
            info = files.stat(candidate, "transaction_journal")
            if info is None or info.directory:
                continue
            if info.size > MAX_JOURNAL_BYTES:
                return {"path": candidate, "text": None, "error": f"{info.size} bytes: too big for a journal"}
            try:
                data = files.read_all(candidate, "transaction_journal", MAX_JOURNAL_BYTES)
            except TransportError as exc:
                return {"path": candidate, "text": None, "error": exc.message}
            return {"path": candidate, "text": data.decode("utf-8-sig", "replace"), "error": None}
        return None

    def package_folder_paths(self) -> list[str]:
        given = [str(p) for p in self.p.list("PackageFolders") if p]
        if given:
            return given
        cached = self.cached_drives()
        if cached is not None:
            letters, method = cached
        else:
            try:
                letters, method = drive_shares(self.host.session)
            except TransportError as exc:
                self.error("package_folders", exc.message)
                return []
            self.host.log_cache.put_host_fact(DRIVES_FACT, {"letters": letters, "method": method, "at": time.time()})
        self.drive_discovery = method
        return [f"{letter}:\\{self.p.text('PackageFolderName')}" for letter in letters]

    def cached_drives(self) -> tuple[list[str], str] | None:
        """The drives a recent probe found, when every one of their shares is still there (the listing of each
        drive's package folder connects to its share anyway, so the check costs no round trip of its own)."""
        fact = self._fresh_fact(DRIVES_FACT, DRIVES_MAX_AGE_S)
        try:
            letters, method = list(fact["letters"]), str(fact["method"])
        except (KeyError, TypeError, ValueError):
            return None
        if not all(isinstance(letter, str) and re.fullmatch(r"[A-Z]", letter) for letter in letters):
            return None
        try:
            if not all(self.host.session.has_share(f"{letter}$") for letter in letters):
                return None         # a drive is gone: enumerate again
        except TransportError:
            return None
        return letters, f"{method} (cached by an earlier probe)"

    def folder_listing(self, path: str) -> dict:
        folder = {"path": path, "exists": False, "files": None}
        try:
            entries = self.host.files.list_dir(path, "package_folders")
        except TransportError as exc:
            self.error("package_folders", f"{path}: {exc.message}")
            return folder
        if entries is None:
            return folder
        folder["exists"] = True
        folder["files"] = [{"name": e.name, "size": None if e.directory else e.size,
                            "last_write_utc": e.last_write_utc, "reparse_point": e.reparse_point,
                            "directory": e.directory}
                           for e in sorted(entries, key=lambda e: e.name.lower())]
        return folder

    def log_facts(self, install_dir: str | None, tracing: dict | None) -> dict:
        enabled = max_size = None
        if tracing is not None:
            if tracing.get("Enabled") is not None:
                enabled = int(tracing["Enabled"]) == 1
            max_size = tracing.get("MaxFileSize")
        try:
            pattern = compile_script_regex(self.p.text("LogPattern"))
        except re.error as exc:
            self.error("log", f"invalid LogPattern: {exc}")
            pattern = None
        files = []
        ansi = None
        for name in self.p.list("LogNames"):
            path = join(join(install_dir, "Logs"), str(name))
            entry = {"path": path, "exists": False, "size": None, "matches": None}
            if pattern is not None and path is not None:
                if ansi is None:
                    ansi = self.ansi_code_page()
                try:
                    entry, stats = search_log(self.host.files, path, pattern, self.host.log_cache, "log", ansi)
                    self.log_reads.append(dict(stats, path=path))
                except TransportError as exc:
                    self.error("log", f"{path}: {exc.message}")
                    entry = dict(entry, exists=True)
            files.append(entry)
        return {"logging_enabled": enabled, "max_file_size": max_size, "files": files}

    def ansi_code_page(self) -> str:
        """The host's ANSI code page (``[Text.Encoding]::Default`` of the script), cp1252 when unknown."""
        identity = self.identity
        if identity is not None and "acp" in identity:
            return ansi_codec(identity["acp"])
        values = self.guarded("log", lambda: self.host.registry.read_values(CODE_PAGE_KEY, ["ACP"], "log"))
        if values is not None and identity is not None:      # read (a missing value too): kept with the identity
            self.identity = dict(identity, acp=values.get("ACP"))
            self.host.log_cache.put_host_fact(IDENTITY_FACT, self.identity)
        return ansi_codec((values or {}).get("ACP"))

    # ---- the answer -------------------------------------------------------------------------
    def run(self) -> dict:
        self.drive_discovery = "PackageFolders parameter"
        computer_name, architecture = self.environment()
        registry = self.registry()
        self.recall_activator()
        wmi_site, active = self.wmi_facts(registry)
        services, image_paths = self.services()
        install_dir = None
        for candidate in ((registry["identification"] or {}).get("Installation Directory"),
                          (registry["setup"] or {}).get("Installation Directory"),
                          wmi_site.get("InstallDir"),
                          self.install_dir_from_image_path(image_paths)):
            if candidate:
                install_dir = str(candidate).rstrip("\\")
                break
        if install_dir is None:
            self.error("install_dir", "SMS installation directory not found (registry, WMI SMS_Site, service ImagePath)")
        platforms = {str(p): self.platform_dll(install_dir, str(p)) for p in self.p.list("Platforms")}
        logs = join(install_dir, "Logs")
        # the hotfix log, the journal and the Distmgr logs are all in Logs: one listing answers their stats
        with self.host.files.listed(logs, "log") if logs else contextlib.nullcontext():
            hotfix_log = join(logs, self.p.text("HotfixLogName"))
            hotfix_exists = bool(hotfix_log) and bool(self.guarded(
                "hotfix_log", lambda: self.host.files.exists(hotfix_log, "hotfix_log"), False))
            journal = self.guarded("transaction_journal", lambda: self.transaction_journal(install_dir))
            distmgr_log = self.log_facts(install_dir, registry["tracing"])
        folders = [self.folder_listing(path) for path in self.package_folder_paths()]
        console = self.console_open()
        self.keep_activator()
        self.host.log_cache.save()
        session = self.host.session
        return {
            "schema": 1,
            "transport": "msrpc",
            "computer_name": computer_name,
            "processor_architecture": architecture,
            "registry": registry,
            "wmi_site": wmi_site,
            "install_dir": install_dir,
            "platforms": platforms,
            "hotfix_log": {"path": hotfix_log, "exists": hotfix_exists},
            "transaction_journal": journal,
            "services": services,
            "console_open": console,
            "package_folders": folders,
            "active_packages": active,
            "distmgr_log": distmgr_log,
            "errors": self.errors,
            "msrpc": {"dialect": session.dialect_name, "ntlm": session.ntlm, "drive_discovery": self.drive_discovery,
                      "log_reads": self.log_reads, "wire": session.stats.as_dict()},
        }


def probe(host, parameters: dict) -> dict:
    """The probe answer; raises TransportError only when the host cannot be reached or logged on to."""
    if not impacket_speedups.applied():     # preload() applies it in the controller's main process
        impacket_speedups.apply(getattr(host.session, "_warn", None))
    host.session.smb            # connect and log on first: an unreachable host fails here, clearly
    return _Probe(host, parameters).run()
