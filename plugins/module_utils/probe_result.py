"""Validate the answer of ``sms_probe.ps1`` and turn it into ``SiteFacts``.

The probe result schema is docs/internals.md section 1 (schema 1). ``parse_probe`` is strict
about the *shape* (a missing key or a value of the wrong type is a malformed answer: ProbeError
naming the host and the exact field) and lenient about the *content*: things a real site server
can lack (``Setup\\Full Version`` on a secondary site, WMI down, logging off, odd file names)
become warnings, and whatever depends on them is reported as unknown, never guessed in the
direction that would delete something.

Decisions made here (each one is also said in a warning when it applies):

* Version: ``Setup\\Full Version`` first. When it is missing or malformed, WMI ``SMS_Site``
  ``Version`` + ``BuildNumber`` is used: the revision is then unknown, so the version is taken as
  the LOWEST service pack of the table with that build (build 1380 -> SP1 ``2.00.1380.1000``,
  build 1493 -> SP2 ``2.00.1493.2000``, which covers SP2-SP5 for Q244405 since all of them are
  fixed). A build that is not in the table gives ``2.00.<build>.0000`` and the service pack is
  decided from the ordering of the table (or left unknown).
* Site code: ``Identification\\Site Code`` first, else WMI ``SMS_Site.SiteCode``. No usable site
  code is a ProbeError: every later decision (active list, origin of a package) depends on it.
* Site type: WMI ``SMS_Site.Type`` (documented for SMS 2.0, Table B.39) first, else the registry
  ``Setup\\Type`` (only likely-confidence), mapped through ``table["site_types"]``.
* Active packages: ``ids`` holds EVERY PackageID the site provider lists, including those whose
  ``ActionInProgress`` is ``table["action_in_progress_delete"]`` (3); those are also in
  ``deleting``. A listing whose namespace names another site than this one is not trusted
  (``available`` False).
* Log files are handed to distmgr_log oldest first: ``*.lo_`` (the rolled-over log) before the
  others, whatever order the probe listed them in.
"""
from __future__ import annotations

import re
from ansible_collections.sms.remediation.plugins.module_utils.distmgr_log import (
    entries_from_probe_matches,
    iter_package_events,
    package_histories,
)
from ansible_collections.sms.remediation.plugins.module_utils.facts import (
    ActivePackages,
    LogHistory,
    PackageFile,
    SiteFacts,
)
from ansible_collections.sms.remediation.plugins.module_utils.package_ids import (
    PackageIdError,
    package_id_from_file_name,
)
from ansible_collections.sms.remediation.plugins.module_utils.versions import (
    SmsVersion,
    VersionError,
    parse_version,
    q244405_state,
    service_pack_for,
)

__all__ = [
    "ProbeError",
    "SCHEMA",
    "parse_probe",
]

SCHEMA = 1
_SITE_CODE_RE = re.compile(r"[A-Z0-9]{3}")
_MISSING = object()


class ProbeError(ValueError):
    """The probe answer of one host is malformed or unusable. ``str()`` is ``"<host>: <message>"``."""

    def __init__(self, host: str, message: str) -> None:
        self.host = host
        self.message = message
        super().__init__(f"{host}: {message}")

    def __str__(self) -> str:
        return f"{self.host}: {self.message}"


# ---------------------------------------------------------------------------------------------
# Shape checking helpers: every failure names the field by its path in the probe answer.

def _type_label(types: tuple) -> str:
    names = {bool: "a boolean", int: "an integer", str: "a string", dict: "an object",
             list: "a list"}
    return " or ".join(names.get(t, t.__name__) for t in types)


class _Checker:
    def __init__(self, host: str) -> None:
        self.host = host

    def fail(self, message: str) -> ProbeError:
        return ProbeError(self.host, message)

    def get(self, obj: dict, key: str, path: str, types: tuple, nullable: bool = True):
        """``obj[key]`` checked against ``types``; a missing key is always an error."""
        full = f"{path}.{key}" if path else key
        if key not in obj:
            raise self.fail(f"malformed probe result: field '{full}' is missing")
        value = obj[key]
        if value is None:
            if nullable:
                return None
            raise self.fail(f"malformed probe result: field '{full}' is null, expected {_type_label(types)}")
        # bool is an int in Python: only accept it where a boolean is expected.
        if isinstance(value, bool) and bool not in types:
            ok = False
        else:
            ok = isinstance(value, types)
        if not ok:
            raise self.fail(
                f"malformed probe result: field '{full}' is {type(value).__name__} "
                f"{_short(value)}, expected {_type_label(types)}"
            )
        return value

    def obj(self, value, path: str) -> dict:
        """``value`` when it is an object (dict); else a ProbeError naming the field ``path``."""
        if not isinstance(value, dict):
            raise self.fail(f"malformed probe result: field '{path}' is {type(value).__name__}, expected an object")
        return value

    def opt(self, obj: dict | None, key: str, path: str, types: tuple):
        """Like get() for sub-dicts whose keys may legitimately be absent (registry values)."""
        if obj is None or key not in obj:
            return None
        return self.get(obj, key, path, types)


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


