r"""Scenario generator: turns a scenario (YAML file or dict) into the lab's state folder.

``build_state_dir(scenario, state_dir, seed=None)`` writes, for every site server::

    state_dir/hosts/<name>/host.json      registry, services, processes, wmi, environment, faults
    state_dir/hosts/<name>/fs/<drive>/... the host's files (Windows path C:\A\B -> fs/C/A/B)
    state_dir/hotfix/i386/Distmgr.dll     controller-side copy of the Q244405 DLLs (manual method)
    state_dir/hotfix/alpha/Distmgr.dll
    state_dir/scenario.json               the normalised scenario (what was built, with the seed)

``generate_fleet(n_sites, seed, log_bytes=0)`` returns a scenario dict for a large hierarchy.

With ``log_shared: true`` a site's Distmgr.log is its own small log (every entry about its packages)
followed by ``log_bytes`` of Distribution Manager noise generated once per (seed, size) into
``state_dir/shared/logs/<seed>-<size>.log`` and shared by every such host (``generated_files`` in
host.json, read through HostState). 200 hosts with a 200 MB log cost 200 MB of disk, not 40 GB.

Everything is deterministic for a seed: the same scenario and seed give the same bytes.

Scenario schema (YAML; see also lab/scenarios/README.md)
---------------------------------------------------------
Top level:

``seed``         int/str, default 0 (the ``seed`` argument of build_state_dir wins)
``credentials``  {user, password}, optional; carried into scenario.json for the server
``hotfix``       optional {host_path: 'C:\SMSHOTFIX\Q244405', version: '2.00.1380.1083'}, or
                 ``false`` to put no installer on the hosts. The controller copy is always written.
``pck_size``     [min, max] bytes of generated .PCK files, default [2048, 65536]
``sites``        list of sites (below)

Per site (only ``name`` and ``site_code`` are required):

``name``                inventory name, e.g. ``sms610`` (COMPUTERNAME is its upper case)
``site_code``           3 letters/digits, unique (write codes with a leading 0 in quotes)
``parent``              site code of the parent site, or null for a central site
``type``                primary (default) | secondary (must have a parent, cannot be a parent)
``build``               rtm | sp1 | sp1_hotfixed | sp2 (default) | sp3 | sp4
``platform``            i386 (default) | alpha
``install_dir``         default ``C:\SMS``
``logging``             on | off (default off, as in SMS 2.0): Tracing\SMS_DISTRIBUTION_MANAGER Enabled
``log_max_size``        Tracing MaxFileSize, default 1048576
``log_rollover``        true: older entries are in Distmgr.lo_ (implied by a ``log_claim: rollover``)
``log_wrapped_entry``   true: one "Start deleting" entry is wrapped over two lines as in the KB
``log_bytes``           pad Distmgr.log to this size (streamed, deterministic)
``log_shared``          true: the padding is not written per host but shared (see below)
``log_encoding``        ascii (default) | utf-16 (with BOM)
``drives``              list of drive letters holding an SMSPKG folder, default [D]
``console_open``        true: an mmc.exe with sms.msc runs
``services``            {service name: running|stopped|paused|start_pending|stop_pending|absent}
``packages``:
    ``active``          IDs known to the site (SMS_Package, ActionInProgress 0), .PCK present
    ``deleting``        IDs with ActionInProgress 3 (deletion under way), .PCK present
    ``leftovers``       IDs present as .PCK but not active here; an entry is an ID (the log claims
                        the deletion when logging is on) or {id, log_claim: true|false|rollover}
    ``deleted``         IDs cleanly deleted: the log records the deletion, no .PCK (noise)
    ``odd_files``       file names put in SMSPKG as they are ("READ ME.PCK", "CON.PCK", ...)
    ``reparse_points``  IDs whose <ID>.PCK is a symlink to C:\SMSDATA\<ID>.DAT (outside the
                        package folder); not active, the log claims their deletion
``sender_files``        names put in the SMS_SITE share (C:\SMS\inboxes\despoolr.box\receive),
                        e.g. 2_4O7PRI.PCK: Sender files that must never be touched
``full_version_missing`` true: no Setup\Full Version value (secondary sites installed from console)
``distmgr_no_version``  true: Distmgr.dll has no version resource
``hotfix_log``          true: C:\SMS\Logs\Q244405.log exists (the hotfix installer ran)
``faults``              {slow_seconds: float, drop_connection_after: [names], copy_fails: bool,
                        service_wont_stop: [names], service_wont_start: [names], fail_step: str,
                        wmi_unavailable: bool, corrupt_log: bool, unreachable: bool}
``inventory_vars``      extra Ansible host variables, copied as they are

Package IDs are the 3-character site code of the creating site plus 5 hex digits (61000012 was
created at site 610). YAML reads 60000012 as an integer; that is accepted. An ID with a leading 0
must be quoted (YAML would read it as octal).

SMS 2.0 facts used here come from /work/shared/notes/sms20-facts.md; each table below names its
source. The ones marked "assumption" are not documented for SMS 2.0.
"""

from __future__ import annotations

import bisect
import calendar
import itertools
import datetime as _dt
import json
import math
import os
import random
import re
import shutil
import zlib
from pathlib import Path

from smslab.state import HostState, dll_bytes, split_windows_path

# ---- SMS 2.0 facts (source: notes/sms20-facts.md) ------------------------------------------

