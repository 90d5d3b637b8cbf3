"""The fact names live in plugins/module_utils/facts.py. The role and the playbooks read no fact by a literal
name (the modules and filters read them through facts.py, e.g. remediate's stop_at_failed_child), and the one
name they must write, the outcome record the rescue sets, is the name facts.py gives it."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from ansible_collections.sms.remediation.plugins.module_utils.facts import (
    OUTCOME_FACT, PACKAGES_FACT, PLAN_FACT, PROBE_FACT, SITE_FACT)

REPO = Path(__file__).resolve().parents[2]
YAML_FILES = sorted([*(REPO / "roles").rglob("*.yml"), *(REPO / "playbooks").glob("*.yml")])
FACT_NAME = re.compile(r"\b(?:" + "|".join((PROBE_FACT, SITE_FACT, PACKAGES_FACT, PLAN_FACT)) + r")\b")


def test_the_role_and_playbooks_read_no_fact_of_facts_py_by_a_literal_name():
    found = [f"{path.relative_to(REPO)}:{number}: {line.strip()}" for path in YAML_FILES
             for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
             if FACT_NAME.search(line)]
    assert found == []


def test_the_rescue_records_the_outcome_under_the_name_of_facts_py():
    tasks = yaml.safe_load((REPO / "roles" / "q244405" / "tasks" / "main.yml").read_text(encoding="utf-8"))
    rescue = next(task for task in tasks if "rescue" in task)["rescue"]
    record = next(task for task in rescue if "ansible.builtin.set_fact" in task)["ansible.builtin.set_fact"]
    assert list(record) == [OUTCOME_FACT]
    assert f"ansible_failed_result.{OUTCOME_FACT} " in record[OUTCOME_FACT]
