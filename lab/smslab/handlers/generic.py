"""The ansible.windows modules the lab answers, reduced to what the collection and its tests use.

Each handler returns the JSON dict the real module would print (same keys), honours check mode by
changing nothing, and fails loudly when asked for something it does not simulate.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import io
import os
import re
import shlex
import time
import zipfile
from pathlib import Path, PureWindowsPath

from smslab.handlers import (COMMAND_HANDLERS, SCRIPT_HANDLERS, HostContext, LabUnsupported, ScriptError, module,
                             script_name)
from smslab.state import HostState

CHECKSUM_ALGORITHMS = {"md5", "sha1", "sha256", "sha384", "sha512"}
UNINSTALL_KEY = "HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall"


def _failed(msg: str, **extra) -> dict:
    return {"failed": True, "changed": False, "msg": msg, **extra}


def _path_option(args: dict, *names: str) -> str | None:
    for name in names:
        if args.get(name):
            return str(args[name])
    return None


def _join(directory: str, child: str) -> str:
    return str(PureWindowsPath(directory) / child)


def _windows_path_of(state: HostState, local: Path) -> str:
    """Inverse of HostState.local_path: ``<root>/fs/C/A/B`` -> ``C:\\A\\B``."""
    drive, *parts = local.relative_to(state.fs_root).parts
    return f"{drive}:\\" + "\\".join(parts)


# ---- connection checks and facts -----------------------------------------------------------
@module("ansible.windows.win_ping")
def win_ping(ctx: HostContext, args: dict) -> dict:
    data = args.get("data", "pong")
    if data == "crash":      # the real module's way to test failure handling
        return _failed("boom")
    return {"changed": False, "ping": data}


@module("ansible.windows.setup")
def setup(ctx: HostContext, args: dict) -> dict:
    env = ctx.state.data.get("environment") or {}
    computer = env.get("COMPUTERNAME") or ctx.state.name.upper()
    facts = {
        "ansible_hostname": computer,
        "ansible_nodename": computer,
        "ansible_fqdn": computer,
        "ansible_os_family": "Windows",
        "ansible_system": "Win32NT",
        "ansible_os_name": ctx.state.data.get("os_name", "Microsoft Windows NT 4.0 Server"),
        "ansible_architecture": env.get("PROCESSOR_ARCHITECTURE", "x86"),
        "ansible_env": dict(env),
        "module_setup": True,
    }
    return {"changed": False, "ansible_facts": facts}


# ---- files ---------------------------------------------------------------------------------
@module("ansible.windows.win_stat")
def win_stat(ctx: HostContext, args: dict) -> dict:
    path = _path_option(args, "path", "dest", "name")
    algorithm = str(args.get("checksum_algorithm") or "sha1").lower()
    if algorithm not in CHECKSUM_ALGORITHMS:
        return _failed(f"value of checksum_algorithm must be one of: {', '.join(sorted(CHECKSUM_ALGORITHMS))}, "
                       f"got: {algorithm}")
    local = ctx.state.local_path(path)
    if not (local.exists() or local.is_symlink()):
        return {"changed": False, "stat": {"exists": False}}
    return {"changed": False, "stat": _stat_of(ctx.state, local, args, algorithm)}


def _stat_of(state: HostState, local: Path, args: dict, algorithm: str) -> dict:
    follow = bool(args.get("follow"))
    is_link = local.is_symlink()
    info = local.stat() if (follow or not is_link) else local.lstat()
    is_dir = local.is_dir() if (follow or not is_link) else False
    stat = {
        "exists": True,
        "path": _windows_path_of(state, local),
        "filename": local.name,
        "attributes": "Directory" if is_dir else ("ReparsePoint" if is_link else "Archive"),
        "isarchive": not is_dir and not is_link,
        "isdir": is_dir,
        "ishidden": False,
        "isjunction": False,
        "islnk": is_link and not follow,
        "isreadonly": False,
        "isreg": not is_dir and not (is_link and not follow),
        "isshared": False,
        "nlink": 1,
        "hlnk_targets": [],
        "creationtime": info.st_ctime,
        "lastaccesstime": info.st_atime,
        "lastwritetime": info.st_mtime,
        "owner": "BUILTIN\\Administrators",
    }
    if is_link and not follow:
        target = _windows_path_of(state, local.resolve())
        stat.update(lnk_source=target, lnk_target=target)
    if is_dir:
        if args.get("get_size", True):
            stat["size"] = sum(f.stat().st_size for f in local.rglob("*") if f.is_file())
    elif stat["isreg"]:
        stat["extension"] = local.suffix
        windows_path = stat["path"]
        if args.get("get_size", True):
            stat["size"] = state.file_size(windows_path)      # generated files count their shared part
        if args.get("get_checksum", True):
            stat["checksum"] = state.checksum(windows_path, algorithm)
    return stat


@module("ansible.windows.slurp")
@module("ansible.builtin.slurp")
def slurp(ctx: HostContext, args: dict) -> dict:
    path = _path_option(args, "src", "path")
    local = ctx.state.local_path(path)
    if local.is_dir():
        return _failed(f"Path {path} is a directory")
    if not local.is_file():
        return _failed(f"Path {path} is not found")
    return {"changed": False, "content": base64.b64encode(ctx.state.read_bytes(path)).decode("ascii"),
            "encoding": "base64"}


# ---- win_reg_stat (read-only) ----------------------------------------------------------------
_REG_STAT_HIVES = {"HKLM": "HKLM", "HKCU": "HKCU", "HKCR": "HKCR", "HKU": "HKU", "HKCC": "HKCC"}
_REG_STAT_TYPES = {"DWord": "REG_DWORD", "QWord": "REG_QWORD", "String": "REG_SZ", "MultiString": "REG_MULTI_SZ"}


def _reg_stat_value(value) -> dict:
    """host.json keeps registry values untyped: int -> REG_DWORD (REG_QWORD above 32 bits), str -> REG_SZ,
    list -> REG_MULTI_SZ (the same reading as win_regedit's)."""
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, int):
        kind = "REG_DWORD" if 0 <= value <= 0xFFFFFFFF else "REG_QWORD"
        return {"type": kind, "value": value, "raw_value": value}
    if isinstance(value, list):
        return {"type": "REG_MULTI_SZ", "value": list(value), "raw_value": list(value)}
    return {"type": "REG_SZ", "value": str(value), "raw_value": str(value)}


