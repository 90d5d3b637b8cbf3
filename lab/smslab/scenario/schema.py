"""Scenario validation: ``load_scenario`` checks a scenario and returns its normalised form.

Errors are ValueErrors naming the site, its site code and the field (see the schema in the
package docstring).
"""

from __future__ import annotations

import os
import re

from smslab.profiles import DEFAULT_PROFILE, PROFILES
from smslab.scenario.facts import (
    BUILDS, DEFAULT_HOTFIX_HOST_PATH, DEFAULT_INSTALL_DIR, DEFAULT_MAX_FILE_SIZE, HOST_NAME, HOTFIX_VERSION,
    KNOWN_FAULTS, PACKAGE_FIELDS, PACKAGE_ID, PLATFORMS, SERVICE_STATES, SERVICES, SITE_CODE, SITE_FIELDS,
    SITE_TYPES, TOP_FIELDS,
)


def _err(site: dict | None, field: str, message: str) -> ValueError:
    if site is None:
        return ValueError(f"scenario: field '{field}': {message}")
    name = site.get("name", "?")
    code = site.get("site_code", "?")
    return ValueError(f"scenario: site '{name}' (site code {code}): field '{field}': {message}")


def _as_bool(site, field, value, default=False) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("on", "yes", "true", "1"):
        return True
    if isinstance(value, str) and value.lower() in ("off", "no", "false", "0"):
        return False
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise _err(site, field, f"expected on/off or true/false, got {value!r}")


def _package_id(site, field, value) -> str:
    text = str(value) if isinstance(value, (int, str)) and not isinstance(value, bool) else None
    if text is None or not PACKAGE_ID.match(text):
        hint = " (an ID with a leading 0 must be quoted in YAML)" if isinstance(value, int) else ""
        raise _err(site, field, f"{value!r} is not a package ID (3-character site code + 5 hex digits){hint}")
    return text.upper()