# build -> (Setup\Full Version, Distmgr.dll file version, SMS_Site.BuildNumber)
# source: Q213410 / Q251070 (RTM, SP1), Q268803 (SP2), Q266130 (SP3/SP4 pattern: likely),
# Q250850 (SP1 hotfix bundle Distmgr.dll 2.00.1380.1083; the hotfix does not change Full Version).
BUILDS = {
    "rtm": ("2.00.1239.0000", "2.00.1239.0000", 1239),
    "sp1": ("2.00.1380.1000", "2.00.1380.1000", 1380),
    "sp1_hotfixed": ("2.00.1380.1000", "2.00.1380.1083", 1380),
    "sp2": ("2.00.1493.2000", "2.00.1493.2000", 1493),
    "sp3": ("2.00.1493.3000", "2.00.1493.3000", 1493),
    "sp4": ("2.00.1493.4000", "2.00.1493.4000", 1493),
}
HOTFIX_VERSION = "2.00.1380.1083"
# source: Q250850 file table: Distmgr.dll I386 228,240 bytes, Alpha 356,624 bytes.
HOTFIX_DLL_SIZES = {"i386": 228240, "alpha": 356624}
PLATFORMS = {"i386": "x86", "alpha": "ALPHA"}          # platform folder -> PROCESSOR_ARCHITECTURE
SITE_TYPES = {"primary": 2, "secondary": 1}            # SMS_Site.Type (Resource Guide Table B.39)
# Setup\Type: assumption (CM07 diagnostic reads it; value taken from docs/internals.md example).
SETUP_TYPES = {"primary": 1, "secondary": 2}
DEFAULT_INSTALL_DIR = "C:\\SMS"
DEFAULT_MAX_FILE_SIZE = 1048576                        # assumption: no SMS 2.0 default is known
DEFAULT_HOTFIX_HOST_PATH = "C:\\SMSHOTFIX\\Q244405"
# Service -> (executable, default state, start mode). sitecomp/smsexec: Q267889, Q223755.
# smsdbmon.exe, smsbkup.exe: assumptions (logs Smsdbmon.log / smsbkup.log; executables not confirmed).
SERVICES = {
    "SMS_SITE_COMPONENT_MANAGER": ("sitecomp.exe", "running", "auto"),
    "SMS_EXECUTIVE": ("smsexec.exe", "running", "auto"),
    "SMS_SITE_BACKUP": ("smsbkup.exe", "stopped", "manual"),
    "SMS_SQL_MONITOR": ("smsdbmon.exe", "running", "auto"),
}
SERVICE_STATES = {"running", "stopped", "paused", "start_pending", "stop_pending", "absent"}
# The SMS_SITE share: assumption (SMS 2.0 maps it to inboxes\despoolr.box\receive).
SMS_SITE_FOLDER = "inboxes\\despoolr.box\\receive"
COMPONENT = "SMS_DISTRIBUTION_MANAGER"
KNOWN_FAULTS = {
    "slow_seconds", "drop_connection_after", "copy_fails", "service_wont_stop",
    "service_wont_start", "fail_step", "wmi_unavailable", "corrupt_log", "unreachable",
}
SITE_FIELDS = {
    "name", "site_code", "parent", "type", "build", "platform", "install_dir", "logging",
    "log_max_size", "log_rollover", "log_wrapped_entry", "log_bytes", "log_encoding", "drives",
    "console_open", "services", "packages", "sender_files", "full_version_missing",
    "distmgr_no_version", "hotfix_log", "faults", "inventory_vars", "log_shared",
}
PACKAGE_FIELDS = {"active", "deleting", "leftovers", "deleted", "odd_files", "reparse_points"}
TOP_FIELDS = {"seed", "credentials", "hotfix", "pck_size", "sites", "description"}

PACKAGE_ID = re.compile(r"^[A-Za-z0-9]{3}[0-9A-Fa-f]{5}$")
SITE_CODE = re.compile(r"^[A-Za-z0-9]{3}$")
HOST_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")

EPOCH_1999 = _dt.datetime(1999, 10, 11, 8, 0, 0)       # first log entry (local time)
FIXED_MTIME = calendar.timegm((1999, 11, 23, 20, 34, 0))  # generated files that are not the host's


# ---- validation -------------------------------------------------------------------------------

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
        elif key == "fail_step":
            if not isinstance(value, str) or not value:
                raise _err(site, "faults.fail_step", f"expected a step name, got {value!r}")
            faults[key] = value
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
                 "distmgr_no_version", "hotfix_log", "log_shared"):
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


# ---- deterministic helpers ------------------------------------------------------------------------

def _rng(seed, *parts) -> random.Random:
    # random.Random(str) hashes the string with SHA-512: stable across runs and Python processes.
    return random.Random("|".join([str(seed), *map(str, parts)]))


def _pck_bytes(seed, package_id: str, pck_size) -> bytes:
    """The compressed copy of a package: the same bytes at every site that holds it."""
    rng = _rng(seed, "pck", package_id)
    size = rng.randint(pck_size[0], pck_size[1])
    # A made-up header so a person looking at the file sees what it is, then noise.
    header = f"SMS-LAB-PCK {package_id}\r\n".encode("ascii")
    return (header + rng.randbytes(max(0, size - len(header))))[:size] if size else b""


def _file_time(seed, *parts) -> float:
    """A deterministic modification time in October 1999 (UTC)."""
    rng = _rng(seed, "mtime", *parts)
    base = calendar.timegm((1999, 10, 1, 0, 0, 0))
    return base + rng.randint(0, 20 * 86400)


def _local_to_utc(moment: _dt.datetime) -> float:
    """Pacific local time (the logs' time zone) -> POSIX time: UTC-7 in daylight time, else UTC-8."""
    return calendar.timegm(moment.timetuple()) + (7 if _us_dst(moment) else 8) * 3600 \
        + moment.microsecond / 1e6


def _pck_time(seed, site_code: str, package_id: str) -> float:
    """When a compressed copy arrived, for sites without a log: 1-10 Oct 1999, before any log entry."""
    rng = _rng(seed, "pck-time", site_code, package_id)
    return calendar.timegm((1999, 10, 1, 0, 0, 0)) + rng.randint(0, 10 * 86400 - 1)


def _us_dst(moment: _dt.datetime) -> bool:
    """US daylight saving rule of 1987-2006: first Sunday of April to last Sunday of October."""
    year = moment.year
    april = _dt.datetime(year, 4, 1, 2)
    start = april + _dt.timedelta(days=(6 - april.weekday()) % 7)
    october_end = _dt.datetime(year, 10, 31, 2)
    end = october_end - _dt.timedelta(days=(october_end.weekday() + 1) % 7)
    return start <= moment < end


# ---- Distmgr.log generation ----------------------------------------------------------------------

