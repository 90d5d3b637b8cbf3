"""Registries of what the lab can answer. Handler modules register themselves on import.

- ``MODULE_HANDLERS[fqcn](ctx, args) -> dict``: a module's JSON result (``args`` are the module
  options without the ``_ansible_*`` keys; ``ctx.check_mode`` / ``ctx.diff`` carry those).
- ``SCRIPT_HANDLERS[name](ctx, parameters, script_text=None) -> (result: dict, changed: bool)``: a
  collection script run by ``ansible.windows.win_powershell``, chosen by the marker on its first line
  (``# sms.remediation:<name> v1``). The parameters are bound to the script's own param() block first,
  as PowerShell binds them (``ps_binding``); a twin raises ``ScriptError`` for a terminating error.
- ``COMMAND_HANDLERS[exe_basename_lower](ctx, argv) -> (rc, stdout, stderr)``: programs that
  ``win_command`` / ``win_package`` may run (for example ``q244405.exe``).
Anything not registered fails loudly with its name, so the lab never passes a test by accident.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

from smslab.state import HostState

MODULE_HANDLERS: dict[str, Callable] = {}
SCRIPT_HANDLERS: dict[str, Callable] = {}
COMMAND_HANDLERS: dict[str, Callable] = {}

SCRIPT_MARKER = re.compile(r"^\ufeff?#\s*sms\.remediation:(?P<name>[a-z_]+)\s+v(?P<version>\d+)")


class ScriptError(Exception):
    """A terminating error inside a simulated script (win_powershell reports it as failed)."""


class LabUnsupported(Exception):
    """The lab was asked for something it does not simulate."""


@dataclass
class HostContext:
    name: str
    state: HostState
    check_mode: bool = False
    diff: bool = False
    notes: dict = field(default_factory=dict)   # per-request scratch (e.g. which script ran)


def script_name(script_text: str) -> str | None:
    first_line = script_text.lstrip("\ufeff").splitlines()[0] if script_text.strip() else ""
    match = SCRIPT_MARKER.match(first_line)
    return match.group("name") if match else None


def module(fqcn: str):
    def register(fn):
        MODULE_HANDLERS[fqcn] = fn
        return fn
    return register


def script(name: str):
    """Register ``fn(ctx, bound_parameters)`` for the script with marker ``name``.

    The registered handler takes ``(ctx, parameters, script_text=None)`` and binds ``parameters`` to
    the param() block of ``script_text`` (the text win_powershell was sent; by default the collection's
    script with that marker) as PowerShell would, before ``fn`` sees them (ps_binding)."""
    def register(fn):
        def bound(ctx, parameters, script_text: str | None = None):
            from smslab.handlers.ps_binding import bind, repo_script_text
            return fn(ctx, bind(script_text or repo_script_text(name), parameters))
        bound.__doc__, bound.__name__, bound.twin = fn.__doc__, fn.__name__, fn
        SCRIPT_HANDLERS[name] = bound
        return fn
    return register


def command(exe: str):
    def register(fn):
        COMMAND_HANDLERS[exe.lower()] = fn
        return fn
    return register
