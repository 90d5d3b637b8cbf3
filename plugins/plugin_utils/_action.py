# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared plumbing for the collection's action plugins (private to this collection): argument validation
from the module's own DOCUMENTATION, the SMS 2.0 table, the host transport (``_transport``), the one
read-only probe whose answer every module decides from, the controller's copy of the hotfix files, and
the origin sites of the run."""

from __future__ import annotations

import hashlib
import importlib
import json
from datetime import timedelta

import yaml

from ansible.errors import AnsibleActionFail, AnsibleError
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.errors import UnsupportedError
from ansible.plugins.action import ActionBase
from ansible.plugins.loader import fragment_loader
from ansible.utils.plugin_docs import add_fragments

from ansible_collections.sms.remediation.plugins.module_utils import sms20
from ansible_collections.sms.remediation.plugins.module_utils.decision import HotfixFile
from ansible_collections.sms.remediation.plugins.module_utils.dll_version import fixed_file_version
from ansible_collections.sms.remediation.plugins.module_utils.facts import PROBE_FACT
from ansible_collections.sms.remediation.plugins.module_utils.leftovers import classify, origin_view_from_facts
from ansible_collections.sms.remediation.plugins.module_utils.probe_result import ProbeError, parse_probe
from ansible_collections.sms.remediation.plugins.plugin_utils._hostvars import origin_index
from ansible_collections.sms.remediation.plugins.plugin_utils._transport import (
    TransportError, transport_for, transport_name)

_COLLECTION = "ansible_collections.sms.remediation.plugins.modules"
# A hotfix Distmgr.dll is a few hundred KB; a path to something far bigger is not one.
_MAX_HOTFIX_FILE = 64 * 1024 * 1024


def argument_spec_from_doc(options: dict) -> dict:
    """Turn DOCUMENTATION ``options`` into an ArgumentSpecValidator spec (the docs are the spec)."""
    spec = {}
    for name, doc in (options or {}).items():
        entry = {"type": doc.get("type", "str")}
        for key in ("required", "default", "choices", "elements", "no_log", "aliases"):
            if key in doc:
                entry[key] = doc[key]
        if "options" in doc:
            entry["options"] = argument_spec_from_doc(doc["options"])
        spec[name] = entry
    return spec


def load_documentation(module_name: str) -> dict:
    """The module's DOCUMENTATION with its doc fragments merged, as ansible-doc shows it."""
    module = importlib.import_module(f"{_COLLECTION}.{module_name}")
    doc = yaml.safe_load(module.DOCUMENTATION)
    add_fragments(doc, module.__file__, fragment_loader, is_module=True)
    return doc


# remediate.yml indexes every site's origin facts once per run (filter sms.remediation.origin_sites)
# and hands the index to each host under this name: walking all hostvars for every host is O(hosts^2).
ORIGIN_SITES_VAR = "q244405_origin_sites"