class _LogWriter:
    """Streams SMS 2.0 log lines to a file in chunks; keeps a clock and counts bytes written."""

    CHUNK = 256 * 1024

    def __init__(self, path: Path, encoding: str, start: _dt.datetime, rng: random.Random):
        self.path = path
        self.handle = open(path, "wb")
        self.codec = "utf-16-le" if encoding == "utf-16" else "ascii"
        self.buffer: list[bytes] = []
        self.buffered = 0
        self.written = 0
        self.base = start
        self.ms = 0                      # milliseconds since ``base``
        self._base_hour = start.replace(minute=0, second=0, microsecond=0)
        self._offset = int((start - self._base_hour) / _dt.timedelta(milliseconds=1))
        self._hour = None                # cache: the stamp's parts for the current hour
        self._hour_parts = ("", "")
        self.rng = rng
        self._random = rng.random
        if encoding == "utf-16":
            self._raw(b"\xff\xfe")

    def _raw(self, data: bytes) -> None:
        self.buffer.append(data)
        self.buffered += len(data)
        self.written += len(data)
        if self.buffered >= self.CHUNK:
            self.flush()

    def flush(self) -> None:
        if self.buffer:
            self.handle.write(b"".join(self.buffer))
            self.buffer.clear()
            self.buffered = 0

    def close(self) -> None:
        self.flush()
        self.handle.close()

    @property
    def clock(self) -> _dt.datetime:
        return self.base + _dt.timedelta(milliseconds=self.ms)

    @clock.setter
    def clock(self, value: _dt.datetime) -> None:
        self.ms = int((value - self.base) / _dt.timedelta(milliseconds=1))

    def stamp(self) -> str:
        """``Fri Oct 15 17:09:46.677 1999 Pacific Daylight Time`` for the current clock."""
        hour, rest = divmod(self.ms + self._offset, 3_600_000)
        if hour != self._hour:           # formatting a date is slow: once per hour of log time
            moment = self._base_hour + _dt.timedelta(hours=hour)
            zone = "Pacific Daylight Time" if _us_dst(moment) else "Pacific Standard Time"
            self._hour = hour
            self._hour_parts = (moment.strftime("%a %b %d %H:"), f" {moment.year} {zone}")
        minute, rest = divmod(rest, 60_000)
        second, millis = divmod(rest, 1000)
        return f"{self._hour_parts[0]}{minute:02d}:{second:02d}.{millis:03d}{self._hour_parts[1]}"

    def tick(self, max_ms: int = 1500) -> None:
        self.ms += int(self._random() * (max_ms + 1))

    def entry(self, text: str, thread: int, wrap: bool = False, advance: bool = True) -> None:
        if advance:
            self.tick()
        head = f"{text}  $$<{COMPONENT}><{self.stamp()}><thread={thread} "
        tail = f"(0x{thread:X})>"
        line = head + ("\r\n" if wrap else "") + tail + "\r\n"
        self._raw(line.encode(self.codec))

    def text(self, text: str) -> None:
        self._raw(text.encode(self.codec, errors="replace"))

    def garbage(self, data: bytes) -> None:
        self._raw(data)


_NOISE_PATHS = ["INCOMING", "INCOMING\\retry", "INCOMING\\low"]


def _noise_line(rng: random.Random, site: dict, known: list[str], sizes_kb: dict) -> tuple[str, str]:
    """One unrelated but realistic Distribution Manager line: (text, thread role).

    Never matches the probe's LogPattern (deleting/deleted the package, adding package), so the
    probe's answer does not grow with the size of the log. Lines about a package only name
    packages already added in the log (``known``) and give their real compressed size.
    """
    makers, cumulative = _NOISE_TABLES[bool(known)]
    make = makers[bisect.bisect(cumulative, rng.random() * cumulative[-1])]
    return make(rng, site, known[int(rng.random() * len(known))] if known else "", sizes_kb)


def _random_name(rng: random.Random) -> str:
    return "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") for _unused in range(8))


# (weight, maker(rng, site, pid, sizes_kb) -> (text, role), needs a package)
_NOISE = [
    (14, lambda r, s, p, k: ("~Used 0 out of 3 allowed processing threads.", "main"), False),
    (2, lambda r, s, p, k: ("~Sleep 1800 seconds...", "main"), False),
    (10, lambda r, s, p, k: (f"~Processing incoming file {s['install_dir']}\\inboxes\\distmgr.box\\"
                             f"{r.choice(_NOISE_PATHS)}\\{_random_name(r)}.PKG.", "main"), False),
    (3, lambda r, s, p, k: (f"~SQL Msg #99901> This PkgID ({r.randint(100, 999)}{r.randint(0, 0xFFFFF):05X}) "
                            "does not exist in the parent table, SMSPackages.~", "main"), False),
    (5, lambda r, s, p, k: (f"~Site {s['site_code']}: no new package instructions in "
                            f"{s['install_dir']}\\inboxes\\distmgr.box\\INCOMING.", "main"), False),
    (4, lambda r, s, p, k: ("~Error 32: The process cannot access the file because it is being used by "
                            "another process.", "pkg"), False),
    (6, lambda r, s, p, k: ("~Exiting package processing thread.", "pkg"), False),
    (10, lambda r, s, p, k: (f"~Package {p} uses the compressed copy of the source directory.", "pkg"), True),
    (8, lambda r, s, p, k: (f"The compressed size of package {p} is {k[p]} KBytes", "pkg"), True),
    (8, lambda r, s, p, k: (f"~The package share {s['drives'][0]}:\\SMSPKG{s['drives'][0]}$\\{p} is up to date.",
                            "pkg"), True),
    (7, lambda r, s, p, k: (f"~Package {p} does not need to be sent to any child site.", "pkg"), True),
    (6, lambda r, s, p, k: (f"~Updating the package {p} on the distribution point "
                            f"\\\\{s['name'].upper()}\\SMSPKG{s['drives'][0]}$.", "pkg"), True),
    (5, lambda r, s, p, k: (f"~Package {p} requires a newer version (2) of source files and the new compressed "
                            f"files hasn't arrived yet, current version is 1, skip {s['install_dir']}\\inboxes\\"
                            f"distmgr.box\\INCOMING\\{_random_name(r)}.PKG", "pkg"), True),
    (4, lambda r, s, p, k: (f"~Cannot update the package {p} in the package source, error = 8", "pkg"), True),
]
_NOISE_TABLES = {
    known: ([m for _unused, m, needs in _NOISE if known or not needs],
            list(itertools.accumulate(w for w, _unused, needs in _NOISE if known or not needs)))
    for known in (False, True)
}


