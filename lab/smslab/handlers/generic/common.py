"""What the lab's ansible.windows twins share: the failure dict, option and path helpers, a file's win_stat
dict (win_stat and win_find) and the service lookup (win_service and win_package)."""

from __future__ import annotations

from pathlib import Path, PureWindowsPath

from smslab.handlers import HostContext
from smslab.state import HostState


def failed(msg: str, **extra) -> dict:
    return {"failed": True, "changed": False, "msg": msg, **extra}


def path_option(args: dict, *names: str) -> str | None:
    for name in names:
        if args.get(name):
            return str(args[name])
    return None


def join_windows(directory: str, child: str) -> str:
    return str(PureWindowsPath(directory) / child)


def windows_path_of(state: HostState, local: Path) -> str:
    """Inverse of HostState.local_path: ``<root>/fs/C/A/B`` -> ``C:\\A\\B``."""
    drive, *parts = local.relative_to(state.fs_root).parts
    return f"{drive}:\\" + "\\".join(parts)


def stat_of(state: HostState, local: Path, args: dict, algorithm: str) -> dict:
    follow = bool(args.get("follow"))
    is_link = local.is_symlink()
    info = local.stat() if (follow or not is_link) else local.lstat()
    is_dir = local.is_dir() if (follow or not is_link) else False
    stat = {
        "exists": True,
        "path": windows_path_of(state, local),
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
        target = windows_path_of(state, local.resolve())
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


def fault_names(ctx: HostContext, key: str) -> set[str]:
    value = (ctx.state.data.get("faults") or {}).get(key) or []
    names = [value] if isinstance(value, str) else value
    return {name.lower() for name in names}


def find_service(ctx: HostContext, name: str) -> tuple[str, dict] | tuple[None, None]:
    for service_name, service in ctx.state.services.items():
        if service_name.lower() == name.lower():
            return service_name, service
    return None, None