@module("ansible.windows.win_reg_stat")
def win_reg_stat(ctx: HostContext, args: dict) -> dict:
    path = str(args.get("path") or args.get("key") or "")
    name = args.get("name", args.get("entry", args.get("value")))
    match = re.match(r"^(HK(?:CC|CR|CU|LM|U)):\\(.*)$", path)
    if not match:
        return _failed(f"path: {path} is not a valid registry path, see module documentation for examples.")
    key = f"{_REG_STAT_HIVES[match.group(1)]}\\{match.group(2)}".rstrip("\\")
    registry = ctx.state.data.get("registry", {})
    values = ctx.state.registry_key(key)
    prefix = key.lower() + "\\"
    children = [stored for stored in registry if stored.lower().startswith(prefix)]
    if values is None and not children:
        return {"changed": False, "exists": False}
    values = values or {}
    if name is None:
        sub_keys = sorted({stored[len(prefix):].split("\\")[0] for stored in children})
        return {"changed": False, "exists": True, "sub_keys": sub_keys,
                "properties": {k: _reg_stat_value(v) for k, v in values.items()}}
    for value_name, value in values.items():
        if value_name.lower() == str(name).lower():
            return {"changed": False, "exists": True, **_reg_stat_value(value)}
    return {"changed": False, "exists": False}