class _Threads:
    """Thread ids: one main thread, package threads started with the KB's 'Starting' line."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.main = rng.randint(150, 260)
        self.pool = [rng.randint(261, 990) for _unused in range(6)]

    def new(self) -> int:
        return self.rng.randint(261, 990)

    def any_pkg(self) -> int:
        return self.rng.choice(self.pool)


def _package_sequence(kind: str, pid: str, threads: _Threads, size_kb: int, rng: random.Random):
    """What one package thread writes: a list of atoms, each a list of (text, thread, same_ms)
    lines written together (nothing else comes between them)."""
    thread = threads.new()
    start = [[(f"~Starting package processing thread,thread ID = {thread:X}", threads.main, False)]]
    if kind == "add":
        body = [[(f"Start adding package {pid}...", thread, False)]]
        if rng.random() < 0.5:
            body.append([(f"~Package {pid} uses the compressed copy of the source directory.", thread, False)])
        else:
            body.append([(f"~Package {pid} doesn't have a compressed copy of the source directory, "
                          f"starting the compression.", thread, False)])
        body.append([(f"The compressed size of package {pid} is {size_kb} KBytes", thread, False)])
        body.append([(f"~Successfully created/updated the package {pid}", thread, False)])
    elif kind == "claim":       # the KB's false claim: same millisecond, the .PCK stays
        body = [[(f"Start deleting the package {pid}...", thread, False),
                 (f"~Successfully deleted the package {pid}", thread, True)]]
    elif kind == "deleting":    # ActionInProgress 3: started, not finished yet
        body = [[(f"Start deleting the package {pid}...", thread, False)]]
    else:
        raise AssertionError(kind)
    return start + body + [[("~Exiting package processing thread.", thread, False)]]


def _merge(sequences: list[list], rng: random.Random) -> list:
    """Interleave the threads' sequences, each kept in its own order."""
    sequences = [list(s) for s in sequences if s]
    positions = [0] * len(sequences)
    merged = []
    live = list(range(len(sequences)))
    while live:
        index = rng.choice(live[:3])          # a few threads run at a time
        merged.append(sequences[index][positions[index]])
        positions[index] += 1
        if positions[index] == len(sequences[index]):
            live.remove(index)
    return merged


def _write_events(writer: _LogWriter, bursts: list[list], site: dict, known: list[str], sizes_kb: dict,
                  rng: random.Random, threads: _Threads, target: int = 0, noise: int = 0,
                  wrap_first_claim: list | None = None, corrupt: bool = False, prefix: list = (),
                  added_at: dict | None = None) -> None:
    """Write ``prefix``, then the bursts of events interleaved with noise; pad up to ``target``
    bytes if set (each burst then stays together, spread over the padded file).

    ``known`` (packages the log has seen added and that are still active) grows as adds are written;
    ``added_at`` gets, per package, the UTC time its compressed copy was written (end of its add).
    """
    pools: dict[int, list] = {}
    adding = re.compile(r"^Start adding package (\S{8})\.\.\.$")
    created = "~Successfully created/updated the package "

    def corruption(kind: str, thread: int = 0, text: str = "") -> None:
        if kind == "garbage":
            writer.garbage(rng.randbytes(rng.randint(8, 200)))
        elif kind == "nul":
            writer.garbage(b"\x00" * rng.randint(16, 512))
        else:       # a truncated entry (the service died mid-write)
            thread = thread or threads.main
            full = f"{text}  $$<{COMPONENT}><{writer.stamp()}><thread={thread} (0x{thread:X})>"
            writer.text(full[: rng.randint(5, len(full) - 2)] + "\r\n")

    def put(atom):
        for text, thread, same_ms in atom:
            if thread is None:          # a corruption marker (see _write_distmgr_logs)
                corruption(*text)
                continue
            match = adding.match(text)
            if match and match.group(1) in sizes_kb and match.group(1) not in known:
                known.append(match.group(1))
            wrap = False
            if wrap_first_claim is not None and not wrap_first_claim and text.startswith("Start deleting the package"):
                wrap = True
                wrap_first_claim.append(text)
            writer.entry(text, thread, wrap=wrap, advance=not same_ms)
            if added_at is not None and text.startswith(created):
                added_at.setdefault(text[len(created):], _local_to_utc(writer.clock))

    def put_noise():
        # Lines come from a pool per state of ``known`` (it only grows): rendering each line
        # afresh is what made 20 MB logs slow.
        pool = pools.get(len(known))
        if pool is None:
            pool = pools[len(known)] = [_noise_line(rng, site, known, sizes_kb) for _unused in range(1024)]
        text, role = pool[int(rng.random() * 1024)]
        thread = threads.main if role == "main" else threads.any_pkg()
        if corrupt and rng.random() < 0.03:
            corruption(rng.choice(["garbage", "nul", "truncated"]), thread, text)
            return
        writer.entry(text, thread)
        if text.startswith("~Sleep"):
            writer.clock += _dt.timedelta(seconds=1800)

    for event in prefix:
        put(event)
    events = [atom for burst in bursts for atom in burst]
    if target <= 0:
        slots = sorted(rng.sample(range(len(events) + noise), len(events))) if events else []
        slot_set = set(slots)
        event_iter = iter(events)
        for position in range(len(events) + noise):
            if position in slot_set:
                put(next(event_iter))
            else:
                put_noise()
        return
    # Padded: burst k starts once the file reaches (k+1)/(B+1) of the target; noise fills the rest.
    average = 150 * (2 if writer.codec == "utf-16-le" else 1)
    bursts = [burst for burst in bursts if burst]
    estimates = [int(len(burst) * 1.4 * average) for burst in bursts]

    def put_burst(burst):
        for atom in burst:
            put(atom)
            if rng.random() < 0.3:
                put_noise()

    index = 0
    while True:
        reserve = sum(estimates[index:])
        if index < len(bursts) and writer.written >= target * (index + 1) / (len(bursts) + 1) - estimates[index] / 2:
            put_burst(bursts[index])
            index += 1
            continue
        if writer.written + reserve + average // 2 >= target:
            break
        put_noise()
    for burst in bursts[index:]:
        put_burst(burst)


