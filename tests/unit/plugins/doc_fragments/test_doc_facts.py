"""The SMS 2.0 facts the docs state (build numbers, versions, the package folder, the backup suffix) are the
sms20 table's: every module's documentation as ansible-doc shows it (doc fragments merged, with EXAMPLES and
RETURN) and the role's argument spec. A table value changed without its docs fails here."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest
import yaml

from ansible_collections.sms.remediation.plugins.module_utils import sms20
from ansible_collections.sms.remediation.plugins.plugin_utils._action import load_documentation

REPO = Path(__file__).resolve().parents[4]
ROLE_SPEC = REPO / "roles" / "q244405" / "meta" / "argument_specs.yml"
MODULES = sorted(p.stem for p in (REPO / "plugins" / "modules").glob("*.py") if not p.stem.startswith("_"))
TABLE = sms20.DEFAULTS
VERSIONS = {sp["version"] for sp in TABLE["service_packs"]} | {TABLE["hotfix_min_distmgr_version"]}
BUILDS = {version.split(".")[2] for version in VERSIONS}


def strings(node) -> list[str]:
    """Every text of a loaded YAML document (descriptions joined as ansible-doc joins them)."""
    if isinstance(node, dict):
        return [text for key, value in node.items() for text in strings(key) + strings(value)]
    if isinstance(node, (list, tuple)):
        return [text for item in node for text in strings(item)]
    return [str(node)] if isinstance(node, str) else []


def module_text(name: str) -> str:
    module = importlib.import_module(f"ansible_collections.sms.remediation.plugins.modules.{name}")
    return "\n".join(strings(load_documentation(name)) + [module.EXAMPLES, module.RETURN])


def role_text() -> str:
    return "\n".join(strings(yaml.safe_load(ROLE_SPEC.read_text(encoding="utf-8"))))


def fact_mismatches(text: str) -> list[str]:
    """Each statement of a fact in ``text`` that the table does not hold."""
    wrong = [f"version {v}" for v in re.findall(r"\b2\.0{1,2}\.\d{4}\.\d{4}\b", text) if v not in VERSIONS]
    wrong += [f"build {b}" for b in re.findall(r"\bbuild (\d{4})\b", text) if b not in BUILDS]
    hotfix_dll = re.findall(r"(?:hotfix DLL,?|DLL) (\d[\d.]+\d)(?:, | )is the SP1", text)
    wrong += [f"hotfix DLL {v}" for v in hotfix_dll if v != TABLE["hotfix_min_distmgr_version"]]
    wrong += [f"package folder {f}" for f in re.findall(r"<drive>:\\+(\w+)", text) if f != TABLE["package_folder_name"]]
    wrong += [f"backup suffix {s}" for s in re.findall(r"Distmgr\.dll(\.pre-\w+)", text) if s != TABLE["backup_suffix"]]
    return wrong


@pytest.mark.parametrize("name", MODULES)
def test_module_docs_state_the_table_facts(name):
    assert fact_mismatches(module_text(name)) == []


def test_role_spec_states_the_table_facts():
    assert fact_mismatches(role_text()) == []


def test_the_docs_state_the_facts_checked():
    """The checks above look at something: the docs do state a hotfix version, a build, the folder, the suffix."""
    text = "\n".join(module_text(name) for name in MODULES) + role_text()
    assert TABLE["hotfix_min_distmgr_version"] in text and "build 1239" in text
    assert f"<drive>:\\{TABLE['package_folder_name']}" in text and f"Distmgr.dll{TABLE['backup_suffix']}" in text


def test_a_stale_fact_is_caught():
    assert fact_mismatches("the KB's hotfix DLL, 2.00.1380.1084, is the SP1 bundle's, on build 1240, in "
                           "C(<drive>:\\PKGS), kept as Distmgr.dll.pre-Q1") == [
        "version 2.00.1380.1084", "build 1240", "hotfix DLL 2.00.1380.1084", "package folder PKGS",
        "backup suffix .pre-Q1"]