# ---- win_find (one folder level) -------------------------------------------------------------
@module("ansible.windows.win_find")
def win_find(ctx: HostContext, args: dict) -> dict:
    """paths, patterns (wildcards, or regexes with use_regex), file_type, get_checksum; not recurse/age/size."""
    for option in ("age", "size", "depth"):
        if args.get(option) is not None:
            raise LabUnsupported(f"win_find option {option} is not simulated")
    if args.get("recurse"):
        raise LabUnsupported("win_find recurse=true is not simulated")
    paths = args.get("paths") or []
    paths = [paths] if isinstance(paths, str) else list(paths)
    patterns = args.get("patterns", args.get("regex", args.get("regexp")))
    patterns = [patterns] if isinstance(patterns, str) else patterns
    file_type = args.get("file_type") or "file"
    algorithm = str(args.get("checksum_algorithm") or "sha1").lower()
    get_checksum = args.get("get_checksum", True)
    result = {"changed": False, "examined": 0, "matched": 0, "files": []}
    warnings = []
    for path in paths:
        local = ctx.state.local_path(path)
        if not local.is_dir():
            warnings.append(f"Argument path '{path}' " + ("is a file not a directory, skipping" if local.exists()
                            else "does not exist or is not accessible, skipping"))
            continue
        for child in sorted(local.iterdir(), key=lambda entry: entry.name.lower()):
            result["examined"] += 1
            is_dir = child.is_dir() and not child.is_symlink()
            if (file_type == "file" and is_dir) or (file_type == "directory" and not is_dir):
                continue
            if patterns and not _find_name_matches(child.name, patterns, bool(args.get("use_regex"))):
                continue
            result["matched"] += 1
            entry = _stat_of(ctx.state, child, {"get_checksum": get_checksum, "get_size": not is_dir}, algorithm)
            for key in ("checksum", "extension", "size", "sharename"):
                entry.setdefault(key, None)
            result["files"].append(entry)
    result["files"].sort(key=lambda entry: entry["path"])
    if warnings:
        result["warnings"] = warnings
    return result


def _find_name_matches(name: str, patterns: list, use_regex: bool) -> bool:
    """PowerShell -like (case-insensitive wildcards), or -match with use_regex."""
    for pattern in patterns:
        if use_regex and re.search(str(pattern), name, re.IGNORECASE):
            return True
        if not use_regex and re.fullmatch(fnmatch.translate(str(pattern)), name, re.IGNORECASE | re.DOTALL):
            return True
    return False


@module("ansible.windows.win_file")
def win_file(ctx: HostContext, args: dict) -> dict:
    path = _path_option(args, "path", "dest", "name")
    if path is None:
        return _failed("missing required argument: path")
    local = ctx.state.local_path(path)
    if args.get("_original_basename") and local.is_dir():
        path = _join(path, args["_original_basename"])
        local = ctx.state.local_path(path)
    if args.get("_diff_peek") is not None:
        return _diff_peek(path, local)
    state = args.get("state") or ("file" if PureWindowsPath(path).name else "directory")
    action = _FILE_STATES.get(state)
    if action is None:
        return _failed(f"value of state must be one of: absent, directory, file, touch, got: {state}")
    return action(ctx, path, local)


def _diff_peek(path: str, local: Path) -> dict:
    appears_binary = local.is_file() and b"\0" in local.read_bytes()[:8192]
    return {"changed": False, "path": path, "change": False, "appears_binary": appears_binary,
            "state": "file" if local.exists() else "absent"}


def _file_absent(ctx: HostContext, path: str, local: Path) -> dict:
    if not (local.exists() or local.is_symlink()):
        return {"changed": False}
    if not ctx.check_mode:
        ctx.state.remove(path)
    return {"changed": True}


def _file_directory(ctx: HostContext, path: str, local: Path) -> dict:
    if local.is_dir():
        return {"changed": False}
    if local.exists():
        return _failed(f"path {path} is not a directory")
    if not ctx.check_mode:
        ctx.state.makedirs(path)
    return {"changed": True}


def _file_file(ctx: HostContext, path: str, local: Path) -> dict:
    if local.is_dir():
        return _failed(f"path {path} is not a file")
    if not local.exists():
        return _failed(f"path {path} will not be created")
    return {"changed": False}


def _file_touch(ctx: HostContext, path: str, local: Path) -> dict:
    if local.is_dir():
        return _failed(f"path {path} is not a file")
    if not ctx.check_mode:
        if local.exists():
            os.utime(local)
        else:
            ctx.state.write_bytes(path, b"\r\n")    # what `Write-Output $null | Out-File` leaves
    return {"changed": True}