def _write_distmgr_logs(site: dict, logs_dir: Path, seed, active_ids: list[str], pck_sizes: dict,
                        shared_end: float | None = None) -> dict:
    """Distmgr.log (and Distmgr.lo_ with roll-over) for a site whose logging is on.

    Returns {package ID: UTC time its compressed copy was written, as the log tells}. With a shared
    padding (``log_shared``) Distmgr.log holds only the site's own entries and its time is
    ``shared_end``, the last entry of the shared part that follows it.
    """
    added_at: dict[str, float] = {}
    rng = _rng(seed, "log", site["site_code"])
    threads = _Threads(rng)
    corrupt = bool(site["faults"].get("corrupt_log"))
    packages = site["packages"]

    def kb(pid):
        return max(1, math.ceil(pck_sizes.get(pid, 2048) / 1024))

    sizes_kb = {pid: kb(pid) for pid in active_ids}       # noise only ever names active packages
    known: list[str] = []
    # Every package was added first; the deletions the log records come later.
    added = list(active_ids) + list(packages["deleting"]) + [lo["id"] for lo in packages["leftovers"]] \
        + list(packages["deleted"]) + list(packages["reparse_points"])
    # A reparse point stands where a claimed leftover would: only the link check protects it.
    claims_now = ([lo["id"] for lo in packages["leftovers"] if lo["log_claim"] is True]
                  + list(packages["deleted"]) + list(packages["reparse_points"]))
    claims_old = [lo["id"] for lo in packages["leftovers"] if lo["log_claim"] == "rollover"]

    add_events = _merge([_package_sequence("add", p, threads, kb(p), rng) for p in added], rng)
    old_claim_events = _merge([_package_sequence("claim", p, threads, 0, rng) for p in claims_old], rng)
    new_events = _merge([_package_sequence("claim", p, threads, 0, rng) for p in claims_now]
                        + [_package_sequence("deleting", p, threads, 0, rng) for p in packages["deleting"]], rng)
    opening = [[(f"~Distribution Manager started, thread ID = {threads.main:X}", threads.main, False)]]
    if corrupt:
        # at least one of each: binary garbage, a run of NULs, truncated entries (one of them a
        # deletion claim cut inside its package ID), then more at random among the noise
        cut = (claims_now or added or [site["site_code"] + "00001"])[0]
        marks = [[(("garbage",), None, False)], [(("nul",), None, False)],
                 [(("truncated", 0, "~Exiting package processing thread."), None, False)],
                 [(("truncated", 0, f"~Successfully deleted the package {cut[:5]}"), None, False)]]
        new_events = _merge([new_events, marks], rng)

    def finish(writer: _LogWriter) -> None:
        writer.close()
        # last write = last entry; Pacific time is UTC-7 (daylight) or UTC-8 (standard)
        mtime = _local_to_utc(writer.clock)
        os.utime(writer.path, (mtime, mtime))

    clock = EPOCH_1999 + _dt.timedelta(minutes=rng.randint(0, 600))
    wrap_state = [] if site["log_wrapped_entry"] else None
    if site["log_rollover"]:
        writer = _LogWriter(logs_dir / "Distmgr.lo_", site["log_encoding"], clock, rng)
        _write_events(writer, [add_events, old_claim_events], site, known, sizes_kb, rng, threads,
                      noise=40 + rng.randint(0, 40), corrupt=corrupt, prefix=opening,
                      wrap_first_claim=wrap_state if not new_events else None, added_at=added_at)
        finish(writer)
        clock = writer.clock + _dt.timedelta(minutes=rng.randint(1, 30))
        bursts, prefix = [new_events], []
    else:
        bursts, prefix = [add_events, old_claim_events, new_events], opening
    writer = _LogWriter(logs_dir / "Distmgr.log", site["log_encoding"], clock, rng)
    _write_events(writer, bursts, site, known, sizes_kb, rng, threads,
                  target=0 if site["log_shared"] else site["log_bytes"],
                  noise=30 + rng.randint(0, 40), corrupt=corrupt, wrap_first_claim=wrap_state, prefix=prefix,
                  added_at=added_at)
    finish(writer)
    if site["log_shared"] and shared_end is not None:
        os.utime(writer.path, (shared_end, shared_end))
    return added_at


SHARED_LOG_START = EPOCH_1999 + _dt.timedelta(days=2)    # after every site's own first entries
_SHARED_SITE = {"name": "smslab", "install_dir": DEFAULT_INSTALL_DIR, "drives": ["D"], "site_code": "LAB"}


def shared_log(state_dir: Path, seed, size: int) -> tuple[str, float]:
    """Write (once) ``size`` bytes of Distribution Manager noise shared by hosts; return its path
    relative to ``state_dir/shared`` and the UTC time of its last entry.

    Noise lines never match the probe's filter and name no package, so the same bytes fit every
    site. An existing file of the same seed and size is reused (its sidecar .json holds the time).
    """
    name = f"logs/{re.sub(r'[^A-Za-z0-9_.-]', '_', str(seed))}-{size}.log"
    target = Path(state_dir) / "shared" / name
    sidecar = target.with_suffix(".json")
    if target.is_file() and sidecar.is_file():
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
        if meta.get("size") == target.stat().st_size:
            return name, float(meta["end"])
    target.parent.mkdir(parents=True, exist_ok=True)
    rng = _rng(seed, "shared-log", size)
    tmp = target.with_suffix(".tmp")
    writer = _LogWriter(tmp, "ascii", SHARED_LOG_START, rng)
    _write_events(writer, [], _SHARED_SITE, [], {}, rng, _Threads(rng), target=size)
    writer.close()
    end = _local_to_utc(writer.clock)
    os.utime(tmp, (end, end))
    os.replace(tmp, target)
    sidecar.write_text(json.dumps({"seed": str(seed), "size": target.stat().st_size, "end": end}) + "\n",
                       encoding="utf-8")
    return name, end


# ---- host building ----------------------------------------------------------------------------------

def _win_join(*parts: str) -> str:
    return "\\".join(p.strip("\\") for p in parts)


