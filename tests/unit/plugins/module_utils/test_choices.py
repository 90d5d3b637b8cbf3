"""The choices a user makes are defined once (module_utils/choices.py): the role's argument spec and every
module's DOCUMENTATION offer exactly those values, so the docs cannot drift from the code."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ansible_collections.sms.remediation.plugins.module_utils import choices
from ansible_collections.sms.remediation.plugins.plugin_utils._action import load_documentation

REPO = Path(__file__).resolve().parents[4]
ROLE_SPEC = REPO / "roles" / "q244405" / "meta" / "argument_specs.yml"
MODULES = sorted(p.stem for p in (REPO / "plugins" / "modules").glob("*.py") if not p.stem.startswith("_"))

# option name (module) or variable (role) -> the choices it must offer
BY_OPTION = {
    "policy": choices.POLICIES,
    "min_evidence": choices.EVIDENCE_LEVELS,
    "hotfix_method": choices.HOTFIX_METHODS,
    "method": choices.HOTFIX_METHODS,
    "workaround_state": choices.WORKAROUND_STATES,
    "state": choices.PACKAGE_STATES,
}
BY_ROLE_VARIABLE = {
    "q244405_policy": choices.POLICIES,
    "q244405_min_evidence": choices.EVIDENCE_LEVELS,
    "q244405_hotfix_method": choices.HOTFIX_METHODS,
    "q244405_workaround_state": choices.WORKAROUND_STATES,
    "q244405_transport": choices.TRANSPORTS,
}


def module_options(name: str) -> dict:
    """The module's options as ansible-doc shows them: its doc fragments (plugins/doc_fragments) merged."""
    return load_documentation(name).get("options") or {}


def test_the_role_offers_the_choices_of_the_code():
    options = yaml.safe_load(ROLE_SPEC.read_text(encoding="utf-8"))["argument_specs"]["main"]["options"]
    for variable, expected in BY_ROLE_VARIABLE.items():
        assert variable in options, f"{variable} is not in {ROLE_SPEC.name}"
        assert sorted(options[variable]["choices"]) == sorted(expected), variable
        if "default" in options[variable]:
            assert options[variable]["default"] in expected, variable


@pytest.mark.parametrize("module", MODULES)
def test_each_module_offers_the_choices_of_the_code(module):
    for option, spec in module_options(module).items():
        if option in BY_OPTION and "choices" in spec:
            assert sorted(spec["choices"]) == sorted(BY_OPTION[option]), (module, option)


def test_every_checked_option_is_offered():
    """Each option of BY_OPTION is found with its choices in some module (most come from doc fragments): a
    reading of the docs that missed the fragments would check nothing and pass."""
    offered = {option for module in MODULES for option, spec in module_options(module).items() if "choices" in spec}
    assert sorted(set(BY_OPTION) - offered) == []


def test_every_choice_option_is_checked():
    """A module option with choices that this test does not know would escape the check."""
    unknown = [(module, option) for module in MODULES for option, spec in module_options(module).items()
               if "choices" in spec and option not in BY_OPTION and (module, option) != ("fleet_report", "formats")]
    assert unknown == []


def test_report_formats_are_the_renderers():
    from ansible_collections.sms.remediation.plugins.action import fleet_report
    assert sorted(module_options("fleet_report")["formats"]["choices"]) == sorted(fleet_report._RENDERERS)


def test_the_code_reads_the_same_tuples():
    from ansible_collections.sms.remediation.plugins.module_utils import decision, leftovers
    from ansible_collections.sms.remediation.plugins.plugin_utils import _transport
    assert leftovers.EVIDENCE_LEVELS is choices.EVIDENCE_LEVELS
    assert decision.POLICIES is choices.POLICIES and decision.HOTFIX_METHODS is choices.HOTFIX_METHODS
    assert _transport.TRANSPORTS is choices.TRANSPORTS
