"""win_stat, slurp, win_find (one folder level) and win_file over the host's simulated drives."""

from __future__ import annotations

import base64
import fnmatch
import os
import re
from pathlib import Path, PureWindowsPath

from smslab.handlers import HostContext, LabUnsupported, module
from smslab.handlers.generic.common import failed, join_windows, path_option, stat_of

CHECKSUM_ALGORITHMS = {"md5", "sha1", "sha256", "sha384", "sha512"}


@module("ansible.windows.win_stat")
def win_stat(ctx: HostContext, args: dict) -> dict:
    path = path_option(args, "path", "dest", "name")
    algorithm = str(args.get("checksum_algorithm") or "sha1").lower()
    if algorithm not in CHECKSUM_ALGORITHMS:
        return failed(f"value of checksum_algorithm must be one of: {', '.join(sorted(CHECKSUM_ALGORITHMS))}, "
                      f"got: {algorithm}")
    local = ctx.state.local_path(path)
    if not (local.exists() or local.is_symlink()):
        return {"changed": False, "stat": {"exists": False}}
    return {"changed": False, "stat": stat_of(ctx.state, local, args, algorithm)}


@module("ansible.windows.slurp")
@module("ansible.builtin.slurp")
def slurp(ctx: HostContext, args: dict) -> dict:
    path = path_option(args, "src", "path")
    local = ctx.state.local_path(path)
    if local.is_dir():
        return failed(f"Path {path} is a directory")
    if not local.is_file():
        return failed(f"Path {path} is not found")
    return {"changed": False, "content": base64.b64encode(ctx.state.read_bytes(path)).decode("ascii"),
            "encoding": "base64"}


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
            entry = stat_of(ctx.state, child, {"get_checksum": get_checksum, "get_size": not is_dir}, algorithm)
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
    path = path_option(args, "path", "dest", "name")
    if path is None:
        return failed("missing required argument: path")
    local = ctx.state.local_path(path)
    if args.get("_original_basename") and local.is_dir():
        path = join_windows(path, args["_original_basename"])
        local = ctx.state.local_path(path)
    if args.get("_diff_peek") is not None:
        return _diff_peek(path, local)
    state = args.get("state") or ("file" if PureWindowsPath(path).name else "directory")
    action = _FILE_STATES.get(state)
    if action is None:
        return failed(f"value of state must be one of: absent, directory, file, touch, got: {state}")
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
        return failed(f"path {path} is not a directory")
    if not ctx.check_mode:
        ctx.state.makedirs(path)
    return {"changed": True}


def _file_file(ctx: HostContext, path: str, local: Path) -> dict:
    if local.is_dir():
        return failed(f"path {path} is not a file")
    if not local.exists():
        return failed(f"path {path} will not be created")
    return {"changed": False}


def _file_touch(ctx: HostContext, path: str, local: Path) -> dict:
    if local.is_dir():
        return failed(f"path {path} is not a file")
    if not ctx.check_mode:
        if local.exists():
            os.utime(local)
        else:
            ctx.state.write_bytes(path, b"\r\n")    # what `Write-Output $null | Out-File` leaves
    return {"changed": True}


_FILE_STATES = {"absent": _file_absent, "directory": _file_directory, "file": _file_file, "touch": _file_touch}