def _names(site, field, value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise _err(site, field, f"expected a name or a list of names, got {value!r}")


def _normalise_faults(site, raw) -> dict:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise _err(site, "faults", f"expected a mapping, got {raw!r}")
    faults = {}
    for key, value in raw.items():
        if key not in KNOWN_FAULTS:
            raise _err(site, f"faults.{key}", f"unknown fault (known: {', '.join(sorted(KNOWN_FAULTS))})")
        if key == "slow_seconds":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise _err(site, "faults.slow_seconds", f"expected a number >= 0, got {value!r}")
            faults[key] = float(value)
        elif key in ("service_wont_stop", "service_wont_start"):
            names = _names(site, f"faults.{key}", value)
            for service in names:
                if service not in SERVICES:
                    raise _err(site, f"faults.{key}", f"unknown service {service!r}")
            faults[key] = names
        elif key == "drop_connection_after":
            faults[key] = _names(site, f"faults.{key}", value)
        elif key in ("fail_step", "cut_after_step"):
            if not isinstance(value, str) or not value:
                raise _err(site, f"faults.{key}", f"expected a step name, got {value!r}")
            faults[key] = value
        elif key in ("service_stop_seconds", "service_start_seconds", "process_exit_seconds"):
            # {service: seconds}: how long StopPending / StartPending last, how long a stopped process lives
            if not isinstance(value, dict):
                raise _err(site, f"faults.{key}", f"expected a mapping of service name to seconds, got {value!r}")
            for service, seconds in value.items():
                if service not in SERVICES:
                    raise _err(site, f"faults.{key}", f"unknown service {service!r}")
                if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
                    raise _err(site, f"faults.{key}.{service}", f"expected a number of seconds >= 0, got {seconds!r}")
            faults[key] = {service: float(seconds) for service, seconds in value.items()}
        elif key == "copy_fails":
            # true, or a name / list of names (paths) whose copy fails
            faults[key] = value if isinstance(value, bool) else _names(site, "faults.copy_fails", value)
        else:
            faults[key] = _as_bool(site, f"faults.{key}", value)
    return faults


def _normalise_site(raw: dict, index: int, pck_size) -> dict:
    if not isinstance(raw, dict):
        raise ValueError(f"scenario: sites[{index}]: expected a mapping, got {raw!r}")
    site = {"name": raw.get("name", f"sites[{index}]"), "site_code": raw.get("site_code", "?")}
    unknown = set(raw) - SITE_FIELDS
    if unknown:
        raise _err(site, sorted(unknown)[0], f"unknown field (known: {', '.join(sorted(SITE_FIELDS))})")
    name = raw.get("name")
    if not isinstance(name, str) or not HOST_NAME.match(name):
        raise _err(site, "name", f"expected a host name (letters, digits, - or _), got {name!r}")
    code = raw.get("site_code")
    code = str(code) if isinstance(code, (int, str)) and not isinstance(code, bool) else code
    if not isinstance(code, str) or not SITE_CODE.match(code):
        raise _err(site, "site_code", f"expected 3 letters or digits, got {raw.get('site_code')!r}"
                   + (" (quote codes with a leading 0)" if isinstance(raw.get("site_code"), int) else ""))
    site["site_code"] = code = code.upper()
    parent = raw.get("parent")
    if parent is not None:
        parent = str(parent).upper() if not isinstance(parent, bool) else parent
        if not isinstance(parent, str) or not SITE_CODE.match(parent):
            raise _err(site, "parent", f"expected a site code or null, got {raw.get('parent')!r}")
        if parent == code:
            raise _err(site, "parent", "a site cannot be its own parent")
    site["parent"] = parent
    site_type = str(raw.get("type", "primary")).lower()
    if site_type not in SITE_TYPES:
        raise _err(site, "type", f"expected primary or secondary, got {raw.get('type')!r}")
    if site_type == "secondary" and parent is None:
        raise _err(site, "type", "a secondary site needs a parent")
    site["type"] = site_type
    build = str(raw.get("build", "sp2")).lower()
    if build not in BUILDS:
        raise _err(site, "build", f"unknown build {raw.get('build')!r} (known: {', '.join(BUILDS)})")
    site["build"] = build
    platform = str(raw.get("platform", "i386")).lower()
    if platform not in PLATFORMS:
        raise _err(site, "platform", f"unknown platform {raw.get('platform')!r} (known: i386, alpha)")
    site["platform"] = platform
    profile = str(raw.get("profile", DEFAULT_PROFILE)).lower()
    if profile not in PROFILES:
        raise _err(site, "profile", f"unknown host profile {raw.get('profile')!r} (known: "
                   + ", ".join(f"{p.name} = {p.imitates}" for p in PROFILES.values()) + ")")
    site["profile"] = profile
    install_dir = raw.get("install_dir", DEFAULT_INSTALL_DIR)
    if not isinstance(install_dir, str) or not re.match(r"^[A-Za-z]:\\[^\\/:*?\"<>|]+(\\[^\\/:*?\"<>|]+)*$", install_dir):
        raise _err(site, "install_dir", f"expected a path like C:\\SMS, got {install_dir!r}")
    site["install_dir"] = install_dir.rstrip("\\")
    site["logging"] = _as_bool(site, "logging", raw.get("logging"))
    max_size = raw.get("log_max_size", DEFAULT_MAX_FILE_SIZE)
    if isinstance(max_size, bool) or not isinstance(max_size, int) or max_size <= 0:
        raise _err(site, "log_max_size", f"expected a positive integer, got {max_size!r}")
    site["log_max_size"] = max_size
    log_bytes = raw.get("log_bytes", 0) or 0
    if isinstance(log_bytes, bool) or not isinstance(log_bytes, int) or log_bytes < 0:
        raise _err(site, "log_bytes", f"expected a byte count >= 0, got {log_bytes!r}")
    site["log_bytes"] = log_bytes
    encoding = str(raw.get("log_encoding", "ascii")).lower().replace("_", "-")
    if encoding not in ("ascii", "utf-16"):
        raise _err(site, "log_encoding", f"expected ascii or utf-16, got {raw.get('log_encoding')!r}")
    site["log_encoding"] = encoding
    for flag in ("log_rollover", "log_wrapped_entry", "console_open", "full_version_missing",
                 "distmgr_no_version", "hotfix_log", "log_shared", "distmgr_corrupt_version"):
        site[flag] = _as_bool(site, flag, raw.get(flag))
    drives = raw.get("drives", ["D"])
    drives = [drives] if isinstance(drives, str) else drives
    if not isinstance(drives, list) or not drives or not all(
            isinstance(d, str) and re.match(r"^[A-Za-z]:?$", d) for d in drives):
        raise _err(site, "drives", f"expected a list of drive letters, got {raw.get('drives')!r}")
    site["drives"] = [d[0].upper() for d in drives]
    if len(set(site["drives"])) != len(site["drives"]):
        raise _err(site, "drives", f"duplicate drive in {site['drives']}")

    services = raw.get("services") or {}
    if not isinstance(services, dict):
        raise _err(site, "services", f"expected a mapping name: state, got {services!r}")
    for service, state in services.items():
        if service not in SERVICES:
            raise _err(site, f"services.{service}", f"unknown service (known: {', '.join(SERVICES)})")
        if str(state).lower() not in SERVICE_STATES:
            raise _err(site, f"services.{service}", f"unknown state {state!r} (known: {', '.join(sorted(SERVICE_STATES))})")
    site["services"] = {k: str(v).lower() for k, v in services.items()}

    packages = raw.get("packages") or {}
    if not isinstance(packages, dict):
        raise _err(site, "packages", f"expected a mapping, got {packages!r}")
    unknown = set(packages) - PACKAGE_FIELDS
    if unknown:
        raise _err(site, f"packages.{sorted(unknown)[0]}", f"unknown list (known: {', '.join(sorted(PACKAGE_FIELDS))})")
    seen: dict[str, str] = {}

    def id_list(key):
        values = packages.get(key) or []
        if not isinstance(values, list):
            raise _err(site, f"packages.{key}", f"expected a list, got {values!r}")
        return values

    def claim(key, pid):
        if pid in seen:
            raise _err(site, f"packages.{key}", f"package {pid} is listed twice (also in packages.{seen[pid]})")
        seen[pid] = key

    normal = {}
    for key in ("active", "deleting", "deleted", "reparse_points"):
        normal[key] = []
        for value in id_list(key):
            pid = _package_id(site, f"packages.{key}", value)
            claim(key, pid)
            normal[key].append(pid)
    normal["leftovers"] = []
    for value in id_list("leftovers"):
        if isinstance(value, dict):
            extra = set(value) - {"id", "log_claim"}
            if extra or "id" not in value:
                raise _err(site, "packages.leftovers", f"expected {{id, log_claim}}, got {value!r}")
            pid = _package_id(site, "packages.leftovers", value["id"])
            log_claim = value.get("log_claim", site["logging"])
            if isinstance(log_claim, str) and log_claim.lower() == "rollover":
                log_claim = "rollover"
            else:
                log_claim = _as_bool(site, "packages.leftovers.log_claim", log_claim)
        else:
            pid = _package_id(site, "packages.leftovers", value)
            log_claim = site["logging"]
        if log_claim and not site["logging"]:
            raise _err(site, "packages.leftovers", f"package {pid}: log_claim needs logging: on")
        if log_claim == "rollover":
            site["log_rollover"] = True
        claim("leftovers", pid)
        normal["leftovers"].append({"id": pid, "log_claim": log_claim})
    odd = []
    for value in id_list("odd_files"):
        if not isinstance(value, str) or not value or value in (".", "..") or any(c in value for c in "\\/\0:"):
            raise _err(site, "packages.odd_files", f"{value!r} cannot be a file name in the package folder")
        if value.upper() in {p + ".PCK" for p in seen}:
            raise _err(site, "packages.odd_files", f"{value!r} collides with a package file")
        odd.append(value)
    normal["odd_files"] = odd
    if normal["deleted"] and not site["logging"]:
        raise _err(site, "packages.deleted", "cleanly deleted packages are only visible in the log: needs logging: on")
    site["packages"] = normal

    sender = raw.get("sender_files") or []
    if not isinstance(sender, list) or not all(
            isinstance(v, str) and v and not any(c in v for c in "\\/\0:") for v in sender):
        raise _err(site, "sender_files", f"expected a list of file names, got {sender!r}")
    site["sender_files"] = list(sender)
    site["faults"] = _normalise_faults(site, raw.get("faults"))
    if site["log_shared"] and site["log_encoding"] != "ascii":
        raise _err(site, "log_shared", "a shared log padding needs log_encoding: ascii")
    if site["faults"].get("corrupt_log") and not site["logging"]:
        raise _err(site, "faults.corrupt_log", "a corrupt log needs logging: on")
    inventory_vars = raw.get("inventory_vars") or {}
    if not isinstance(inventory_vars, dict):
        raise _err(site, "inventory_vars", f"expected a mapping, got {inventory_vars!r}")
    site["inventory_vars"] = inventory_vars
    site["pck_size"] = pck_size
    return site


def load_scenario(scenario, seed=None) -> dict:
    """Read (path) or take (dict) a scenario, validate it and return its normalised form."""
    if isinstance(scenario, (str, os.PathLike)):
        import yaml
        with open(scenario, encoding="utf-8") as handle:
            scenario = yaml.safe_load(handle)
    if not isinstance(scenario, dict):
        raise ValueError(f"scenario: expected a mapping at the top level, got {type(scenario).__name__}")
    unknown = set(scenario) - TOP_FIELDS
    if unknown:
        raise _err(None, sorted(unknown)[0], f"unknown top-level field (known: {', '.join(sorted(TOP_FIELDS))})")
    result = {"seed": seed if seed is not None else scenario.get("seed", 0)}
    credentials = scenario.get("credentials")
    if credentials is not None:
        if not isinstance(credentials, dict) or set(credentials) - {"user", "password"} or not all(
                isinstance(v, str) for v in credentials.values()):
            raise _err(None, "credentials", "expected {user: str, password: str}")
        result["credentials"] = dict(credentials)
    hotfix = scenario.get("hotfix", {})
    if hotfix is False:
        result["hotfix"] = None
    else:
        hotfix = hotfix or {}
        if not isinstance(hotfix, dict) or set(hotfix) - {"host_path", "version"}:
            raise _err(None, "hotfix", "expected {host_path, version} or false")
        version = str(hotfix.get("version", HOTFIX_VERSION))
        if not re.match(r"^\d+(\.\d+){3}$", version):
            raise _err(None, "hotfix.version", f"expected a four-part version, got {version!r}")
        result["hotfix"] = {"host_path": str(hotfix.get("host_path", DEFAULT_HOTFIX_HOST_PATH)).rstrip("\\"),
                            "version": version}
    pck_size = scenario.get("pck_size", [2048, 65536])
    if (not isinstance(pck_size, list) or len(pck_size) != 2 or not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in pck_size) or pck_size[0] > pck_size[1]):
        raise _err(None, "pck_size", f"expected [min, max] bytes, got {pck_size!r}")
    result["pck_size"] = list(pck_size)
    sites_raw = scenario.get("sites")
    if not isinstance(sites_raw, list) or not sites_raw:
        raise _err(None, "sites", "expected a non-empty list of sites")
    sites = [_normalise_site(raw, i, result["pck_size"]) for i, raw in enumerate(sites_raw)]
    by_code: dict[str, dict] = {}
    names: set[str] = set()
    for site in sites:
        if site["site_code"] in by_code:
            other = by_code[site["site_code"]]["name"]
            raise _err(site, "site_code", f"duplicate site code {site['site_code']} (also used by '{other}')")
        by_code[site["site_code"]] = site
        if site["name"].lower() in names:
            raise _err(site, "name", f"duplicate host name {site['name']!r}")
        names.add(site["name"].lower())
    for site in sites:
        parent = site["parent"]
        if parent is None:
            continue
        if parent not in by_code:
            raise _err(site, "parent", f"site code {parent} is not defined in this scenario")
        if by_code[parent]["type"] == "secondary":
            raise _err(site, "parent", f"site {parent} is a secondary site and cannot have child sites")
        seen = {site["site_code"]}
        walk = parent
        while walk is not None:
            if walk in seen:
                raise _err(site, "parent", f"the parent chain loops back through {walk}")
            seen.add(walk)
            walk = by_code[walk]["parent"]
    result["sites"] = sites
    return result