_DEFAULT_ROOT = "HKLM:\\SOFTWARE\\Microsoft\\SMS"


def _reg_path(table: dict, key: str, value: str) -> str:
    root = table.get("registry_root", _DEFAULT_ROOT).replace(":", "")
    return f"{root}\\{key}\\{value}"


def _psdrive_path(table: dict, key: str, value: str) -> str:
    """``HKLM:\\...\\<key>\\<value>``: the PowerShell-drive form that win_regedit wants."""
    root = table.get("registry_root", _DEFAULT_ROOT)
    root = re.sub(r"^(HK(?:LM|CU|CR|CC|U)):?\\", r"\1:\\", root, flags=re.IGNORECASE)
    return f"{root}\\{key}\\{value}"


# ---------------------------------------------------------------------------------------------

def parse_probe(host: str, result: dict, table: dict, transport: str | None = None) -> SiteFacts:
    """Validate one host's probe answer (schema 1) and build its SiteFacts.

    Raises ProbeError("<host>: <message>") for a malformed answer (wrong schema, missing key,
    wrong type) and for facts nothing can be decided without: an unknown processor
    architecture, no site code or an invalid one. Everything else becomes a warning.
    """
    c = _Checker(host)
    if not isinstance(result, dict):
        raise c.fail(f"malformed probe result: expected an object, got {type(result).__name__}")
    schema = c.get(result, "schema", "", (int,), nullable=False)
    if schema != SCHEMA:
        raise c.fail(f"probe result schema {schema} is not supported (field 'schema', expected {SCHEMA})")
    warnings: list[str] = []
    rv = table["registry_values"]
    keys = table.get("registry_keys",
                     {"setup": "Setup", "identification": "Identification", "tracing": "Tracing"})

    c.get(result, "computer_name", "", (str,))
    arch = c.get(result, "processor_architecture", "", (str,))
    # First: on a host SMS 2.0 cannot run on, nothing else of the answer means anything.
    platform = _platform(c, arch, table["platforms"])
    registry = c.get(result, "registry", "", (dict,), nullable=False)
    setup = c.get(registry, "setup", "registry", (dict,))
    ident = c.get(registry, "identification", "registry", (dict,))
    tracing = c.get(registry, "tracing", "registry", (dict,))
    wmi = c.get(result, "wmi_site", "", (dict,))
    install_dir = c.get(result, "install_dir", "", (str,))
    platforms_raw = c.get(result, "platforms", "", (dict,), nullable=False)
    hotfix_log = c.get(result, "hotfix_log", "", (dict,))
    services_raw = c.get(result, "services", "", (dict,), nullable=False)
    console_open = c.get(result, "console_open", "", (bool,))
    folders_raw = c.get(result, "package_folders", "", (list,), nullable=False)
    active_raw = c.get(result, "active_packages", "", (dict,), nullable=False)
    log_raw = c.get(result, "distmgr_log", "", (dict,), nullable=False)
    errors = c.get(result, "errors", "", (list,), nullable=False)
    # Probes before the journal existed do not send the key: the same as no journal.
    journal = c.get(result, "transaction_journal", "", (dict,)) if "transaction_journal" in result else None
    if journal is not None:
        c.get(journal, "path", "transaction_journal", (str,), nullable=False)
        c.get(journal, "text", "transaction_journal", (str,))
        c.get(journal, "error", "transaction_journal", (str,))

    for i, err in enumerate(errors):
        c.obj(err, f"errors[{i}]")
        source = c.get(err, "source", f"errors[{i}]", (str,))
        message = c.get(err, "message", f"errors[{i}]", (str,))
        if source != "wmi":  # WMI problems are reported with the WMI facts below
            warnings.append(f"probe error ({source}): {message}")

    # --- WMI SMS_Site ------------------------------------------------------------------------
    wmi_ok = False
    wmi_site_code = wmi_parent = wmi_version = None
    wmi_type = wmi_build = None
    wmi_install = None
    if wmi is None:
        warnings.append("WMI unavailable: the probe returned no SMS_Site answer")
    else:
        wmi_ok = bool(c.get(wmi, "available", "wmi_site", (bool,), nullable=False))
        wmi_error = c.get(wmi, "error", "wmi_site", (str,))
        if wmi_ok:
            wmi_site_code = c.get(wmi, "SiteCode", "wmi_site", (str,))
            wmi_parent = c.get(wmi, "ReportingSiteCode", "wmi_site", (str,))
            wmi_type = c.get(wmi, "Type", "wmi_site", (int,))
            wmi_version = c.get(wmi, "Version", "wmi_site", (str,))
            wmi_build = c.get(wmi, "BuildNumber", "wmi_site", (int,))
            wmi_install = c.get(wmi, "InstallDir", "wmi_site", (str,))
        else:
            warnings.append(f"WMI unavailable: {wmi_error or 'SMS_Site could not be read'}")

    # --- site code ---------------------------------------------------------------------------
    reg_site_code = c.opt(ident, rv["site_code"], "registry.identification", (str,))
    site_code_src = f"registry {keys['identification']}\\{rv['site_code']}"
    raw_code = reg_site_code
    if raw_code is None or not raw_code.strip():
        raw_code = wmi_site_code
        site_code_src = "WMI SMS_Site.SiteCode"
        if raw_code is None or not raw_code.strip():
            raise c.fail(
                f"no site code: registry {keys['identification']}\\{rv['site_code']} and "
                "WMI SMS_Site.SiteCode are both missing"
            )
        warnings.append(f"{keys['identification']}\\{rv['site_code']} missing; using WMI SMS_Site SiteCode {raw_code}")
    site_code = raw_code.strip().upper()
    if not _SITE_CODE_RE.fullmatch(site_code):
        raise c.fail(f"invalid site code {raw_code!r} from {site_code_src}: expected 3 letters or digits")
    if (reg_site_code and wmi_site_code and site_code_src.startswith("registry")
            and wmi_site_code.strip().upper() != site_code):
        warnings.append(
            f"site code differs: registry says {site_code}, WMI SMS_Site says {wmi_site_code.strip().upper()}; "
            f"using {site_code}"
        )

    # --- parent site code --------------------------------------------------------------------
    parent = c.opt(ident, rv["parent_site_code"], "registry.identification", (str,))
    if parent is None or not parent.strip():
        parent = wmi_parent
    parent_site_code = None
    if parent is not None and parent.strip():
        candidate = parent.strip().upper()
        if _SITE_CODE_RE.fullmatch(candidate):
            parent_site_code = candidate
        else:
            warnings.append(f"invalid parent site code {parent!r} ignored")

    # --- site type -----------------------------------------------------------------------------
    site_types = {int(k): v for k, v in table["site_types"].items()}
    reg_type = c.opt(setup, rv["site_type"], "registry.setup", (int,))
    site_type = None
    if wmi_type is not None:
        site_type = site_types.get(wmi_type, f"unknown({wmi_type})")
    elif reg_type is not None:
        site_type = site_types.get(reg_type, f"unknown({reg_type})")
        warnings.append(
            f"site type from registry {keys['setup']}\\{rv['site_type']}={reg_type} "
            f"({site_type}); WMI SMS_Site.Type unavailable"
        )

    # --- install dir -------------------------------------------------------------------------
    if install_dir is None:
        install_dir = (c.opt(ident, rv["install_dir"], "registry.identification", (str,))
                       or c.opt(setup, rv["install_dir"], "registry.setup", (str,))
                       or wmi_install)
    if install_dir is None:
        warnings.append("SMS installation directory unknown (registry and WMI)")

    # --- version ------------------------------------------------------------------------------
    version, build, service_pack = _site_version(
        c, setup, keys, rv, wmi_ok, wmi_version, wmi_build, table, warnings)

    platforms: dict[str, dict] = {}
    for name, info in platforms_raw.items():
        path = f"platforms.{name}"
        c.obj(info, path)
        platforms[name] = {
            "path": c.get(info, "path", path, (str,)),
            "exists": bool(c.get(info, "exists", path, (bool,), nullable=False)),
            "file_version": c.get(info, "file_version", path, (str,)),
            "size": c.get(info, "size", path, (int,)),
            "sha256": c.get(info, "sha256", path, (str,)),
        }
    own = platforms.get(platform)
    distmgr_version = None
    if own is None:
        warnings.append(f"Distmgr.dll of platform {platform} not reported by the probe")
    elif not own["exists"]:
        warnings.append(f"Distmgr.dll not found at {own['path']} (platform {platform})")
    else:
        distmgr_version = own["file_version"]
        if distmgr_version is None:
            warnings.append(f"Distmgr.dll at {own['path']} has no file version")

    # --- hotfix log, services, console ----------------------------------------------------------
    hotfix_log_present = False
    if hotfix_log is not None:
        hotfix_log_present = bool(c.get(hotfix_log, "exists", "hotfix_log", (bool,), nullable=False))

    services: dict[str, str | None] = {name: None for name in table["services"].values()}
    for name, info in services_raw.items():
        path = f"services.{name}"
        if info is None:
            services[name] = None
            continue
        c.obj(info, path)
        exists = c.get(info, "exists", path, (bool,))
        state = c.get(info, "state", path, (str,))
        c.get(info, "start_mode", path, (str,))
        services[name] = state if exists else None
    for key in ("component_manager", "executive"):
        name = table["services"].get(key)
        if name and services.get(name) is None:
            warnings.append(f"service {name} is not installed on this host")

    # --- package files ------------------------------------------------------------------------
    package_files = _package_files(c, folders_raw, table, warnings)

    # --- active packages ------------------------------------------------------------------------
    active = _active_packages(c, active_raw, site_code, table, warnings)

    # --- logging and log histories --------------------------------------------------------------
    logging, log_files = _logging(c, tracing, log_raw, table, keys, rv, warnings)
    try:
        entries = entries_from_probe_matches(log_files)
        histories = package_histories(
            iter_package_events(entries, component=table.get("log_component") or None))
    except (ValueError, TypeError) as exc:
        raise c.fail(f"unusable Distmgr.log matches: {exc}") from None

    state = q244405_state(version, distmgr_version, hotfix_log_present, table)

    return SiteFacts(
        host=host,
        site_code=site_code,
        parent_site_code=parent_site_code,
        site_type=site_type,
        install_dir=install_dir,
        version=version,
        build=build,
        service_pack=service_pack,
        platform=platform,
        platforms=platforms,
        services=services,
        console_open=console_open,
        hotfix_log_present=hotfix_log_present,
        logging=logging,
        package_files=package_files,
        active=active,
        log_histories={pid: LogHistory.from_history(history) for pid, history in histories.items()},
        q244405=state,
        warnings=warnings,
        package_folders=[folder["path"] for folder in folders_raw if folder.get("exists")],
        transport=transport,
        transaction_journal=journal,
    )