_FILE_STATES = {"absent": _file_absent, "directory": _file_directory, "file": _file_file, "touch": _file_touch}


# ---- win_copy --------------------------------------------------------------------------------
@module("ansible.windows.win_copy")
def win_copy(ctx: HostContext, args: dict) -> dict:
    mode = args.get("_copy_mode", "single")
    handler = _COPY_MODES.get(mode)
    if handler is None:
        return _failed(f"lab: win_copy _copy_mode {mode} is not simulated")
    return handler(ctx, args)


def _copy_query(ctx: HostContext, args: dict) -> dict:
    """Echo back only the entries whose destination is missing or differs (sha1)."""
    dest, force = args.get("dest") or ".", args.get("force", True)
    changed_files, changed_directories = [], []
    for entry in args.get("files") or []:
        target = _join(dest, entry["dest"])
        local = ctx.state.local_path(target)
        if local.is_dir():
            target = _join(target, PureWindowsPath(entry["src"].replace("/", "\\")).name)
            local = ctx.state.local_path(target)
        if local.is_file():
            if force and ctx.state.sha1(target) != entry.get("checksum"):
                changed_files.append(entry)
        elif local.is_dir():
            return _failed(f"cannot copy file to dest '{target}': object at path is already a directory")
        else:
            changed_files.append(entry)
    for entry in args.get("directories") or []:
        target = _join(dest, entry["dest"])
        if ctx.state.local_path(target).is_file():
            return _failed(f"cannot copy folder to dest '{target}': object at path is already a file")
        if not ctx.state.is_dir(target):
            changed_directories.append(entry)
    return {"changed": False, "files": changed_files, "directories": changed_directories, "symlinks": []}


def _copy_single(ctx: HostContext, args: dict) -> dict:
    src, dest = args["src"], args["dest"]
    if not ctx.state.local_path(src).is_file():
        return _failed(f"Cannot copy src file: '{src}' as it does not exist")
    remote_dest = dest
    if dest.endswith(("\\", "/")) or ctx.state.is_dir(dest):
        remote_dest = _join(dest, args.get("_original_basename") or PureWindowsPath(src).name)
    parent = str(PureWindowsPath(remote_dest).parent)
    if ctx.state.local_path(parent).is_file():
        return _failed(f"object at destination parent dir '{parent}' is currently a file")
    if not ctx.state.is_dir(parent) and dest == remote_dest:
        return _failed(f"Destination directory '{parent}' does not exist")
    result = {"changed": True}
    if ctx.check_mode:
        return result
    if args.get("backup") and ctx.state.exists(remote_dest):
        result["backup_file"] = _backup(ctx.state, remote_dest)
    ctx.state.write_bytes(remote_dest, ctx.state.read_bytes(src))
    return result


def _backup(state: HostState, path: str) -> str:
    backup = f"{path}.{os.getpid()}.{time.strftime('%Y%m%d-%H%M%S')}.bak"
    state.write_bytes(backup, state.read_bytes(path))
    return backup


def _copy_explode(ctx: HostContext, args: dict) -> dict:
    """The action zips entries under base64-encoded names; directories end with '/'."""
    src, dest = args["src"], args["dest"]
    if not ctx.state.local_path(src).is_file():
        return _failed(f"Cannot expand src zip file: '{src}' as it does not exist")
    if ctx.check_mode:
        return {"changed": True}
    with zipfile.ZipFile(io.BytesIO(ctx.state.read_bytes(src))) as archive:
        for entry in archive.infolist():
            is_dir = entry.filename.endswith(("/", "\\"))
            name = base64.b64decode(entry.filename.rstrip("/\\")).decode("utf-8").replace("/", "\\")
            target = _join(dest, name)
            if is_dir:
                ctx.state.makedirs(target)
            else:
                ctx.state.write_bytes(target, archive.read(entry))
    return {"changed": True}