def _host_data(site: dict, sites_by_code: dict, scenario: dict) -> dict:
    full_version, dll_version, build_number = BUILDS[site["build"]]
    install = site["install_dir"]
    platform = site["platform"]
    bin_dir = _win_join(install, "bin", platform)
    parent = site["parent"] or ""
    setup = {"Installation Directory": install, "Type": SETUP_TYPES[site["type"]]}
    if not site["full_version_missing"]:
        setup["Full Version"] = full_version
    if site["type"] == "primary":        # secondary sites have no Administrator console
        setup["UI Version"] = full_version
    registry = {
        "HKLM\\SOFTWARE\\Microsoft\\SMS\\Setup": setup,
        "HKLM\\SOFTWARE\\Microsoft\\SMS\\Identification": {
            "Site Code": site["site_code"], "Parent Site Code": parent, "Installation Directory": install},
        f"HKLM\\SOFTWARE\\Microsoft\\SMS\\Tracing\\{COMPONENT}": {
            "Enabled": 1 if site["logging"] else 0, "MaxFileSize": site["log_max_size"]},
    }
    services = {}
    for service, (exe, state, start_mode) in SERVICES.items():
        if service == "SMS_SQL_MONITOR" and site["type"] == "secondary":
            state = "absent"             # a secondary site has no site database
        state = site["services"].get(service, state)
        if state == "absent":
            continue
        services[service] = {"state": state, "start_mode": start_mode, "path": _win_join(bin_dir, exe)}
    processes = []
    if site["console_open"]:
        processes.append({"name": "mmc.exe",
                          "command_line": f"C:\\WINNT\\System32\\mmc.exe \"{_win_join(bin_dir, 'sms.msc')}\""})
    packages = site["packages"]
    wmi_packages = [{"PackageID": p, "ActionInProgress": 0, "SourceSite": p[:3]} for p in packages["active"]]
    wmi_packages += [{"PackageID": p, "ActionInProgress": 3, "SourceSite": p[:3]} for p in packages["deleting"]]
    wmi_packages.sort(key=lambda item: item["PackageID"])
    return {
        "name": site["name"],
        "site_code": site["site_code"],
        "registry": registry,
        "services": services,
        "processes": processes,
        "wmi": {
            "available": not site["faults"].get("wmi_unavailable", False),
            "site": {"SiteCode": site["site_code"], "ReportingSiteCode": parent,
                     "Type": SITE_TYPES[site["type"]], "Version": "2.0", "BuildNumber": build_number,
                     "InstallDir": install, "ServerName": site["name"].upper()},
            "packages": wmi_packages,
        },
        "environment": {"PROCESSOR_ARCHITECTURE": PLATFORMS[platform], "COMPUTERNAME": site["name"].upper(),
                        "TEMP": "C:\\WINNT\\Temp"},
        "faults": dict(site["faults"]),
        "inventory_vars": dict(site["inventory_vars"]),
        # What the scenario meant (ground truth for tests and reports; the probe never reads it).
        "lab": {
            "build": site["build"], "platform": platform, "type": site["type"], "install_dir": install,
            "distmgr_version": None if site["distmgr_no_version"] else dll_version,
            "package_folders": [f"{d}:\\SMSPKG" for d in site["drives"]],
            "leftovers": [dict(item) for item in packages["leftovers"]],
            "logging": site["logging"],
        },
    }


def _pck_folder_for(site: dict, package_id: str) -> str:
    drives = site["drives"]
    return f"{drives[zlib.crc32(package_id.encode()) % len(drives)]}:\\SMSPKG"