# PROCESSOR_ARCHITECTURE of the 64-bit Windows builds: SMS 2.0 (1999) has no build for any of them.
_SIXTY_FOUR_BIT = ("AMD64", "IA64", "ARM64", "EM64T")


def _platform(c: _Checker, arch: str | None, platform_map: dict) -> str:
    """The platform folder (i386, alpha) of the host's processor architecture, or a ProbeError."""
    if arch is None or not arch.strip():
        raise c.fail(f"processor_architecture is missing (known: {', '.join(platform_map)})")
    platform = platform_map.get(arch.strip())
    if platform is None:
        # PROCESSOR_ARCHITECTURE values are upper case on NT ("x86" is the exception).
        by_upper = {k.upper(): v for k, v in platform_map.items()}
        platform = by_upper.get(arch.strip().upper())
    if platform is not None:
        return platform
    if arch.strip().upper() in _SIXTY_FOUR_BIT:
        raise c.fail(f"processor architecture {arch.strip()} is not an SMS 2.0 platform: SMS 2.0 has no 64-bit "
                     f"build (it runs on {', '.join(platform_map)}), so this host cannot be an SMS 2.0 site server")
    raise c.fail(f"unknown processor architecture {arch!r}: not an SMS 2.0 platform (known: {', '.join(platform_map)})")