def _copy_remote(ctx: HostContext, args: dict) -> dict:
    src, dest = args["src"], args["dest"]
    if not ctx.state.exists(src):
        return _failed(f"Cannot copy src file: '{src}' as it does not exist")
    if ctx.state.is_dir(src):
        return _failed("lab: win_copy remote_src of a folder is not simulated")
    data = ctx.state.read_bytes(src)
    remote_dest = dest
    if dest.endswith(("\\", "/")) or ctx.state.is_dir(dest):
        remote_dest = _join(dest, PureWindowsPath(src).name)
    checksum = hashlib.sha1(data).hexdigest()
    unchanged = ctx.state.local_path(remote_dest).is_file() and ctx.state.sha1(remote_dest) == checksum
    if not unchanged and not ctx.check_mode:
        ctx.state.write_bytes(remote_dest, data)
    return {"changed": not unchanged, "src": src, "dest": remote_dest, "operation": "file_copy",
            "original_basename": PureWindowsPath(src).name, "checksum": checksum, "size": len(data)}


_COPY_MODES = {"query": _copy_query, "single": _copy_single, "explode": _copy_explode, "remote": _copy_remote}


# ---- services --------------------------------------------------------------------------------
def _fault_names(ctx: HostContext, key: str) -> set[str]:
    value = (ctx.state.data.get("faults") or {}).get(key) or []
    names = [value] if isinstance(value, str) else value
    return {name.lower() for name in names}


def _find_service(ctx: HostContext, name: str) -> tuple[str, dict] | tuple[None, None]:
    for service_name, service in ctx.state.services.items():
        if service_name.lower() == name.lower():
            return service_name, service
    return None, None


@module("ansible.windows.win_service")
def win_service(ctx: HostContext, args: dict) -> dict:
    name = args.get("name")
    wanted_state, wanted_mode = args.get("state"), args.get("start_mode")
    service_name, service = _find_service(ctx, name or "")
    if service is None:
        if wanted_state in ("absent", None) and wanted_mode is None:
            return {"changed": False, "exists": False}
        return _failed(f"Service '{name}' is not installed, need to set 'path' to create a new service")
    if wanted_state == "absent":
        return _failed("lab: win_service state=absent is not simulated")
    if wanted_state not in (None, "started", "stopped", "restarted"):
        return _failed(f"lab: win_service state={wanted_state} is not simulated")
    after = dict(service)
    changed = False
    if wanted_mode is not None and after.get("start_mode") != wanted_mode:
        after["start_mode"], changed = wanted_mode, True
    if wanted_state is not None:
        failure = _service_transition_failure(ctx, service_name, after, wanted_state)
        if failure:
            return _failed(failure, name=service_name, exists=True, state=service.get("state"))
        target = "stopped" if wanted_state == "stopped" else "running"
        if wanted_state == "restarted" or after.get("state") != target:
            after["state"], changed = target, True
    if changed and not ctx.check_mode:
        service.update(after)
    return _service_result(service_name, after, changed)


def _service_transition_failure(ctx: HostContext, name: str, service: dict, wanted_state: str) -> str | None:
    """The injected faults: a service that will not stop, or will not start."""
    stopping = wanted_state == "restarted" or (wanted_state == "stopped" and service.get("state") != "stopped")
    starting = wanted_state == "restarted" or (wanted_state == "started" and service.get("state") != "running")
    if stopping and name.lower() in _fault_names(ctx, "service_wont_stop"):
        return f"Failed to stop service {name}: lab fault: the service did not stop (service_wont_stop)"
    if starting and name.lower() in _fault_names(ctx, "service_wont_start"):
        return f"Failed to start service {name}: lab fault: the service did not start (service_wont_start)"
    return None


def _service_result(name: str, service: dict, changed: bool) -> dict:
    return {
        "changed": changed,
        "exists": True,
        "name": name,
        "display_name": service.get("display_name", name),
        "state": service.get("state", "stopped"),
        "start_mode": service.get("start_mode", "manual"),
        "path": service.get("path"),
        "description": service.get("description", ""),
        "username": service.get("username", "LocalSystem"),
        "desktop_interact": False,
        "dependencies": service.get("dependencies", []),
        "depended_by": service.get("depended_by", []),
        "can_pause_and_continue": False,
    }


