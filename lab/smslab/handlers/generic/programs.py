"""win_command and win_package: the programs registered in COMMAND_HANDLERS (for example q244405.exe)."""

from __future__ import annotations

import shlex
from pathlib import PureWindowsPath

from smslab.handlers import COMMAND_HANDLERS, HostContext, module
from smslab.handlers.generic.common import failed, find_service

UNINSTALL_KEY = "HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall"


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
        return failed(outcome, cmd=command_line, rc=2)
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
        return failed("lab: win_package state=absent is not simulated")
    path = args.get("path")
    if not path:
        return failed("state is present but all of the following are missing: path")
    if _package_installed(ctx, args):
        return {"changed": False, "rc": 0, "reboot_required": False}
    if ctx.check_mode:
        return {"changed": True, "rc": 0, "reboot_required": False}
    arguments = args.get("arguments") or []
    argv = [str(path)] + (_split_command_line(arguments) if isinstance(arguments, str) else [str(a) for a in arguments])
    outcome = _run_program(ctx, argv)
    if isinstance(outcome, str):
        return failed(outcome, rc=2)
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
        installed = find_service(ctx, args["creates_service"])[1] is not None
    return installed