def _site_version(c, setup, keys, rv, wmi_ok, wmi_version, wmi_build, table, warnings):
    """Return (version str|None, build int|None, service pack str|None)."""
    full_key = f"{keys['setup']}\\{rv['full_version']}"
    full = c.opt(setup, rv["full_version"], "registry.setup", (str,))
    problem = None
    if full is not None and full.strip():
        try:
            parsed = parse_version(full)
            return str(parsed), parsed.build, _service_pack(parsed, table)
        except VersionError as exc:
            problem = f"{full_key} is malformed ({exc})"
    else:
        problem = f"{full_key} missing"

    if not wmi_ok or wmi_build is None:
        warnings.append(f"{problem}; WMI SMS_Site BuildNumber unavailable: site version unknown")
        return None, None, None

    major, minor = 2, 0
    if wmi_version:
        parts = wmi_version.strip().split(".")
        try:
            major = int(parts[0])
            minor = int(parts[1]) if len(parts) > 1 else 0
        except ValueError:
            warnings.append(f"WMI SMS_Site Version {wmi_version!r} is malformed; assuming 2.0")
    same_build = sorted(
        (parse_version(sp["version"]), sp["name"])
        for sp in table["service_packs"]
        if parse_version(sp["version"]).build == wmi_build
    )
    if same_build:
        revision = same_build[0][0].revision
        names = [name for _version, name in same_build]
        assumption = (
            f"revision unknown, assuming {names[0]}"
            if len(names) == 1
            else f"revision unknown, assuming {names[0]} (build {wmi_build} is shared by {', '.join(names)})"
        )
    else:
        revision = 0
        assumption = f"build {wmi_build} is not in the service pack table, revision unknown"
    try:
        synthesized = SmsVersion(major, minor, wmi_build, revision)
        version = str(parse_version(str(synthesized)))
    except (VersionError, ValueError) as exc:
        warnings.append(f"{problem}; WMI SMS_Site version unusable ({exc}): site version unknown")
        return None, wmi_build, None
    service_pack = _service_pack(parse_version(version), table)
    warnings.append(
        f"{problem}; using WMI SMS_Site BuildNumber {wmi_build} ({assumption}: {version}, "
        f"service pack {service_pack or 'unknown'})"
    )
    return version, wmi_build, service_pack