class SmsActionBase(ActionBase):
    """Base for the collection's action plugins. Subclasses set ``MODULE_NAME`` and implement ``act``."""

    MODULE_NAME = ""
    ARGUMENT_SPEC: dict = {}
    ARGUMENT_VALIDATOR: ArgumentSpecValidator | None = None
    TRANSFERS_FILES = False
    _requires_connection = True
    _host_transport = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.MODULE_NAME:
            # Once per plugin, when it is imported. The strategy imports the action class in the main
            # process, so each forked worker inherits the spec instead of parsing the YAML docs again
            # (that cost more per host than classifying its packages).
            cls.ARGUMENT_SPEC = argument_spec_from_doc(load_documentation(cls.MODULE_NAME).get("options", {}))
            cls.ARGUMENT_VALIDATOR = ArgumentSpecValidator(cls.ARGUMENT_SPEC)

    def run(self, tmp=None, task_vars=None):
        self._supports_check_mode = True
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        del tmp
        args = self._validated_args(task_vars)
        try:
            self.table = sms20.merge_overrides(args.get("sms20"))
        except sms20.Sms20TableError as exc:
            raise AnsibleActionFail(f"{self.host_name(task_vars)}: invalid sms20 override: {exc}") from exc
        self._host_transport = None
        try:
            result.update(self.act(args, task_vars))
        except (ProbeError, TransportError) as exc:
            result.update(failed=True, msg=str(exc))
        finally:
            if self._host_transport is not None:
                self._host_transport.close()
        return result

    # ---- helpers for subclasses ----------------------------------------------------------
    def act(self, args: dict, task_vars: dict) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def host_name(self, task_vars: dict) -> str:
        return str(task_vars.get("inventory_hostname") or "localhost")

    def _validated_args(self, task_vars: dict) -> dict:
        validation = self.ARGUMENT_VALIDATOR.validate(self._task.args)
        if validation.error_messages:
            causes = [f"unsupported parameter {error}" if isinstance(error, UnsupportedError) else str(error)
                      for error in validation.errors.errors]
            raise AnsibleActionFail(f"{self.host_name(task_vars)}: {self.MODULE_NAME}: " + "; ".join(causes))
        return validation.validated_parameters

    def origin_sites(self, task_vars: dict) -> dict:
        """site code -> origin facts: the run's index (``q244405_origin_sites``) when there is one,
        else every host's facts from hostvars."""
        index = self._templar.template(task_vars.get(ORIGIN_SITES_VAR))
        if not index:
            # every host in hostvars, other batches included
            hostvars = task_vars.get("hostvars") or {}
            return origin_index(hostvars, list(hostvars))
        if isinstance(index, str):  # remediate.yml hands the index over as JSON text (see there)
            try:
                index = json.loads(index)
            except ValueError as exc:
                raise AnsibleActionFail(f"{self.host_name(task_vars)}: {ORIGIN_SITES_VAR} is not JSON: {exc}") from None
        if not isinstance(index, dict):
            raise AnsibleActionFail(f"{self.host_name(task_vars)}: {ORIGIN_SITES_VAR} must be a dict of site code -> "
                                    f"origin facts, got {type(index).__name__}")
        return dict(index)

    def leftovers(self, site, task_vars: dict, min_evidence: str, origin_facts: dict | None = None) -> list:
        """Classify the site's .PCK files against the origin sites of this run (or ``origin_facts``)."""
        origin_facts = self.origin_sites(task_vars) if origin_facts is None else origin_facts
        origins = {code: origin_view_from_facts(facts) for code, facts in origin_facts.items()}
        return classify(site, origins, min_evidence=min_evidence,
                        claim_tolerance=timedelta(hours=self.table["claim_tolerance_hours"]))

    def transport(self, task_vars: dict):
        """The transport to this task's host (``q244405_transport``), made on first use, closed by run()."""
        if self._host_transport is None:
            self._host_transport = transport_for(self, task_vars)
        return self._host_transport

    @staticmethod
    def cached_probe(task_vars: dict) -> dict | None:
        """The probe answer an earlier task of this play left as a fact, if any (empty = out of date)."""
        return (task_vars.get("ansible_facts") or {}).get(PROBE_FACT) or None

    def probe(self, task_vars: dict, package_folders=None, refresh: bool = False) -> dict:
        """The raw probe answer: cached from an earlier ``site_facts`` in this play unless ``refresh``."""
        cached = self.cached_probe(task_vars)
        if cached and not refresh:
            return cached
        parameters = sms20.probe_parameters(self.table)
        if package_folders:
            parameters["PackageFolders"] = list(package_folders)
        return self.transport(task_vars).probe(parameters)

    def site(self, task_vars: dict, probe_answer: dict):
        return parse_probe(self.host_name(task_vars), probe_answer, self.table,
                           transport=transport_name(self, task_vars))

    def measure(self, task_vars: dict, package_folders=None):
        """``measure()`` -> (probe answer, SiteFacts): the host probed again, for the verification."""
        def measure():
            answer = self.probe(task_vars, package_folders=package_folders, refresh=True)
            return answer, self.site(task_vars, answer)
        return measure

    def stage(self, source: str, dest_dir: str, task_vars: dict) -> dict:
        """Run the ``ansible.windows.win_copy`` action for this task (the winrm transport's file copy): an
        action plugin runs another with the loaders, connection and templar of its own task."""
        task = self._task.copy()
        task.args.clear()
        task.args.update({"src": source, "dest": dest_dir.rstrip("\\") + "\\"})
        copy_action = self._shared_loader_obj.action_loader.get(
            "ansible.windows.win_copy", task=task, connection=self._connection, play_context=self._play_context,
            loader=self._loader, templar=self._templar, shared_loader_obj=self._shared_loader_obj)
        return copy_action.run(task_vars=task_vars)

    def hotfix_file(self, src: str) -> HotfixFile:
        """The controller's copy of a hotfix Distmgr.dll (looked up as a task's ``files/``), with its sha256
        and file version; a file that cannot be found or read says why (the plan refuses it if needed)."""
        try:
            path = self._find_needle("files", src)
            with open(path, "rb") as handle:
                data = handle.read(_MAX_HOTFIX_FILE + 1)
        except (AnsibleError, OSError) as exc:
            return HotfixFile(src, error=f"cannot read the hotfix file on the controller: {exc}")
        if len(data) > _MAX_HOTFIX_FILE:
            return HotfixFile(src, error=f"{path} is over {_MAX_HOTFIX_FILE // (1024 * 1024)} MB: not a Distmgr.dll")
        return HotfixFile(src, path=path, sha256=hashlib.sha256(data).hexdigest(), version=fixed_file_version(data))