def _build_host(site: dict, hosts_dir: Path, scenario: dict, sites_by_code: dict) -> str:
    seed = scenario["seed"]
    root = hosts_dir / site["name"]
    state = HostState(root=root, data=_host_data(site, sites_by_code, scenario))
    root.mkdir(parents=True, exist_ok=True)
    install = site["install_dir"]
    platform = site["platform"]
    full_version, dll_version, _unused = BUILDS[site["build"]]
    bin_dir = _win_join(install, "bin", platform)
    stamped: list[str] = []

    made: set[str] = set()

    def local(path: str) -> str:
        # A fresh folder written with one spelling per path: no case-insensitive lookup needed
        # (HostState.local_path would list every folder on the way; too slow for big fleets).
        drive, parts = split_windows_path(path)
        return os.path.join(str(state.fs_root), drive, *parts)

    def makedirs(path: str) -> None:
        target = local(path)
        if target not in made:
            os.makedirs(target, exist_ok=True)
            made.add(target)

    def put(path: str, data: bytes) -> None:
        target = local(path)
        folder = os.path.dirname(target)
        if folder not in made:
            os.makedirs(folder, exist_ok=True)
            made.add(folder)
        with open(target, "wb") as handle:
            handle.write(data)
        stamped.append(target)

    # binaries
    if site["distmgr_no_version"]:
        dll = dll_bytes(None)
    elif site["build"] == "sp1_hotfixed":
        dll = dll_bytes(scenario_hotfix_version(scenario), HOTFIX_DLL_SIZES[platform])
    else:
        dll = dll_bytes(dll_version)
    put(_win_join(bin_dir, "Distmgr.dll"), dll)
    for exe in ("sitecomp.exe", "smsexec.exe"):
        put(_win_join(bin_dir, exe), dll_bytes(full_version, 1024))
    put(_win_join(bin_dir, "sms.msc"), b"<?xml version=\"1.0\"?>\r\n<MMC_ConsoleFile/>\r\n")
    # logs folder (always there; Distmgr.log only when logging is on)
    logs = _win_join(install, "Logs")
    makedirs(logs)
    if site["hotfix_log"]:
        line = (f"11/23/1999 12:34:56 Q244405: replaced {_win_join(bin_dir, 'Distmgr.dll')} "
                f"({full_version} -> {scenario_hotfix_version(scenario)})\r\n"
                "11/23/1999 12:34:57 Q244405: installation completed successfully\r\n")
        put(_win_join(logs, "Q244405.log"), line.encode("ascii"))
    # inboxes: files that are not compressed packages and must never be touched
    packages = site["packages"]
    for pid in packages["active"]:
        put(_win_join(install, "inboxes", "pkginfo.box", f"{pid}.PKG"), f"[Package]\r\nID={pid}\r\n".encode())
    put(_win_join(install, "inboxes", "distmgr.box", "INCOMING", "U2J0GVIQ.PKG"), b"[Package Instruction]\r\n")
    makedirs(_win_join(install, SMS_SITE_FOLDER))
    for name in site["sender_files"]:
        put(_win_join(install, SMS_SITE_FOLDER, name), _rng(seed, "sender", site["site_code"], name).randbytes(1536))
    # package folders, one per drive
    sizes: dict[str, int] = {}
    for drive in site["drives"]:
        makedirs(f"{drive}:\\SMSPKG")
    pck_paths: dict[str, str] = {}      # package ID -> local file holding its compressed copy
    for pid in packages["active"] + packages["deleting"] + [lo["id"] for lo in packages["leftovers"]]:
        data = _pck_bytes(seed, pid, site["pck_size"])
        sizes[pid] = len(data)
        put(_win_join(_pck_folder_for(site, pid), f"{pid}.PCK"), data)
        pck_paths[pid] = stamped.pop()
    first = f"{site['drives'][0]}:\\SMSPKG"
    for name in packages["odd_files"]:
        put(_win_join(first, name), _rng(seed, "odd", site["site_code"], name).randbytes(2048))
    for pid in packages["reparse_points"]:
        # The target is a file elsewhere on the host; the link is relative so the folder can move.
        target = f"C:\\SMSDATA\\{pid}.DAT"
        put(target, _pck_bytes(seed, pid, site["pck_size"]))
        pck_paths[pid] = stamped.pop()
        link = local(_win_join(first, f"{pid}.PCK"))
        os.symlink(os.path.relpath(local(target), os.path.dirname(link)), link)
        mtime = _file_time(seed, site["site_code"], "link", pid)
        os.utime(link, (mtime, mtime), follow_symlinks=False)
    # distribution point share for the active packages (not compressed copies either)
    # (a few are enough to show the folder is not SMSPKG; every one costs a folder and a file)
    for pid in packages["active"][:3]:
        put(f"{site['drives'][0]}:\\SMSPKG{site['drives'][0]}$\\{pid}\\setup.exe", dll_bytes("1.0.0.0", 512))
    # hotfix installer on the host
    hotfix = scenario["hotfix"]
    if hotfix is not None:
        put(_win_join(hotfix["host_path"], "Q244405.exe"),
            b"MZ\x90\x00SMS-LAB-INSTALLER Q244405\nFileVersion=" + hotfix["version"].encode() + b"\n")
    base = len(str(state.fs_root))
    for path in stamped:
        mtime = _file_time(seed, site["site_code"], path[base:].lower())
        os.utime(path, (mtime, mtime))
    # A compressed copy is written when its package is added (the log's "Successfully
    # created/updated"), before any deletion the log claims; it is not touched afterwards.
    shared_end = None
    if site["logging"] and site["log_shared"] and site["log_bytes"]:
        shared_name, shared_end = shared_log(hosts_dir.parent, seed, site["log_bytes"])
        state.data["generated_files"] = {_win_join(logs, "Distmgr.log"): {
            "append": shared_name, "size": os.stat(hosts_dir.parent / "shared" / shared_name).st_size}}
    added_at = _write_distmgr_logs(site, Path(local(logs)), seed, packages["active"], sizes, shared_end) \
        if site["logging"] else {}
    for pid, path in pck_paths.items():
        mtime = added_at.get(pid) or _pck_time(seed, site["site_code"], pid)
        os.utime(path, (mtime, mtime))
    state.save()
    os.utime(root / "host.json", (FIXED_MTIME, FIXED_MTIME))
    return site["name"]


def scenario_hotfix_version(scenario: dict) -> str:
    return (scenario.get("hotfix") or {}).get("version", HOTFIX_VERSION)


def build_state_dir(scenario, state_dir, seed=None) -> list[str]:
    """Write the state folder for ``scenario`` (YAML path or dict); return the host names.

    Raises ValueError naming the site and the field for a bad scenario, before writing anything.
    Hosts already in ``state_dir/hosts`` that the scenario names are rebuilt from scratch.
    """
    normal = load_scenario(scenario, seed)
    state_dir = Path(state_dir)
    hosts_dir = state_dir / "hosts"
    hosts_dir.mkdir(parents=True, exist_ok=True)
    by_code = {site["site_code"]: site for site in normal["sites"]}
    names = []
    for site in normal["sites"]:
        root = hosts_dir / site["name"]
        if root.exists() or root.is_symlink():
            shutil.rmtree(root)
        names.append(_build_host(site, hosts_dir, normal, by_code))
    version = scenario_hotfix_version(normal)
    for platform, size in HOTFIX_DLL_SIZES.items():
        target = state_dir / "hotfix" / platform / "Distmgr.dll"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(dll_bytes(version, size))
        os.utime(target, (FIXED_MTIME, FIXED_MTIME))
    with open(state_dir / "scenario.json", "w", encoding="utf-8") as handle:
        json.dump(normal, handle, indent=2, sort_keys=True, default=str)
        handle.write("\n")
    os.utime(state_dir / "scenario.json", (FIXED_MTIME, FIXED_MTIME))
    return names


# ---- large fleets ------------------------------------------------------------------------------------

_B36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _fleet_codes(n_regions: int):
    """Central 'CEN'; regions 'A00', 'B00', ...; their children '<region letter><2 base-36>'."""
    letters = "ABDEFGHJKLMNPRSTUVWXYZ"       # no C (central), I, O, Q (look like digits)
    return [f"{letters[i]}00" for i in range(n_regions)]