def _service_pack(version: SmsVersion, table: dict) -> str | None:
    try:
        return service_pack_for(version, table)
    except VersionError:
        return None


def _package_files(c: _Checker, folders_raw: list, table: dict, warnings: list) -> list:
    pattern = table["package_file_pattern"]
    files: list[PackageFile] = []
    for i, folder in enumerate(folders_raw):
        fpath = f"package_folders[{i}]"
        c.obj(folder, fpath)
        folder_path = c.get(folder, "path", fpath, (str,), nullable=False)
        exists = c.get(folder, "exists", fpath, (bool,), nullable=False)
        entries = c.get(folder, "files", fpath, (list,))
        if not exists:
            warnings.append(f"package folder {folder_path} does not exist")
            continue
        skipped_dirs = []
        for j, entry in enumerate(entries or []):
            epath = f"{fpath}.files[{j}]"
            c.obj(entry, epath)
            name = c.get(entry, "name", epath, (str,), nullable=False)
            size = c.get(entry, "size", epath, (int,))
            last_write = c.get(entry, "last_write_utc", epath, (str,))
            reparse = c.get(entry, "reparse_point", epath, (bool,), nullable=False)
            directory = c.get(entry, "directory", epath, (bool,), nullable=False)
            if directory:
                skipped_dirs.append(name)
                continue
            package_id = name_error = None
            try:
                package_id = package_id_from_file_name(name, pattern)
            except PackageIdError as exc:
                name_error = str(exc)
                if name not in name_error:
                    name_error = f"file name {name!r}: {name_error}"
            sep = "" if folder_path.endswith(("\\", "/")) else "\\"
            files.append(PackageFile(
                name=name,
                path=f"{folder_path}{sep}{name}",
                folder=folder_path,
                size=size,
                last_write_utc=last_write,
                reparse_point=reparse,
                package_id=package_id,
                name_error=name_error,
            ))
        if skipped_dirs:
            warnings.append(
                f"package folder {folder_path}: {len(skipped_dirs)} sub-folder(s) ignored "
                f"({', '.join(sorted(skipped_dirs)[:5])})"
            )
    return files