# ---- registry --------------------------------------------------------------------------------
# host.json keeps registry data without a type: an int is a DWord (a QWord above 0xffffffff), a str a
# String, a list of str a MultiString. Only the types the collection can ask for are simulated.
_REG_TYPES = {"dword": "DWord", "qword": "QWord", "string": "String", "expandstring": "ExpandString",
              "multistring": "MultiString"}
_REG_PATH = re.compile(r"^HK(CC|CR|CU|LM|U):\\", re.IGNORECASE)


def _reg_type_of(value) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, str, list)):
        return "Unknown"
    if isinstance(value, int):
        return "QWord" if value > 0xFFFFFFFF else "DWord"
    return "MultiString" if isinstance(value, list) else "String"


def _reg_diff_value(kind: str, value) -> dict:
    if kind == "DWord":
        return {"type": kind, "value": f"0x{value & 0xFFFFFFFF:08x}"}
    if kind == "QWord":
        return {"type": kind, "value": f"0x{value & 0xFFFFFFFFFFFFFFFF:016x}"}
    return {"type": kind, "value": value}


def _reg_data(kind: str, data):
    """The module's conversion of ``data`` for ``type`` (None for dword/qword is 0)."""
    if kind in ("DWord", "QWord"):
        limit = 0xFFFFFFFF if kind == "DWord" else 0xFFFFFFFFFFFFFFFF
        try:
            number = 0 if data is None else int(str(data), 0) if isinstance(data, str) else int(data)
        except (TypeError, ValueError):
            raise LabUnsupported(f"win_regedit data {data!r} is not a number for type {kind}") from None
        if isinstance(data, float) and data % 1:
            raise LabUnsupported(f"data '{data}' cannot be a decimal or float value with a remainder")
        if not 0 <= number <= limit:
            raise LabUnsupported(f"data cannot be larger than 0x{limit:x} when type is {kind.lower()}")
        return number
    if kind == "MultiString":
        return [] if data is None else [str(item) for item in data] if isinstance(data, list) else [str(data)]
    return "" if data is None else str(data)


def _reg_key(state: HostState, path: str) -> tuple[str, dict | None, bool]:
    """(stored name or path, values or None, exists): a key exists if stored or a parent of a stored key."""
    wanted = path.replace(":", "", 1).rstrip("\\")
    values = state.registry_key(wanted)
    if values is not None:
        stored = next(name for name in state.data.get("registry", {}) if name.lower() == wanted.lower())
        return stored, values, True
    prefix = wanted.lower() + "\\"
    exists = any(name.lower().startswith(prefix) for name in state.data.get("registry", {}))
    return wanted, None, exists


@module("ansible.windows.win_regedit")
def win_regedit(ctx: HostContext, args: dict) -> dict:
    path = args.get("path") or args.get("key")
    name = args.get("name", args.get("entry", args.get("value")))
    name = None if name == "" else name
    kind = _REG_TYPES.get(str(args.get("type") or args.get("datatype") or "string").lower())
    wanted_state = args.get("state") or "present"
    if not path:
        return _failed("missing required arguments: path")
    if args.get("hive"):
        return _failed("lab: win_regedit hive is not simulated")
    if kind is None:
        return _failed(f"lab: win_regedit type={args.get('type')} is not simulated")
    if wanted_state not in ("present", "absent"):
        return _failed(f"value of state must be one of: present, absent, got: {wanted_state}")
    if not _REG_PATH.match(path):
        return _failed(f"path: {path} is not a valid powershell path, see module documentation for examples.")
    if name is None and kind != "String":
        kind = "String"      # the (Default) value can only be a string
    result = {"changed": False, "data_changed": False, "data_type_changed": False}
    before, after = _regedit_absent(ctx, path, name, args, result) if wanted_state == "absent" else \
        _regedit_present(ctx, path, name, kind, args, result)
    if ctx.diff:
        result["diff"] = {"before": before, "after": after}
    return result


def _value_name(values: dict | None, name: str) -> str | None:
    """The stored spelling of a value name (registry value names are case-insensitive)."""
    return next((stored for stored in (values or {}) if stored.lower() == name.lower()), None)


