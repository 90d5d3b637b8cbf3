# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""``MsrpcTransport`` (private to this collection): the host seam (``base.HostTransport``) over SMB, MS-RRP and MS-SCMR with impacket.

Every operation runs on the controller; the one SMB session of the task (``connection.MsrpcSession``)
carries them all. Built by ``transport(action, task_vars)`` from the host's ``q244405_msrpc_*``
variables (doc fragment ``sms.remediation.msrpc``)."""

from __future__ import annotations

import hashlib
import ntpath
import os

from ansible_collections.sms.remediation.plugins.module_utils.sms20 import DEFAULTS
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.base import HostTransport, TransportError
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc import wmi_hook
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.connection import MsrpcSession
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.deps import missing
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.files import SmbFiles
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.hotfix import hotfix_transaction
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.log_reader import LogCache
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.packages import act_on_packages
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.probe import ENVIRONMENT_KEY, probe
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.registry import (
    TYPE_NAMES, Registry)
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.services import Services
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.settings import (
    VAR_PREFIX, MsrpcSettings, SettingsError, settings_from_vars)

RESTART_WAIT_SECONDS = 120
MAX_STAGE_BYTES = 64 * 1024 * 1024


class MsrpcHost:
    """What the operations share for one host: the session and the protocol helpers built on it."""

    def __init__(self, session: MsrpcSession):
        self.session = session
        self.files = SmbFiles(session)
        self.registry = Registry(session)
        self.services = Services(session)
        self.log_cache = LogCache(session.settings.cache_dir, session.settings.host)

    def reconnect(self) -> None:
        """A new SMB session after the old one dropped (the hotfix's rollback restarts the services over it);
        the helpers' open handles died with the old one. A host still unreachable raises TransportError here."""
        self.session.close()
        self.files, self.registry, self.services = SmbFiles(self.session), Registry(self.session), Services(self.session)
        self.session.smb      # connect and log on now


def _reg_text(key: str, name: str, value_type: str | None, data) -> str:
    """A value as win_regedit's diff shows it (.reg file style)."""
    if value_type is None:
        return f"[{key}]\n"
    if value_type == "dword":
        shown = f"dword:{int(data):08x}"
    else:
        shown = f"{value_type}:{data!r}"
    return f'[{key}]\n"{name}"={shown}\n'


class MsrpcTransport(HostTransport):
    name = "msrpc"

    def __init__(self, settings: MsrpcSettings, check_mode: bool = False, warn=None):
        super().__init__(settings.host, check_mode)
        self.settings = settings
        self.session = MsrpcSession(settings, warn)
        self.ops = MsrpcHost(self.session)

    # ---- the seam ----------------------------------------------------------------------------
    def probe(self, parameters: dict) -> dict:
        return probe(self.ops, parameters)

    def act_on_packages(self, parameters: dict) -> dict:
        return act_on_packages(self.ops, parameters, self.check_mode)

    def hotfix_transaction(self, parameters: dict) -> dict:
        return hotfix_transaction(self.ops, parameters, self.check_mode)

    def stage_file(self, source: str, dest_dir: str) -> dict:
        operation = "stage_file"
        try:
            with open(source, "rb") as handle:
                data = handle.read(MAX_STAGE_BYTES + 1)
        except OSError as exc:
            raise self.error(operation, f"cannot read {source} on the controller: {exc.strerror or exc}") from None
        if len(data) > MAX_STAGE_BYTES:
            raise self.error(operation, f"{source} is larger than {MAX_STAGE_BYTES} bytes")
        digest = hashlib.sha256(data).hexdigest()
        dest = ntpath.join(dest_dir, os.path.basename(source))
        files = self.ops.files
        info = files.stat(dest, operation)
        if info is not None and not info.directory and info.size == len(data) and files.sha256(dest, operation)[0] == digest:
            return {"changed": False, "dest": dest, "sha256": digest}
        if self.check_mode:
            return {"changed": True, "dest": dest, "sha256": digest}
        files.make_dirs(dest_dir, operation)
        files.write_bytes(dest, data, operation)
        written, _size = files.sha256(dest, operation)
        if written != digest:
            raise self.error(operation, f"{dest} reads back with sha256 {written}, expected {digest}")
        return {"changed": True, "dest": dest, "sha256": digest}

    def run_installer(self, path: str, arguments: str, timeout: int) -> dict:
        """``Win32_Process.Create`` through the ``wmi`` module; the platform and the hotfix log it needs come
        from the registry (PROCESSOR_ARCHITECTURE, the SMS installation folder) and SMB."""
        operation = "run_installer"
        wmi = wmi_hook.wmi_module()
        if wmi is None or not hasattr(wmi, "run_installer"):
            raise self.error(operation, f"running {path} needs WMI (Win32_Process.Create): {wmi_hook.NOT_YET}; "
                                        "use q244405_hotfix_method=manual on msrpc hosts")
        if self.check_mode:
            raise self.error(operation, "run_installer is never called in check mode")
        registry = self.ops.registry
        environment = registry.read_values(ENVIRONMENT_KEY, ["PROCESSOR_ARCHITECTURE"], operation) or {}
        architecture = environment.get("PROCESSOR_ARCHITECTURE")
        platform = DEFAULTS["platforms"].get(str(architecture)) if architecture else None
        if platform is None:
            raise self.error(operation, f"the site server's architecture is unknown ({ENVIRONMENT_KEY}\\"
                                        f"PROCESSOR_ARCHITECTURE={architecture!r}): the installer is not run")
        install_dir = None
        for key in ("Identification", "Setup"):
            values = registry.read_values(f"{DEFAULTS['registry_root']}\\{key}", ["Installation Directory"], operation)
            if values and values.get("Installation Directory"):
                install_dir = str(values["Installation Directory"]).rstrip("\\")
                break
        if install_dir is None:
            raise self.error(operation, "the SMS installation folder is unknown (Identification and Setup have no "
                                        "Installation Directory): the installer's log cannot be read")
        log_path = ntpath.join(install_dir, "Logs", DEFAULTS["hotfix_log_name"])

        def read_log():
            if not self.ops.files.exists(log_path, operation):
                return None
            return self.ops.files.read_all(log_path, operation, 16 * 1024 * 1024).decode("utf-8", "replace")

        return wmi.run_installer(self.session, path, arguments, timeout, platform, read_log)

    def set_registry_value(self, key: str, name: str, data, value_type: str) -> dict:
        operation = "set_registry_value"
        registry = self.ops.registry
        exists, code, before = registry.read_value(key, name, operation)
        if not exists:
            raise self.error(operation, f"registry key {key} not found")
        before_type = TYPE_NAMES.get(code)
        wanted = int(data) if value_type in ("dword", "qword") else data
        changed = not (before_type == value_type and before == wanted)
        diff = {"before": _reg_text(key, name, before_type, before) if code is not None else _reg_text(key, name, None, None),
                "after": _reg_text(key, name, value_type, wanted)}
        if changed and not self.check_mode:
            registry.set_value(key, name, value_type, wanted, operation)
        return {"changed": changed, "diff": diff}

    def restart_service(self, name: str) -> dict:
        operation = "restart_service"
        services = self.ops.services
        if services.state(name, operation) is None:
            raise self.error(operation, f"service {name} is not installed")
        if self.check_mode:
            return {"changed": True}
        services.stop(name, RESTART_WAIT_SECONDS, operation)
        services.start(name, RESTART_WAIT_SECONDS, operation)
        return {"changed": True}

    def close(self) -> None:
        self.ops.log_cache.save()
        self.session.close()


def host_variables(action, task_vars: dict) -> dict:
    """The msrpc variables of this task's host, templated (a vaulted password is decrypted here)."""
    templar = getattr(action, "_templar", None)
    names = [name for name in task_vars if name.startswith(VAR_PREFIX)] + ["ansible_host"]
    values = {}
    for name in names:
        value = task_vars.get(name)
        if value is not None and templar is not None:
            value = templar.template(value)
        values[name] = value
    return values


def transport(action, task_vars: dict) -> MsrpcTransport:
    """The msrpc transport of this task's host (``transport_for`` calls this)."""
    from ansible.utils.display import Display

    host = str(task_vars.get("inventory_hostname") or "localhost")
    absent = missing()
    if absent:
        raise TransportError(host, "connect", absent)
    try:
        settings = settings_from_vars(host, host_variables(action, task_vars))
    except SettingsError as exc:
        raise TransportError(host, "connect", str(exc)) from None
    task = getattr(action, "_task", None)
    return MsrpcTransport(settings, bool(getattr(task, "check_mode", False)), Display().warning)
