# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared plumbing for the collection's action plugins: argument validation from the module's own
DOCUMENTATION, the SMS 2.0 table, running a collection script through win_powershell, and the
one read-only probe whose answer every module decides from."""

from __future__ import annotations

import importlib
import json
from datetime import timedelta

import yaml

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.errors import UnsupportedError
from ansible.plugins.action import ActionBase
from ansible.plugins.loader import fragment_loader
from ansible.utils.plugin_docs import add_fragments

from ansible_collections.sms.remediation.plugins.module_utils import sms20
from ansible_collections.sms.remediation.plugins.module_utils.leftovers import classify, origin_view_from_facts
from ansible_collections.sms.remediation.plugins.module_utils.probe_result import ProbeError, parse_probe
from ansible_collections.sms.remediation.plugins.plugin_utils._hostvars import origin_index
from ansible_collections.sms.remediation.plugins.plugin_utils._scripts import script_text

_COLLECTION = "ansible_collections.sms.remediation.plugins.modules"
# Facts the probe leaves behind, so later tasks in the same play do not probe again.
PROBE_FACT = "sms_probe"
SITE_FACT = "sms_site"
PACKAGES_FACT = "sms_packages"


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


def error_text(error) -> str:
    """One win_powershell error record as text (its exception is a dict with a message)."""
    exception = error.get("exception") if isinstance(error, dict) else None
    if isinstance(exception, dict):
        return str(exception.get("message") or exception)
    return str(exception or error)




class SmsActionBase(ActionBase):
    """Base for the collection's action plugins. Subclasses set ``MODULE_NAME`` and implement ``act``."""

    MODULE_NAME = ""
    ARGUMENT_SPEC: dict = {}
    ARGUMENT_VALIDATOR: ArgumentSpecValidator | None = None
    TRANSFERS_FILES = False
    _requires_connection = True

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
        try:
            result.update(self.act(args, task_vars))
        except ProbeError as exc:
            result.update(failed=True, msg=str(exc))
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

    def run_script(self, name: str, parameters: dict, task_vars: dict) -> dict:
        """Run a collection script with win_powershell; return the module result, failing on errors."""
        reply = self._execute_module(
            module_name="ansible.windows.win_powershell",
            # depth: win_powershell serialises $Ansible.Result only 2 levels deep by default.
            module_args={"script": script_text(name), "parameters": parameters, "depth": 8},
            task_vars=task_vars,
        )
        if reply.get("failed") or reply.get("unreachable"):
            detail = reply.get("msg") or "; ".join(error_text(e) for e in reply.get("error", []))
            raise AnsibleActionFail(f"{self.host_name(task_vars)}: {name} script failed: {detail}", result=reply)
        return reply

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
        reply = self.run_script("sms_probe", parameters, task_vars)
        answer = reply.get("result")
        if not isinstance(answer, dict):
            raise ProbeError(self.host_name(task_vars), f"the probe returned no result (got {type(answer).__name__})")
        return answer

    def site(self, task_vars: dict, probe_answer: dict):
        return parse_probe(self.host_name(task_vars), probe_answer, self.table)