def _regedit_present(ctx: HostContext, path: str, name, kind: str, args: dict, result: dict):
    stored_key, values, exists = _reg_key(ctx.state, path)
    if not exists:
        result["changed"] = True
        before, after = {}, {path: {}}
        if not ctx.check_mode:
            ctx.state.data.setdefault("registry", {})[stored_key] = {}
    else:
        before, after = {path: {}}, {path: {}}
    if (not exists and ctx.check_mode) or (name is None and args.get("data") is None):
        return before, after     # the module stops here too: no key to read yet, or nothing to set
    data = _reg_data(kind, args.get("data"))
    value_key = "" if name is None else name
    stored_name = _value_name(values, value_key)
    if stored_name is not None:
        existing = values[stored_name]
        existing_kind = _reg_type_of(existing)
        result["data_type_changed"] = existing_kind != kind
        result["data_changed"] = existing != data
        if result["data_type_changed"] or result["data_changed"]:
            result["changed"] = True
            before[path][name] = _reg_diff_value(existing_kind, existing)
            after[path][name] = _reg_diff_value(kind, data)
            if not ctx.check_mode:
                ctx.state.set_registry_value(stored_key, stored_name, data)
        else:
            before[path][name] = after[path][name] = _reg_diff_value(existing_kind, existing)
    else:
        result["changed"] = True
        after[path][name] = _reg_diff_value(kind, data)
        if not ctx.check_mode:
            ctx.state.set_registry_value(stored_key, value_key, data)
    return before, after


def _regedit_absent(ctx: HostContext, path: str, name, args: dict, result: dict):
    stored_key, values, exists = _reg_key(ctx.state, path)
    if not exists:
        return "", ""
    if name is None and args.get("delete_key", True):
        result["changed"] = True
        if not ctx.check_mode:
            registry = ctx.state.data.get("registry", {})
            prefix = stored_key.lower() + "\\"
            for stored in [k for k in registry if k.lower() == stored_key.lower() or k.lower().startswith(prefix)]:
                del registry[stored]
        return {path: {}}, {}
    stored_name = _value_name(values, "" if name is None else name)
    if stored_name is None:
        return "", ""
    result["changed"] = True
    before = {path: {name: _reg_diff_value(_reg_type_of(values[stored_name]), values[stored_name])}}
    if not ctx.check_mode:
        del values[stored_name]
    return before, {path: {}}


# ---- programs --------------------------------------------------------------------------------
def _split_command_line(command_line: str) -> list[str]:
    """Windows-style split, enough for `"C:\\Path With Spaces\\x.exe" /q /z`: quotes group, backslashes stay."""
    lexer = shlex.shlex(command_line, posix=True)
    lexer.whitespace_split = True
    lexer.escape = ""
    return list(lexer)


def _run_program(ctx: HostContext, argv: list[str]) -> tuple[int, str, str] | str:
    """(rc, stdout, stderr) from the registered program, or the message saying it is not simulated."""
    program = PureWindowsPath(argv[0]).name.lower() if argv else ""
    handler = COMMAND_HANDLERS.get(program)
    if handler is None:
        return f"lab: program {program or '(none)'} is not simulated"
    return handler(ctx, argv)


@module("ansible.windows.win_command")
def win_command(ctx: HostContext, args: dict) -> dict:
    if ctx.check_mode:
        # supports_check_mode = $false: Ansible.Basic skips the module without running it.
        return {"changed": False, "skipped": True,
                "msg": "remote module (win_command) does not support check mode"}
    if args.get("argv"):
        argv = [str(item) for item in args["argv"]]
        command_line = " ".join(f'"{item}"' if " " in item else item for item in argv)
    else:
        command_line = str(args.get("cmd") or args.get("_raw_params") or "").strip()
        argv = _split_command_line(command_line)
    skipped = _creates_removes_skip(ctx, args)
    if skipped:
        return {"changed": False, "skipped": True, "msg": skipped, "cmd": command_line, "rc": 0}
    outcome = _run_program(ctx, argv)
    if isinstance(outcome, str):
        return _failed(outcome, cmd=command_line, rc=2)
    rc, stdout, stderr = outcome
    result = {"changed": True, "cmd": command_line, "rc": rc, "stdout": stdout, "stderr": stderr,
              "stdout_lines": stdout.splitlines(), "stderr_lines": stderr.splitlines()}
    if rc != 0:
        result.update(failed=True, msg="non-zero return code")
    return result


