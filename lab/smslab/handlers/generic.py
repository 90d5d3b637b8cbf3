"""The ansible.windows modules the lab answers, reduced to what the collection and its tests use.

Each handler returns the JSON dict the real module would print (same keys), honours check mode by
changing nothing, and fails loudly when asked for something it does not simulate.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import shlex
import time
import zipfile
from pathlib import Path, PureWindowsPath

from smslab.handlers import (COMMAND_HANDLERS, SCRIPT_HANDLERS, HostContext, ScriptError, module,
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


def _checksum(data: bytes, algorithm: str) -> str:
    return hashlib.new(algorithm, data).hexdigest()


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
        if args.get("get_size", True):
            stat["size"] = info.st_size
        if args.get("get_checksum", True):
            stat["checksum"] = _checksum(local.read_bytes(), algorithm)
    return stat


@module("ansible.windows.slurp")
def slurp(ctx: HostContext, args: dict) -> dict:
    path = _path_option(args, "src", "path")
    local = ctx.state.local_path(path)
    if local.is_dir():
        return _failed(f"Path {path} is a directory")
    if not local.is_file():
        return _failed(f"Path {path} is not found")
    return {"changed": False, "content": base64.b64encode(local.read_bytes()).decode("ascii"),
            "encoding": "base64"}


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
        result, changed = handler(ctx, dict(args.get("parameters") or {}))
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
