# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The host seam (private to this collection): every operation a remediation step needs from a site server.

A step never talks to a host any other way. Each operation has the granularity of one host script of
docs/internals.md, so the ``winrm`` implementation stays at one round trip per script; parameter dicts use
the script parameter names of that page (``Mode``, ``Items``, ``IdPattern`` ...), so every implementation
shares one contract. Implementations: ``winrm.py`` (ansible.windows modules), ``msrpc/`` (impacket, on the
controller), and a fake driving an in-memory site in the unit tests.

Check mode (``check_mode`` True): an implementation changes nothing. The steps call ``probe``,
``set_registry_value`` and ``restart_service`` in check mode too: these answer what they would do
(``changed`` True when they would change something), as win_regedit / win_service do in check mode.
``act_on_packages`` and ``hotfix_transaction`` run with ``-WhatIf`` and answer ``would_*`` outcomes when
called; ``stage_file`` and ``run_installer`` are only called in a real run (the steps predict the
check-mode result from the facts without a round trip).
"""

from __future__ import annotations

import abc


class TransportError(Exception):
    """An operation that could not be carried out on a host. ``str()`` is "<host>: <operation>: <message>".

    ``result`` carries what the host did answer, when anything (e.g. the win_powershell reply)."""

    def __init__(self, host: str, operation: str, message: str, result: dict | None = None):
        self.host = host
        self.operation = operation
        self.message = message
        self.result = result or {}
        super().__init__(f"{host}: {operation}: {message}")


class HostTransport(abc.ABC):
    """One site server, reached one way. Built per host and task; ``close()`` when done."""

    name: str = ""
    check_mode: bool = False

    def __init__(self, host: str, check_mode: bool = False):
        self.host = host
        self.check_mode = check_mode

    def error(self, operation: str, message: str, result: dict | None = None) -> TransportError:
        return TransportError(self.host, operation, message, result)

    @abc.abstractmethod
    def probe(self, parameters: dict) -> dict:
        """The schema-1 probe answer (docs/internals.md section 1) for the probe ``parameters``."""

    @abc.abstractmethod
    def act_on_packages(self, parameters: dict) -> dict:
        """The compressed_package contract (section 2): ``{"items": [...], "manifest": path|None}``."""

    @abc.abstractmethod
    def stage_file(self, source: str, dest_dir: str) -> dict:
        """Copy a controller file into a host folder: ``{"changed", "dest", "sha256"}``.
        Unchanged when the same bytes are already there."""

    @abc.abstractmethod
    def hotfix_transaction(self, parameters: dict) -> dict:
        """The transaction contract (section 3): ``{"outcome", "failed_step", "error", "restored",
        "services_before", "services_after", "steps", "new_version", "new_sha256", ...}`` including the
        host journal's fields."""

    @abc.abstractmethod
    def run_installer(self, path: str, arguments: str, timeout: int) -> dict:
        """Run an installer already on the host: ``{"rc", "stdout", "stderr"}`` (a non-zero rc is returned,
        not raised)."""

    @abc.abstractmethod
    def set_registry_value(self, key: str, name: str, data, value_type: str) -> dict:
        """Set one registry value (``value_type``: dword, string ...): ``{"changed", "diff"}``."""

    @abc.abstractmethod
    def restart_service(self, name: str) -> dict:
        """Restart one service: ``{"changed"}``."""

    def close(self) -> None:
        """Release what the transport holds (connections, temporary files)."""
