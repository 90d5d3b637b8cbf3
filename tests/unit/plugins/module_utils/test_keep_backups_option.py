"""keep_backups (issue 18, defect 4): the option that prunes old backups of Distmgr.dll goes from the role
variable through the module's documented options to the transaction's KeepBackups; 0 (every backup kept)
is the default everywhere and sends nothing (the scripts' own default)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ansible_collections.sms.remediation.plugins.module_utils import sms20
from ansible_collections.sms.remediation.plugins.module_utils.decision import plan
from ansible_collections.sms.remediation.plugins.module_utils.probe_result import parse_probe
from probe_builders import platforms, probe, registry, request

TABLE = sms20.merge_overrides(None)
ROOT = Path(__file__).resolve().parents[4]


def transaction_parameters(**options) -> dict:
    site = parse_probe("sms610", probe(registry=registry(full_version="2.00.1380.1000"),
                                       platforms=platforms(i386="2.00.1380.1000")), TABLE)
    decided = plan(site, [], request("hotfix", "manual", **options), TABLE)
    step = decided.steps[-1]
    assert step.kind == "hotfix_transaction", decided.steps
    return step.args["parameters"]


def test_keep_backups_reaches_the_transaction_and_zero_sends_nothing():
    assert transaction_parameters(keep_backups=3)["KeepBackups"] == 3
    assert "KeepBackups" not in transaction_parameters()


def test_a_negative_count_is_refused_naming_the_option():
    with pytest.raises(ValueError, match="keep_backups -1"):
        request("hotfix", "manual", keep_backups=-1).check()


def test_the_role_variable_defaults_to_every_backup_kept_and_is_passed_on():
    defaults = yaml.safe_load((ROOT / "roles/q244405/defaults/main.yml").read_text(encoding="utf-8"))
    specs = yaml.safe_load((ROOT / "roles/q244405/meta/argument_specs.yml").read_text(encoding="utf-8"))
    tasks = (ROOT / "roles/q244405/tasks/main.yml").read_text(encoding="utf-8")
    assert defaults["q244405_hotfix_keep_backups"] == 0
    assert specs["argument_specs"]["main"]["options"]["q244405_hotfix_keep_backups"]["default"] == 0
    assert 'keep_backups: "{{ q244405_hotfix_keep_backups }}"' in tasks
