"""One fact, one place: the host scripts' own ``param()`` defaults (what a host uses when the controller leaves
a parameter out), the msrpc transport's copy of them (``_transport/msrpc/params.py``) and the sms20 table
say the same, so none of the three can drift.

The scripts' blocks are read as the lab reads them (``lab/smslab/handlers/ps_binding.py``, tree-sitter) and
the defaults are what PowerShell binds for a left-out parameter. Regexes are compared in the scripts' .NET
spelling: the table's Python patterns go through ``host_regex.to_dotnet`` (inside ``sms20.*_parameters``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[6]
sys.path.insert(0, str(REPO / "lab"))

from smslab.handlers.ps_binding import NO_DEFAULT, bind, param_block  # noqa: E402

from ansible_collections.sms.remediation.plugins.module_utils import sms20  # noqa: E402
from ansible_collections.sms.remediation.plugins.plugin_utils._hierarchy_source import MSRPC_DEFAULTS, script_parameters  # noqa: E402
from ansible_collections.sms.remediation.plugins.plugin_utils._scripts import script_names, script_text  # noqa: E402
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc import params  # noqa: E402

# Script -> (the parameters the sms20 table sets, the msrpc transport's defaults).
SCRIPTS = {
    "sms_probe": (sms20.probe_parameters, params.PROBE_DEFAULTS),
    "sms_compressed_package": (sms20.package_parameters, params.PACKAGE_DEFAULTS),
    "sms_hotfix_transaction": (sms20.hotfix_parameters, params.HOTFIX_DEFAULTS),
    "sms_hierarchy": (script_parameters, MSRPC_DEFAULTS),     # msrpc: the same WMI reads from the controller
}


def script_defaults(text: str) -> dict:
    """{parameter: value PowerShell binds when it is left out} for every optional parameter of a script."""
    block = param_block(text)
    mandatory = {spec.name: _valid_value(spec) for spec in block.params if spec.mandatory}
    bound = bind(text, mandatory)
    return {spec.name: bound[spec.name] for spec in block.params if not spec.mandatory}


def _valid_value(spec):
    if spec.validate_set:
        return spec.validate_set[0]
    return [] if spec.type.endswith("[]") else "x"


def table_drift(name: str, text: str) -> dict:
    """{parameter: (the table's value, the script's default)} where the script ``text`` does not default a
    parameter the sms20 table sets to the table's value (a literal in its param() block)."""
    table_parameters = SCRIPTS[name][0](sms20.merge_overrides(None))
    block = {spec.name: spec for spec in param_block(text).params}
    defaults = script_defaults(text)
    drift = {}
    for key, value in table_parameters.items():
        if key not in block:
            drift[key] = (value, "not declared")
        elif block[key].default is NO_DEFAULT:
            drift[key] = (value, "no default")
        elif defaults.get(key, "mandatory") != value:
            drift[key] = (value, defaults.get(key, "mandatory"))
    return drift


def test_every_script_is_covered():
    assert sorted(SCRIPTS) == script_names()


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_script_defaults_are_the_sms20_defaults(name):
    assert table_drift(name, script_text(name)) == {}


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_msrpc_defaults_are_the_script_defaults(name):
    """The msrpc twin of a script assumes, for a left-out parameter, what PowerShell binds from the block."""
    msrpc_defaults = SCRIPTS[name][1]
    defaults = script_defaults(script_text(name))
    not_optional = sorted(set(msrpc_defaults) - set(defaults))
    assert not_optional == [], f"msrpc defaults for parameters {name}.ps1 does not declare as optional: {not_optional}"
    assert msrpc_defaults == {key: defaults[key] for key in msrpc_defaults}


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_msrpc_defaults_include_every_table_parameter(name):
    """The msrpc twin never falls back to nothing where the script would use an sms20 default."""
    table_parameters, msrpc_defaults = SCRIPTS[name][0](sms20.merge_overrides(None)), SCRIPTS[name][1]
    assert {key: msrpc_defaults.get(key) for key in table_parameters} == table_parameters


def test_a_drifted_script_default_is_caught():
    """The comparison reads the literals of the block: a script whose default differs from the table's, or
    that leaves a table parameter to the type's empty value, is named with both values."""
    minimum = sms20.DEFAULTS["hotfix_min_distmgr_version"]
    text = script_text("sms_hotfix_transaction")
    declaration = f"[string]$MinimumVersion = '{minimum}'"
    assert declaration in text
    assert table_drift("sms_hotfix_transaction", text.replace(declaration, "[string]$MinimumVersion = '2.00.1239.0000'")) \
        == {"MinimumVersion": (minimum, "2.00.1239.0000")}
    assert table_drift("sms_hotfix_transaction", text.replace(declaration, "[string]$MinimumVersion")) \
        == {"MinimumVersion": (minimum, "no default")}
