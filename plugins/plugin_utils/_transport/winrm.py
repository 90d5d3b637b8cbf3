# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``winrm`` host transport (private to this collection): each operation is one ansible.windows
module run on the host through the task's connection, as an action plugin runs modules
(``_execute_module``): the collection scripts through ``win_powershell``, the registry through
``win_regedit``, services through ``win_service``, the file copy through the ``win_copy`` action, the
installer through ``win_command``. Check mode is the task's own (the modules honour it)."""

from __future__ import annotations

import hashlib

from ansible.errors import AnsibleError

from ansible_collections.sms.remediation.plugins.plugin_utils._scripts import script_text
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.base import HostTransport

POWERSHELL = "ansible.windows.win_powershell"


def error_text(error) -> str:
    """One win_powershell error record as text (its exception is a dict with a message)."""
    exception = error.get("exception") if isinstance(error, dict) else None
    if isinstance(exception, dict):
        return str(exception.get("message") or exception)
    return str(exception or error)


class WinrmTransport(HostTransport):
    """The host of the task that ``action`` (an ActionBase) runs, reached over its WinRM connection."""

    name = "winrm"

    def __init__(self, action, task_vars: dict, host: str):
        super().__init__(host, bool(action._task.check_mode))
        self._action = action
        self._task_vars = task_vars

    # ---- the scripts ----------------------------------------------------------------------------
    def probe(self, parameters: dict) -> dict:
        answer = self._script("sms_probe", "probe", parameters).get("result")
        if not isinstance(answer, dict):
            raise self.error("probe", f"the probe returned no result (got {type(answer).__name__})")
        return answer

    def act_on_packages(self, parameters: dict) -> dict:
        return self._script("sms_compressed_package", "act_on_packages", parameters).get("result") or {}

    def hotfix_transaction(self, parameters: dict) -> dict:
        return self._script("sms_hotfix_transaction", "hotfix_transaction", parameters).get("result") or {}

    def _script(self, name: str, operation: str, parameters: dict) -> dict:
        """Run a collection script with win_powershell; the module result, TransportError on a failure."""
        # depth: win_powershell serialises $Ansible.Result only 2 levels deep by default.
        reply = self._execute(POWERSHELL, {"script": script_text(name), "parameters": parameters, "depth": 8})
        if reply.get("failed") or reply.get("unreachable"):
            detail = reply.get("msg") or "; ".join(error_text(e) for e in reply.get("error", []))
            raise self.error(operation, f"{name} script failed: {detail}", reply)
        return reply

    # ---- modules --------------------------------------------------------------------------------
    def stage_file(self, source: str, dest_dir: str) -> dict:
        """win_copy, an action plugin of its own (it transfers the file, sha1-checked, unchanged when there),
        run by the task's action plugin (SmsActionBase.stage), which holds the loaders it needs."""
        try:
            reply = self._action.stage(source, dest_dir, self._task_vars) or {}
        except AnsibleError as exc:  # a transfer error is raised, not returned
            reply = {"failed": True, "msg": str(exc)}
        if reply.get("failed"):
            raise self.error("stage_file", f"ansible.windows.win_copy failed: {reply.get('msg')}", reply)
        # win_copy checked the copy against the source (sha1): the staged bytes are the source's.
        with open(source, "rb") as handle:
            digest = hashlib.file_digest(handle, "sha256").hexdigest()
        return {"changed": bool(reply.get("changed")), "dest": reply.get("dest"), "sha256": digest}

    def run_installer(self, path: str, arguments: str, timeout: int) -> dict:
        # win_command has no timeout of its own: the WinRM operation timeout of the connection bounds it.
        reply = self._execute("ansible.windows.win_command", {"cmd": f'"{path}" {arguments}'})
        if "rc" not in reply:
            raise self.error("run_installer", f"ansible.windows.win_command failed: {reply.get('msg')}", reply)
        return {"rc": reply.get("rc"), "stdout": reply.get("stdout") or "", "stderr": reply.get("stderr") or "",
                "msg": reply.get("msg") or ""}

    def set_registry_value(self, key: str, name: str, data, value_type: str) -> dict:
        reply = self._module("set_registry_value", "ansible.windows.win_regedit",
                             {"path": key, "name": name, "data": data, "type": value_type, "state": "present"})
        return {"changed": bool(reply.get("changed")), "diff": reply.get("diff")}

    def restart_service(self, name: str) -> dict:
        reply = self._module("restart_service", "ansible.windows.win_service", {"name": name, "state": "restarted"})
        return {"changed": bool(reply.get("changed"))}

    def _module(self, operation: str, name: str, module_args: dict) -> dict:
        reply = self._execute(name, module_args)
        if reply.get("failed") or reply.get("unreachable"):
            raise self.error(operation, f"{name} failed: {reply.get('msg')}", reply)
        return reply

    def _execute(self, name: str, module_args: dict) -> dict:
        return self._action._execute_module(module_name=name, module_args=module_args, task_vars=self._task_vars)


def transport(action, task_vars: dict) -> WinrmTransport:
    return WinrmTransport(action, task_vars, str(task_vars.get("inventory_hostname") or "localhost"))
