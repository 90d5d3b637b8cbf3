"""A role variable that the role hands to a remediate option has the option's default (as ansible-doc shows it,
doc fragments merged) in both the role's argument spec and its defaults/main.yml: a user of the role and a user
of the module get the same run. An option the role omits when its variable is empty (``... else omit``) has
no default of its own, and the variable defaults to the empty string."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from ansible_collections.sms.remediation.plugins.plugin_utils._action import load_documentation

REPO = Path(__file__).resolve().parents[2]
ROLE = REPO / "roles" / "q244405"
PASSED = re.compile(r"\{\{ (?P<var>q244405_\w+)(?P<omit> if .+ else omit)? \}\}")


def load(path: Path):
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def remediate_arguments() -> dict:
    tasks = load(ROLE / "tasks" / "main.yml")
    block = next(task for task in tasks if "block" in task)["block"]
    return next(task for task in block if "sms.remediation.remediate" in task)["sms.remediation.remediate"]


def default_mismatches(arguments: dict, options: dict, spec: dict, defaults: dict) -> list[str]:
    """Each option whose role variable defaults to something else than the option (or is not a plain pass)."""
    wrong = []
    for option, value in arguments.items():
        match = PASSED.fullmatch(str(value))
        if match is None:
            wrong.append(f"{option}: {value!r} is not one role variable")
            continue
        variable = match.group("var")
        expected = "" if match.group("omit") else options[option].get("default")
        if match.group("omit") and "default" in options[option]:
            wrong.append(f"{option}: omitted when {variable} is empty, yet has a default")
        for where, table in (("the argument spec", spec), ("defaults/main.yml", defaults)):
            found = (table.get(variable) or {}).get("default", "missing") if where == "the argument spec" \
                else table.get(variable, "missing")
            if found != expected:
                wrong.append(f"{option}: {variable} in {where} is {found!r}, the option's default {expected!r}")
    return wrong


def test_the_role_passes_each_option_its_default():
    options = load_documentation("remediate")["options"]
    spec = load(ROLE / "meta" / "argument_specs.yml")["argument_specs"]["main"]["options"]
    defaults = load(ROLE / "defaults" / "main.yml")
    assert default_mismatches(remediate_arguments(), options, spec, defaults) == []


def test_a_drifted_default_is_named():
    options = {"wait_seconds": {"default": 120}, "installer_path": {}}
    arguments = {"wait_seconds": "{{ q244405_service_wait_seconds }}",
                 "installer_path": "{{ q244405_installer if q244405_installer | length > 0 else omit }}"}
    spec = {"q244405_service_wait_seconds": {"default": 60}, "q244405_installer": {"default": ""}}
    defaults = {"q244405_service_wait_seconds": 120}
    assert default_mismatches(arguments, options, spec, defaults) == [
        "wait_seconds: q244405_service_wait_seconds in the argument spec is 60, the option's default 120",
        "installer_path: q244405_installer in defaults/main.yml is 'missing', the option's default ''"]
