"""One remote command on a lab host: what Ansible's WinRM connection sends on stdin (the exec wrapper with a
module, put/fetch file, mkdtemp, expand user) or on the command line (the temp folder cleanup), and its
``CommandOutcome``. A raw command or an unknown exec action fails loudly with its name."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import traceback
from dataclasses import dataclass
from typing import Protocol

from smslab import payload
from smslab.handlers import MODULE_HANDLERS, SCRIPT_HANDLERS, HostContext, LabUnsupported, ScriptError, script_name
from smslab.state import HostState, LabPathError


class CommandHost(Protocol):
    """What a command needs of its host (``lab_host.LabHost`` is one): named here rather than imported, so that
    lab_host imports this module and not the other way round."""

    name: str
    user: str
    state: HostState

    @property
    def faults(self) -> dict: ...

    def make_temp_dir(self, directory: str, name: str) -> str: ...

    def remove_temp_dir(self, path: str) -> None: ...


_CLEANUP_SCRIPT = re.compile(r"^\s*Remove-Item\s+(?P<path>'(?:[^']|'')*'|\S+)\s+-Force(?:\s+-Recurse)?\s*$",
                             re.IGNORECASE)


@dataclass
class CommandOutcome:
    """What one remote command printed, plus the name it is logged under."""

    rc: int
    stdout: bytes = b""
    stderr: bytes = b""
    name: str = ""                      # module FQCN or exec action, "raw", "cleanup" or "standalone"
    script: str | None = None           # marker name when win_powershell ran a collection script
    check_mode: bool | None = None      # a module run: whether Ansible sent it in check mode
    drop_connection: bool = False       # fault: close the TCP connection instead of replying

    @classmethod
    def text(cls, rc: int, stdout: str = "", stderr: str = "", **names) -> "CommandOutcome":
        return cls(rc=rc, stdout=_line(stdout), stderr=_line(stderr), **names)


def _line(text: str) -> bytes:
    return (text + "\r\n").encode("utf-8") if text else b""


def run_remote_command(host: CommandHost, command_line: str, stdin: bytes) -> CommandOutcome:
    try:
        if not stdin:
            return _run_plain_script(host, command_line)
        request = payload.parse_exec_payload(stdin)
    except payload.PayloadError as exc:
        return CommandOutcome.text(1, stderr=f"lab: {exc}", name="invalid")
    runner = _EXEC_ACTIONS.get(request.action)
    if runner is None:
        return CommandOutcome.text(1, stderr=f"lab: exec action not simulated: {request.action}",
                                   name=request.action)
    try:
        return runner(host, request)
    except (LabPathError, FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
        return CommandOutcome.text(1, stderr=f"lab: {request.action}: {exc}", name=request.action)


def _run_plain_script(host: CommandHost, command_line: str) -> CommandOutcome:
    """No stdin: the tmp-dir cleanup, or a raw command (which the lab refuses loudly)."""
    script = payload.encoded_script(command_line)
    cleanup = _CLEANUP_SCRIPT.match(script or "")
    if cleanup:
        host.remove_temp_dir(_unquote_pwsh(cleanup.group("path")))
        return CommandOutcome(rc=0, name="cleanup")
    standalone = _STANDALONE.match(script or "")
    if standalone:
        return _run_standalone(host, standalone.group("body"), standalone.group("arguments"))
    shown = (script if script is not None else command_line).strip()
    return CommandOutcome.text(1, stderr=f"lab: raw command not simulated: {shown}", name="raw")


# A collection script run by itself (plugins/plugin_utils/_scripts.py standalone_command): the script as sent in
# a script block, called with -Name:literal arguments (quoted strings, integers, $true / $false).
_STANDALONE = re.compile(r"\A& \{\n(?P<body>.*)\n\} (?P<arguments>.*?)\s*\Z", re.DOTALL)
_ARGUMENT = re.compile(r"-(?P<name>[A-Za-z]\w*):(?:'(?P<text>(?:[^']|'')*)'|(?P<number>-?\d+)|\$(?P<flag>true|false))"
                       r"(?:\s+|\Z)", re.IGNORECASE)


def _run_standalone(host: CommandHost, body: str, arguments: str) -> CommandOutcome:
    name = script_name(body)
    handler = SCRIPT_HANDLERS.get(name) if name else None
    if handler is None:
        return CommandOutcome.text(1, stderr=f"lab: standalone script not simulated: {name or body[:60]!r}",
                                   name="raw")
    parameters, position = {}, 0
    while position < len(arguments):
        match = _ARGUMENT.match(arguments, position)
        if not match:
            return CommandOutcome.text(1, stderr=f"lab: {name}: cannot read the arguments at {arguments[position:]!r}",
                                       name="standalone", script=name)
        value = (match.group("text").replace("''", "'") if match.group("text") is not None
                 else int(match.group("number")) if match.group("number") is not None
                 else match.group("flag").lower() == "true")
        parameters[match.group("name")] = value
        position = match.end()
    ctx = HostContext(name=host.name, state=host.state)
    with host.state.lock:
        try:
            result, _changed = handler(ctx, parameters, script_text=body)
        except ScriptError as exc:
            return CommandOutcome.text(1, stderr=str(exc), name="standalone", script=name)
    return CommandOutcome.text(0, json.dumps(result, default=str), name="standalone", script=name)


def _unquote_pwsh(argument: str) -> str:
    if len(argument) >= 2 and argument[0] == argument[-1] == "'":
        argument = argument[1:-1].replace("''", "'")
    return argument.removesuffix("\\.").rstrip("\\")


def _run_module(host: CommandHost, request: payload.ExecRequest) -> CommandOutcome:
    fqcn = request.module_fqcn or "?"
    ctx = HostContext(name=host.name, state=host.state, check_mode=request.check_mode, diff=request.diff)
    result = _call_module_handler(ctx, fqcn, request.module_args)
    result.setdefault("changed", False)
    script = ctx.notes.get("script")
    drop_after = _as_list(host.faults.get("drop_connection_after"))
    return CommandOutcome(
        rc=1 if result.get("failed") else 0,
        stdout=_line(json.dumps(result, default=str)),
        name=fqcn,
        script=script,
        check_mode=request.check_mode,
        # A twin killed mid-run (fault cut_after_step) sets connection_cut: the client gets no reply.
        drop_connection=bool({fqcn, script} & set(drop_after)) or bool(ctx.notes.get("connection_cut")),
    )


def _call_module_handler(ctx: HostContext, fqcn: str, args: dict) -> dict:
    handler = MODULE_HANDLERS.get(fqcn)
    if handler is None:
        return {"failed": True, "changed": False, "msg": f"lab: module {fqcn} is not simulated"}
    state = ctx.state
    with state.lock:
        before = _snapshot(state.data)
        try:
            result = handler(ctx, args)
        except (LabUnsupported, LabPathError) as exc:
            result = {"failed": True, "changed": False, "msg": f"lab: {fqcn}: {exc}"}
        except Exception as exc:      # a handler bug must show up as a failed task, not a hang
            result = {"failed": True, "changed": False, "msg": f"lab: handler for {fqcn} crashed: {exc!r}",
                      "exception": traceback.format_exc()}
        # Check mode must leave host.json untouched, even an identical rewrite.
        if not ctx.check_mode and _snapshot(state.data) != before:
            state.save()
    return result


def _snapshot(data: dict) -> str:
    return json.dumps(data, sort_keys=True, default=str)


def _as_list(value) -> list:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _put_file(host: CommandHost, request: payload.ExecRequest) -> CommandOutcome:
    name = request.action
    if host.faults.get("copy_fails"):
        return CommandOutcome.text(1, stderr="lab fault: copy failed", name=name)
    data = payload.decode_put_file_data(request.extra)
    host.state.write_bytes(request.params["Path"], data)
    return CommandOutcome.text(0, json.dumps({"sha1": hashlib.sha1(data).hexdigest()}), name=name)


def _fetch_file(host: CommandHost, request: payload.ExecRequest) -> CommandOutcome:
    name, path = request.action, request.params["Path"]
    local = host.state.local_path(path)
    if local.is_dir():
        return CommandOutcome.text(0, "[DIR]", name=name)
    if not local.is_file():
        return CommandOutcome.text(1, stderr=f"{path} does not exist", name=name)
    offset, size = int(request.params.get("Offset", 0)), int(request.params.get("BufferSize", 524288))
    with host.state.open_read(path) as handle:      # generated files include their shared part
        handle.seek(offset)
        block = handle.read(size)
    return CommandOutcome.text(0, base64.b64encode(block).decode("ascii"), name=name)


def _mkdtemp(host: CommandHost, request: payload.ExecRequest) -> CommandOutcome:
    path = host.make_temp_dir(request.params.get("Directory", "%TEMP%"), request.params["Name"])
    return CommandOutcome.text(0, path, name=request.action)


def _expand_user(host: CommandHost, request: payload.ExecRequest) -> CommandOutcome:
    path, profile = request.params.get("Path", "~"), f"C:\\Users\\{host.user}"
    if path == "~":
        path = profile
    elif path.startswith("~\\"):
        path = profile + path[1:]
    return CommandOutcome.text(0, path, name=request.action)


_EXEC_ACTIONS = {
    payload.MODULE_WRAPPER: _run_module,
    "winrm_put_file.ps1": _put_file,
    "winrm_fetch_file.ps1": _fetch_file,
    "powershell_mkdtemp.ps1": _mkdtemp,
    "powershell_expand_user.ps1": _expand_user,
}