def _active_packages(c: _Checker, raw: dict, site_code: str, table: dict, warnings: list) -> ActivePackages:
    path = "active_packages"
    available = c.get(raw, "available", path, (bool,), nullable=False)
    error = c.get(raw, "error", path, (str,))
    namespace = c.get(raw, "namespace", path, (str,))
    packages = c.get(raw, "packages", path, (list,))
    if not available:
        reason = error or "the SMS Provider could not be queried"
        warnings.append(f"active package list unavailable ({reason}): no package can be called stale on this site")
        return ActivePackages(False, frozenset(), frozenset(), reason)
    if packages is None:
        raise c.fail("malformed probe result: field 'active_packages.packages' is null while available is true")
    delete_code = table["action_in_progress_delete"]
    ids: set[str] = set()
    deleting: set[str] = set()
    for i, pkg in enumerate(packages):
        ppath = f"{path}.packages[{i}]"
        c.obj(pkg, ppath)
        package_id = c.get(pkg, "PackageID", ppath, (str,), nullable=False).strip().upper()
        action = c.get(pkg, "ActionInProgress", ppath, (int,)) if "ActionInProgress" in pkg else None
        if "SourceSite" in pkg:
            c.get(pkg, "SourceSite", ppath, (str,))
        ids.add(package_id)
        if action == delete_code:
            deleting.add(package_id)
    if namespace is not None:
        expected = table.get("wmi_namespace_template", "root\\SMS\\site_{site_code}").format(site_code=site_code)
        if namespace.strip().lower() != expected.lower():
            reason = f"the active list comes from namespace {namespace}, not {expected} of site {site_code}"
            warnings.append(f"active package list not trusted: {reason}")
            return ActivePackages(False, frozenset(), frozenset(), reason)
    return ActivePackages(True, frozenset(ids), frozenset(deleting), error)


def _logging(c, tracing, raw, table, keys, rv, warnings):
    path = "distmgr_log"
    probe_enabled = c.get(raw, "logging_enabled", path, (bool,))
    probe_max = c.get(raw, "max_file_size", path, (int,))
    files_raw = c.get(raw, "files", path, (list,), nullable=False)
    reg_enabled = c.opt(tracing, rv["tracing_enabled"], "registry.tracing", (int, bool))
    reg_max = c.opt(tracing, rv["tracing_max_size"], "registry.tracing", (int,))
    enabled = bool(reg_enabled) if reg_enabled is not None else probe_enabled
    max_size = reg_max if reg_max is not None else probe_max

    files = []
    probe_files = []
    for i, f in enumerate(files_raw):
        fpath = f"{path}.files[{i}]"
        c.obj(f, fpath)
        fp = c.get(f, "path", fpath, (str,), nullable=False)
        exists = c.get(f, "exists", fpath, (bool,), nullable=False)
        size = c.get(f, "size", fpath, (int,))
        matches = c.get(f, "matches", fpath, (list,))
        for j, m in enumerate(matches or []):
            mpath = f"{fpath}.matches[{j}]"
            c.obj(m, mpath)
            c.get(m, "line", mpath, (int,), nullable=False)
            c.get(m, "text", mpath, (str,), nullable=False)
        files.append({"path": fp, "exists": bool(exists), "size": size})
        if exists:
            probe_files.append({"path": fp, "exists": True, "size": size, "matches": list(matches or [])})
    # Oldest first: the rolled-over Distmgr.lo_ holds older lines than Distmgr.log.
    probe_files.sort(key=lambda f: 0 if f["path"].lower().endswith(".lo_") else 1)

    present = [f for f in files if f["exists"]]
    evidence_available = bool(present)
    component = table.get("log_component", "SMS_DISTRIBUTION_MANAGER")
    where = _reg_path(table, keys["tracing"], component)
    setting = f"{where} {rv['tracing_enabled']}={reg_enabled if reg_enabled is not None else 'missing'}"
    if enabled is None:
        note = f"Distmgr.log logging state unknown ({setting})"
    elif enabled:
        note = "Distmgr.log logging is on"
    else:
        note = f"Distmgr.log logging is off ({setting})"
    if not evidence_available:
        note += ": no log evidence on this site"
    elif not enabled:
        note += f": only the existing log file(s) give evidence ({', '.join(f['path'] for f in present)})"
    if not enabled or not evidence_available:
        warnings.append(note)
    logging = {
        "enabled": enabled,
        "max_file_size": max_size,
        "files": files,
        "evidence_available": evidence_available,
        "note": note,
        # Where logging is switched on (the role's q244405_enable_distmgr_logging), from the table.
        "registry_key": _psdrive_path(table, keys["tracing"], component),
        "value_name": rv["tracing_enabled"],
        "service": table.get("services", {}).get("executive"),
    }
    return logging, probe_files