def _creates_removes_skip(ctx: HostContext, args: dict) -> str | None:
    if args.get("creates") and ctx.state.exists(args["creates"]):
        return f"skipped, since {args['creates']} exists"
    if args.get("removes") and not ctx.state.exists(args["removes"]):
        return f"skipped, since {args['removes']} does not exist"
    return None


@module("ansible.windows.win_package")
def win_package(ctx: HostContext, args: dict) -> dict:
    if (args.get("state") or "present") != "present":
        return _failed("lab: win_package state=absent is not simulated")
    path = args.get("path")
    if not path:
        return _failed("state is present but all of the following are missing: path")
    if _package_installed(ctx, args):
        return {"changed": False, "rc": 0, "reboot_required": False}
    if ctx.check_mode:
        return {"changed": True, "rc": 0, "reboot_required": False}
    arguments = args.get("arguments") or []
    argv = [str(path)] + (_split_command_line(arguments) if isinstance(arguments, str) else [str(a) for a in arguments])
    outcome = _run_program(ctx, argv)
    if isinstance(outcome, str):
        return _failed(outcome, rc=2)
    rc, stdout, stderr = outcome
    expected = [int(code) for code in (args.get("expected_return_code") or [0, 3010])]
    result = {"changed": True, "rc": rc, "reboot_required": rc == 3010}
    if rc not in expected:
        result.update(failed=True, stdout=stdout, stderr=stderr,
                      msg=f"unexpected rc from '{' '.join(argv)}': see rc, stdout, and stderr for more details")
    return result


def _package_installed(ctx: HostContext, args: dict) -> bool:
    """The same tests as the real module: product_id, then creates_path(+version), then creates_service."""
    installed = False
    if args.get("product_id"):
        installed = ctx.state.registry_key(f"{UNINSTALL_KEY}\\{args['product_id']}") is not None
    if args.get("creates_path"):
        installed = ctx.state.exists(args["creates_path"])
        if installed and args.get("creates_version"):
            installed = ctx.state.file_version(args["creates_path"]) == args["creates_version"]
    if args.get("creates_service"):
        installed = _find_service(ctx, args["creates_service"])[1] is not None
    return installed


# ---- win_powershell --------------------------------------------------------------------------
@module("ansible.windows.win_powershell")
def win_powershell(ctx: HostContext, args: dict) -> dict:
    text = args.get("script") or ""
    name = script_name(text)
    ctx.notes["script"] = name
    if ctx.check_mode and "SupportsShouldProcess" not in text:
        return {**_empty_streams(), "changed": True, "msg": "skipped, running in check mode"}
    handler = SCRIPT_HANDLERS.get(name) if name else None
    if handler is None:
        first_line = text.strip().splitlines()[0] if text.strip() else "(empty script)"
        return _script_failed(f"lab: script not simulated: {name or first_line!r}")
    try:
        result, changed = handler(ctx, dict(args.get("parameters") or {}), script_text=text)
    except ScriptError as exc:
        return _script_failed(str(exc))
    return {**_empty_streams(), "changed": bool(changed), "result": result, "failed": False}


def _empty_streams() -> dict:
    return {"output": [], "error": [], "host_out": "", "host_err": "", "warning": [],
            "verbose": [], "debug": [], "information": [], "result": {}}


def _script_failed(message: str) -> dict:
    error = {"output": message, "error_details": None, "exception": {"message": message, "type": "lab.ScriptError"},
             "target_object": None, "category_info": {"category": "NotSpecified", "reason": "ScriptError"},
             "fully_qualified_error_id": "lab.ScriptError", "script_stack_trace": ""}
    return {**_empty_streams(), "changed": False, "failed": True, "msg": message, "error": [error]}