def generate_fleet(n_sites: int, seed, log_bytes: int = 0, log_shared: bool = True) -> dict:
    """A scenario for one central site and ``n_sites - 1`` children in 2-3 levels.

    Mixed builds and platforms; leftovers of each kind (claimed in Distmgr.log, claimed only in the
    rolled-over Distmgr.lo_, unclaimed because logging is off, still active at the origin), deletions
    in progress, odd file names, reparse points and Sender files. No faults (benchmarks need healthy
    hosts). ``log_bytes`` pads Distmgr.log of every site with logging on; with ``log_shared`` (the
    default) the padding is one file shared by all of them instead of a copy per host.
    """
    if n_sites < 1:
        raise ValueError("generate_fleet: n_sites must be at least 1")
    rng = _rng(seed, "fleet", n_sites)
    if n_sites > 1 + 22 * 1295:
        raise ValueError("generate_fleet: at most 28491 sites (22 regions of 1295 children)")
    n_regions = min(max(1, round(math.sqrt(n_sites - 1) / 2)), 22) if n_sites > 1 else 0
    region_codes = _fleet_codes(n_regions)
    counters = {code: 0 for code in region_codes}

    def child_code(region: str) -> str:
        counters[region] += 1
        value = counters[region]
        return f"{region[0]}{_B36[value // 36 % 36]}{_B36[value % 36]}"

    central = {"name": "smscen", "site_code": "CEN", "parent": None, "type": "primary",
               "build": rng.choice(["sp2", "sp3", "sp4"]), "platform": "i386", "logging": "on"}
    sites = [central]
    levels = {"CEN": 0}
    primaries = []
    for code in region_codes[: max(0, n_sites - 1)]:
        sites.append({"name": f"sms{code.lower()}", "site_code": code, "parent": "CEN", "type": "primary"})
        levels[code] = 1
        primaries.append(code)
    used = {s["site_code"] for s in sites}
    while len(sites) < n_sites:
        region = region_codes[(len(sites) - 1) % n_regions]
        code = child_code(region)
        if code in used:
            continue
        used.add(code)
        # a third level of secondary sites below some branch sites
        branches = [s for s in sites if levels[s["site_code"]] == 2 and s["type"] == "primary"
                    and s["site_code"][0] == region[0]]
        if branches and rng.random() < 0.2:
            parent = rng.choice(branches[-8:])["site_code"]
            sites.append({"name": f"sms{code.lower()}", "site_code": code, "parent": parent, "type": "secondary"})
            levels[code] = 3
        else:
            sites.append({"name": f"sms{code.lower()}", "site_code": code, "parent": region, "type": "primary"})
            levels[code] = 2
    by_code = {s["site_code"]: s for s in sites}

    # packages created at the central site and at each region: some active, some deleted there
    created_active: dict[str, list[str]] = {}
    created_deleted: dict[str, list[str]] = {}
    for site in sites:
        if levels[site["site_code"]] > 1:
            continue
        count = 8 if site["site_code"] == "CEN" else 3
        ids = [f"{site['site_code']}{i:05X}" for i in range(1, count + 1)]
        created_active[site["site_code"]] = ids[: count // 2 + 1]
        created_deleted[site["site_code"]] = ids[count // 2 + 1:]

    def ancestors(code):
        chain = []
        parent = by_code[code]["parent"]
        while parent is not None:
            chain.append(parent)
            parent = by_code[parent]["parent"]
        return chain

    affected = ["rtm", "sp1"]
    for site in sites:
        code = site["site_code"]
        level = levels[code]
        if level > 0:
            site["build"] = rng.choices(["rtm", "sp1", "sp1_hotfixed", "sp2", "sp3", "sp4"],
                                        weights=[2, 4, 2, 3, 2, 1])[0]
            site["platform"] = "alpha" if rng.random() < 0.1 else "i386"
            site["logging"] = "on" if rng.random() < 0.35 else "off"
        logging = site["logging"] == "on"
        active = list(created_active.get(code, []))
        for ancestor in ancestors(code):
            active += created_active.get(ancestor, [])
        packages: dict = {"active": active}
        if site["type"] == "primary" and level > 0 and site["build"] in affected:
            leftovers = []
            for ancestor in ancestors(code):
                for pid in created_deleted.get(ancestor, []):
                    if rng.random() < 0.6:
                        kind = rng.random()
                        if not logging:
                            leftovers.append(pid)
                        elif kind < 0.6:
                            leftovers.append({"id": pid, "log_claim": True})
                        elif kind < 0.8:
                            leftovers.append({"id": pid, "log_claim": "rollover"})
                        else:
                            leftovers.append({"id": pid, "log_claim": False})
            if active and rng.random() < 0.1:
                # a compressed copy whose origin still has the package: weakest evidence
                stray = active.pop(rng.randrange(len(active)))
                leftovers.append({"id": stray, "log_claim": False} if logging else stray)
            if leftovers:
                packages["leftovers"] = leftovers
        if len(packages["active"]) > 1 and rng.random() < 0.05:
            packages["deleting"] = [packages["active"].pop()]
        if rng.random() < 0.05:
            packages["odd_files"] = [rng.choice(["READ ME.PCK", "CON.PCK", f"{code}0001.PCK",
                                                 f"{code}0001G.PCK", "\uff33" + f"{code}0001.PCK"])]
        if len(packages["active"]) > 1 and rng.random() < 0.03:
            packages["reparse_points"] = [packages["active"].pop(0)]
        if logging and level <= 1 and created_deleted.get(code):
            packages["deleted"] = list(created_deleted[code])      # deleted cleanly at the origin
        elif logging and site["type"] == "primary" and rng.random() < 0.2:
            deleted = [p for a in ancestors(code) for p in created_deleted.get(a, [])
                       if p not in {lo if isinstance(lo, str) else lo["id"] for lo in packages.get("leftovers", [])}]
            if deleted:
                packages["deleted"] = deleted[:1]
        site["packages"] = packages
        if logging and log_bytes:
            site["log_bytes"] = int(log_bytes)
            if log_shared:
                site["log_shared"] = True
        if logging and rng.random() < 0.3:
            site["log_wrapped_entry"] = True
        if rng.random() < 0.1:
            site["drives"] = ["D", "E"]
        if rng.random() < 0.1 and site["type"] == "primary":
            site["console_open"] = True
        if rng.random() < 0.05:
            site["services"] = {"SMS_SITE_BACKUP": "running"}
        if rng.random() < 0.1:
            site["sender_files"] = [f"{rng.randint(1, 9)}_{''.join(rng.choice(_B36) for _unused in range(4))}PRI.PCK"]
        if site["type"] == "secondary" and rng.random() < 0.5:
            site["full_version_missing"] = True
        if site["build"] == "sp1_hotfixed" and rng.random() < 0.5:
            site["hotfix_log"] = True
        if rng.random() < 0.02:
            site["distmgr_no_version"] = True
    return {"seed": seed, "pck_size": [512, 4096], "sites": sites}
