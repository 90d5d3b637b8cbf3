"""win_copy: the action plugin's query, single-file, zip-explode and remote_src modes."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import time
import zipfile
from pathlib import PureWindowsPath

from smslab.handlers import HostContext, module
from smslab.handlers.generic.common import failed, join_windows
from smslab.state import HostState


@module("ansible.windows.win_copy")
def win_copy(ctx: HostContext, args: dict) -> dict:
    mode = args.get("_copy_mode", "single")
    handler = _COPY_MODES.get(mode)
    if handler is None:
        return failed(f"lab: win_copy _copy_mode {mode} is not simulated")
    return handler(ctx, args)


def _copy_query(ctx: HostContext, args: dict) -> dict:
    """Echo back only the entries whose destination is missing or differs (sha1)."""
    dest, force = args.get("dest") or ".", args.get("force", True)
    changed_files, changed_directories = [], []
    for entry in args.get("files") or []:
        target = join_windows(dest, entry["dest"])
        local = ctx.state.local_path(target)
        if local.is_dir():
            target = join_windows(target, PureWindowsPath(entry["src"].replace("/", "\\")).name)
            local = ctx.state.local_path(target)
        if local.is_file():
            if force and ctx.state.sha1(target) != entry.get("checksum"):
                changed_files.append(entry)
        elif local.is_dir():
            return failed(f"cannot copy file to dest '{target}': object at path is already a directory")
        else:
            changed_files.append(entry)
    for entry in args.get("directories") or []:
        target = join_windows(dest, entry["dest"])
        if ctx.state.local_path(target).is_file():
            return failed(f"cannot copy folder to dest '{target}': object at path is already a file")
        if not ctx.state.is_dir(target):
            changed_directories.append(entry)
    return {"changed": False, "files": changed_files, "directories": changed_directories, "symlinks": []}


def _copy_single(ctx: HostContext, args: dict) -> dict:
    src, dest = args["src"], args["dest"]
    if not ctx.state.local_path(src).is_file():
        return failed(f"Cannot copy src file: '{src}' as it does not exist")
    remote_dest = dest
    if dest.endswith(("\\", "/")) or ctx.state.is_dir(dest):
        remote_dest = join_windows(dest, args.get("_original_basename") or PureWindowsPath(src).name)
    parent = str(PureWindowsPath(remote_dest).parent)
    if ctx.state.local_path(parent).is_file():
        return failed(f"object at destination parent dir '{parent}' is currently a file")
    if not ctx.state.is_dir(parent) and dest == remote_dest:
        return failed(f"Destination directory '{parent}' does not exist")
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
        return failed(f"Cannot expand src zip file: '{src}' as it does not exist")
    if ctx.check_mode:
        return {"changed": True}
    with zipfile.ZipFile(io.BytesIO(ctx.state.read_bytes(src))) as archive:
        for entry in archive.infolist():
            is_dir = entry.filename.endswith(("/", "\\"))
            name = base64.b64decode(entry.filename.rstrip("/\\")).decode("utf-8").replace("/", "\\")
            target = join_windows(dest, name)
            if is_dir:
                ctx.state.makedirs(target)
            else:
                ctx.state.write_bytes(target, archive.read(entry))
    return {"changed": True}


def _copy_remote(ctx: HostContext, args: dict) -> dict:
    src, dest = args["src"], args["dest"]
    if not ctx.state.exists(src):
        return failed(f"Cannot copy src file: '{src}' as it does not exist")
    if ctx.state.is_dir(src):
        return failed("lab: win_copy remote_src of a folder is not simulated")
    data = ctx.state.read_bytes(src)
    remote_dest = dest
    if dest.endswith(("\\", "/")) or ctx.state.is_dir(dest):
        remote_dest = join_windows(dest, PureWindowsPath(src).name)
    checksum = hashlib.sha1(data).hexdigest()
    unchanged = ctx.state.local_path(remote_dest).is_file() and ctx.state.sha1(remote_dest) == checksum
    if not unchanged and not ctx.check_mode:
        ctx.state.write_bytes(remote_dest, data)
    return {"changed": not unchanged, "src": src, "dest": remote_dest, "operation": "file_copy",
            "original_basename": PureWindowsPath(src).name, "checksum": checksum, "size": len(data)}


_COPY_MODES = {"query": _copy_query, "single": _copy_single, "explode": _copy_explode, "remote": _copy_remote}
