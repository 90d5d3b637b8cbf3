# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The parts of parse_probe (private to this collection): the shape checker (every failure names the field
by its path in the probe answer) and the reading of each part of a probe answer (platform, version,
package files, active packages, logging). probe_result.parse_probe puts them together."""
from __future__ import annotations

import re

from ansible_collections.sms.remediation.plugins.module_utils.facts import ActivePackages, PackageFile
from ansible_collections.sms.remediation.plugins.module_utils.package_ids import (
    SHORT_NAME_RE,
    PackageIdError,
    package_id_from_file_name,
)
from ansible_collections.sms.remediation.plugins.module_utils.versions import (
    SmsVersion,
    VersionError,
    parse_version,
    service_pack_for,
)


class ProbeError(ValueError):
    """The probe answer of one host is malformed or unusable. ``str()`` is ``"<host>: <message>"``."""

    def __init__(self, host: str, message: str) -> None:
        self.host = host
        self.message = message
        super().__init__(f"{host}: {message}")

    def __str__(self) -> str:
        return f"{self.host}: {self.message}"


def _type_label(types: tuple) -> str:
    names = {bool: "a boolean", int: "an integer", str: "a string", dict: "an object",
             list: "a list"}
    return " or ".join(names.get(t, t.__name__) for t in types)


class Checker:
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


# PROCESSOR_ARCHITECTURE of the 64-bit Windows builds: SMS 2.0 (1999) has no build for any of them.
_SIXTY_FOUR_BIT = ("AMD64", "IA64", "ARM64", "EM64T")


def platform_of(c: Checker, arch: str | None, platform_map: dict) -> str:
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


def site_version(c, setup, keys, rv, wmi_ok, wmi_version, wmi_build, table, warnings):
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


def package_files(c: Checker, folders_raw: list, table: dict, warnings: list) -> list:
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
                if SHORT_NAME_RE.search(name):
                    name_error += " (an 8.3 short name; the listing gave no long name, so its package cannot be told)"
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


def active_packages(c: Checker, raw: dict, site_code: str, table: dict, warnings: list) -> ActivePackages:
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
    action_unknown: list[str] = []
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
        elif action is None:
            action_unknown.append(package_id)
    if action_unknown:
        # SMS 2.0 RTM: SMS_Package has no ActionInProgress (documented from SP1). Missing is unknown, not idle:
        # such a package is active (listed) and nothing may rest on it being idle.
        warnings.append(f"ActionInProgress unknown for {len(action_unknown)} listed package(s) at site {site_code} "
                        f"({', '.join(sorted(action_unknown)[:5])}{', ...' if len(action_unknown) > 5 else ''}): "
                        "a deletion in progress cannot be told from an idle package (SMS 2.0 RTM provider?); "
                        "they count as active")
    if namespace is not None:
        expected = table.get("wmi_namespace_template", "root\\SMS\\site_{site_code}").format(site_code=site_code)
        if namespace.strip().lower() != expected.lower():
            reason = f"the active list comes from namespace {namespace}, not {expected} of site {site_code}"
            warnings.append(f"active package list not trusted: {reason}")
            return ActivePackages(False, frozenset(), frozenset(), reason)
    return ActivePackages(True, frozenset(ids), frozenset(deleting), error)


def logging_facts(c, tracing, raw, table, keys, rv, warnings):
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
