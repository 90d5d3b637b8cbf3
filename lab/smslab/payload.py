"""Decode what Ansible sends to a WinRM host: the command line and the stdin exec payload.

Shell-plugin commands run ``powershell ... -EncodedCommand <base64 UTF-16-LE>``. For modules and
helper scripts that script is the stock bootstrap wrapper and the real work is described on stdin:
``BOOTSTRAP_JSON`` + separator + ``EXEC_MANIFEST_JSON`` [+ separator + extra input]. The last
action of the manifest says what to do (see ../shared/notes/winrm-wire.md section 2).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field

PAYLOAD_SEPARATOR = b"\n\0\0\0\0\n"
MODULE_WRAPPER = "module_wrapper.ps1"

_ENCODED_COMMAND = re.compile(r"-(?:EncodedCommand|enc|e|ec)\s+(?P<b64>[A-Za-z0-9+/=]+)", re.IGNORECASE)
_MODULE_SCRIPT = re.compile(r"^ansible_collections\.(?P<fqcn>.+)\.plugins\.modules\.(?P<name>[^.]+)\.ps1$")


class PayloadError(ValueError):
    """Stdin that is not an Ansible exec payload the lab understands."""


@dataclass
class ExecRequest:
    """The last action of an exec manifest, with module details when it runs a module."""

    action: str                                 # e.g. "module_wrapper.ps1", "winrm_put_file.ps1"
    params: dict
    module_fqcn: str | None = None              # only for module_wrapper.ps1
    module_args: dict = field(default_factory=dict)     # user options, no _ansible_* keys
    ansible_flags: dict = field(default_factory=dict)   # _ansible_check_mode -> check_mode, ...
    extra: bytes = b""                          # input after the manifest (put_file data)

    @property
    def check_mode(self) -> bool:
        return bool(self.ansible_flags.get("check_mode"))

    @property
    def diff(self) -> bool:
        return bool(self.ansible_flags.get("diff"))


def encoded_script(command_line: str) -> str | None:
    """The PowerShell text behind ``-EncodedCommand`` (UTF-16-LE), or None when there is none."""
    match = _ENCODED_COMMAND.search(command_line)
    if not match:
        return None
    try:
        return base64.b64decode(match.group("b64")).decode("utf-16-le")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise PayloadError(f"undecodable -EncodedCommand: {exc}") from exc


def split_stdin(stdin: bytes) -> tuple[dict, dict, bytes]:
    """stdin -> (bootstrap, manifest, extra input); extra is b"" when nothing follows."""
    parts = stdin.split(PAYLOAD_SEPARATOR, 2)
    if len(parts) < 2:
        raise PayloadError("stdin has no exec manifest (separator missing)")
    try:
        bootstrap = json.loads(parts[0])
        manifest = json.loads(parts[1])
    except json.JSONDecodeError as exc:
        raise PayloadError(f"exec payload is not JSON: {exc}") from exc
    extra = parts[2] if len(parts) == 3 else b""
    return bootstrap, manifest, extra


def module_fqcn(script_param: str) -> str:
    """``ansible_collections.ansible.windows.plugins.modules.win_ping.ps1`` -> ``ansible.windows.win_ping``."""
    match = _MODULE_SCRIPT.match(script_param or "")
    if not match:
        # Builtin modules are not under ansible_collections; keep the bare name so the
        # "not simulated" message still names it.
        return (script_param or "").removesuffix(".ps1")
    return f"{match.group('fqcn')}.{match.group('name')}"


def split_ansible_keys(complex_args: dict) -> tuple[dict, dict]:
    """Separate the user's options from the ``_ansible_*`` keys (``_ansible_check_mode`` -> ``check_mode``)."""
    options, flags = {}, {}
    for key, value in complex_args.items():
        if key.startswith("_ansible_"):
            flags[key.removeprefix("_ansible_")] = value
        else:
            options[key] = value
    return options, flags


def complex_args_of(params: dict) -> dict:
    for variable in params.get("Variables") or []:
        if variable.get("Name") == "complex_args":
            return variable.get("Value") or {}
    return {}


def parse_exec_payload(stdin: bytes) -> ExecRequest:
    _bootstrap, manifest, extra = split_stdin(stdin)
    actions = manifest.get("actions") or []
    if not actions:
        raise PayloadError("exec manifest has no actions")
    last = actions[-1]
    request = ExecRequest(action=last.get("name", ""), params=last.get("params") or {}, extra=extra)
    if request.action == MODULE_WRAPPER:
        request.module_fqcn = module_fqcn(request.params.get("Script", ""))
        request.module_args, request.ansible_flags = split_ansible_keys(complex_args_of(request.params))
    return request


def decode_put_file_data(extra: bytes) -> bytes:
    """put_file sends each piece as ``base64(piece) + CRLF``: decode every line and join."""
    pieces = []
    for line in extra.split(b"\r\n"):
        line = line.strip()
        if line:
            try:
                pieces.append(base64.b64decode(line, validate=True))
            except binascii.Error as exc:
                raise PayloadError(f"put_file data is not base64: {exc}") from exc
    return b"".join(pieces)
