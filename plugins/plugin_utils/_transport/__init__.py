# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How the controller reaches one site server (private to this collection): ``transport_for()`` picks the
implementation of the host seam (``base.HostTransport``) from the host variable ``q244405_transport``."""

from __future__ import annotations

import importlib

from ansible_collections.sms.remediation.plugins.module_utils.choices import TRANSPORTS
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.base import HostTransport, TransportError

__all__ = ["HostTransport", "TRANSPORT_VAR", "TRANSPORTS", "TransportError", "transport_for"]

# Loaded here, in the main process that imports the action plugins, so that the worker forked for each host
# task inherits the msrpc transport and impacket instead of loading them again (msrpc/preload.py).
importlib.import_module(f"{__name__}.msrpc.preload").preload()

TRANSPORT_VAR = "q244405_transport"
DEFAULT_TRANSPORT = "winrm"
# Each name of choices.TRANSPORTS is a module (or package) of this package that defines
# ``transport(action, task_vars) -> HostTransport``.


def host_name(task_vars: dict) -> str:
    return str((task_vars or {}).get("inventory_hostname") or "localhost")


def transport_name(action, task_vars: dict) -> str:
    """The host's ``q244405_transport`` (templated), checked against the known transports."""
    raw = (task_vars or {}).get(TRANSPORT_VAR)
    templar = getattr(action, "_templar", None)
    if raw is not None and templar is not None:
        raw = templar.template(raw)
    name = DEFAULT_TRANSPORT if raw in (None, "") else raw
    if not isinstance(name, str) or name.lower() not in TRANSPORTS:
        raise TransportError(host_name(task_vars), "transport",
                             f"{TRANSPORT_VAR}={raw!r} is not a transport: expected one of {', '.join(TRANSPORTS)}")
    return name.lower()


def transport_for(action, task_vars: dict) -> HostTransport:
    """The transport that reaches this task's host, built from the action plugin that runs the task."""
    name = transport_name(action, task_vars)
    module_name = f"{__name__}.{name}"
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        # Only "this package has no such module": an import error inside it is a real defect to show.
        if exc.name != module_name:
            raise
        raise TransportError(host_name(task_vars), "transport",
                             f"{TRANSPORT_VAR}={name} is not available in this installation of "
                             f"sms.remediation ({exc})") from None
    return module.transport(action, task_vars)
