"""The spine of one host (facts -> plan -> steps -> outcome) on a fake transport: the remediate action
runs check mode, a real run and a second run (changed=0) over an in-memory site, and no WinRM module
is ever asked for. That the spine needs nothing but the seam is what lets a second transport plug in."""

from __future__ import annotations

import sys
from pathlib import Path
from unittest.mock import MagicMock

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "module_utils"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from ansible.playbook.task import Task  # noqa: E402
from ansible.template import Templar  # noqa: E402

from ansible_collections.sms.remediation.plugins.action import distmgr_hotfix, remediate  # noqa: E402
from ansible_collections.sms.remediation.plugins.plugin_utils import _action  # noqa: E402
from fake_transport import FakeSite, FakeTransport, dll_bytes, sha256  # noqa: E402

HOST = "sms610"
PARENT_FACTS = {"host": "sms600", "site_code": "600", "active": {"available": True, "ids": ["60000001"], "deleting": []}}
DLL = "C:\\SMS\\bin\\i386\\Distmgr.dll"


def no_winrm(*_args, **kwargs):
    raise AssertionError(f"a WinRM module was asked for: {kwargs.get('module_name')}")


@pytest.fixture
def fake(monkeypatch):
    """The site, and every transport the actions made: the fake is what transport_for chooses."""
    site = FakeSite()
    made = []

    def transport_for(action, task_vars):
        made.append(FakeTransport(site, task_vars["inventory_hostname"], bool(action._task.check_mode)))
        return made[-1]
    monkeypatch.setattr(_action, "transport_for", transport_for)
    return site, made


def run(module, args, check_mode=False):
    task = MagicMock(Task)
    task.args, task.check_mode, task.diff, task.async_val = dict(args), check_mode, False, 0
    task.action = f"sms.remediation.{module.__name__.rsplit('.', 1)[-1]}"
    action = module.ActionModule(task, MagicMock(), MagicMock(), loader=MagicMock(), templar=Templar(loader=None),
                                 shared_loader_obj=None)
    action._execute_module = no_winrm
    action._find_needle = lambda kind, path: path
    return action.run(task_vars={"inventory_hostname": HOST})


def remediate_args(tmp_path, **extra):
    hotfix = tmp_path / "Distmgr.dll"
    hotfix.write_bytes(dll_bytes("2.00.1380.1083"))
    return dict({"policy": "auto", "origin_sites": {"600": PARENT_FACTS}, "hotfix_files": {"i386": str(hotfix)},
                 "enable_distmgr_logging": True, "restart_executive": True}, **extra), hotfix


def test_check_mode_then_real_run_then_second_run_on_the_fake_transport(fake, tmp_path):
    site, made = fake
    args, hotfix = remediate_args(tmp_path)
    before = site.snapshot()

    check = run(remediate, args, check_mode=True)
    assert not check.get("failed"), check.get("msg")
    outcome = check["ansible_facts"]["q244405_outcome"]
    assert check["changed"] is True
    assert outcome["workaround"]["removed"] == ["60000012"] and outcome["hotfix"]["outcome"] == "would_replace"
    assert outcome["logging"]["changed"] is True
    assert site.snapshot() == before, "check mode changed the site"
    assert made[-1].calls == ["probe", "set_registry_value", "restart_service"] and made[-1].closed

    real = run(remediate, args)
    assert not real.get("failed"), real.get("msg")
    outcome = real["ansible_facts"]["q244405_outcome"]
    assert real["changed"] is True
    assert made[-1].calls == ["probe", "set_registry_value", "restart_service", "act_on_packages", "stage_file",
                              "hotfix_transaction", "probe"]
    assert site.get("D:\\SMSPKG\\60000012.PCK") is None and site.get("D:\\SMSPKG\\61000001.PCK") is not None
    assert sha256(site.get(DLL)) == sha256(hotfix.read_bytes())
    assert site.get(DLL + ".pre-Q244405") == dll_bytes("2.00.1380.1000")
    assert site.tracing_enabled == 1 and site.restarts == ["SMS_EXECUTIVE"]
    after = real["ansible_facts"]["sms_site"]
    assert after["q244405"]["fixed_by"] == "hotfix" and after["transport"] == "winrm"
    assert outcome["hotfix"]["distmgr_version"] == {"before": "2.00.1380.1000", "after": "2.00.1380.1083"}

    second = run(remediate, args)
    assert not second.get("failed"), second.get("msg")
    assert second["changed"] is False
    assert made[-1].calls == ["probe"]
    assert second["ansible_facts"]["sms_plan"]["steps"] == [
        {"kind": "enable_logging", "args": {"registry_key": "HKLM:\\SOFTWARE\\Microsoft\\SMS\\Tracing\\SMS_DISTRIBUTION_MANAGER",
                                            "value_name": "Enabled", "was_enabled": True, "set": False,
                                            "restart_service": "SMS_EXECUTIVE"}}]


def test_the_installer_and_the_single_step_module_on_the_fake_transport(fake, tmp_path):
    site, made = fake
    site.put("C:\\HOTFIX\\Q244405.exe", b"MZ installer")
    result = run(distmgr_hotfix, {"method": "installer", "installer_path": "C:\\HOTFIX\\Q244405.exe"})
    assert not result.get("failed"), result.get("msg")
    assert result["outcome"] == "installed" and result["fixed_by"] == "hotfix"
    assert made[-1].calls == ["probe", "run_installer", "probe"]
    again = run(distmgr_hotfix, {"method": "installer", "installer_path": "C:\\HOTFIX\\Q244405.exe"})
    assert again["changed"] is False and again["outcome"] == "already_fixed"


def test_a_refused_hotfix_fails_after_the_workaround_with_the_reason(fake, tmp_path):
    site, made = fake
    site.services["SMS_EXECUTIVE"] = None
    args, _hotfix = remediate_args(tmp_path, enable_distmgr_logging=False)
    result = run(remediate, args)
    assert result["failed"] is True
    assert result["msg"] == f"{HOST}: service SMS_EXECUTIVE not found; is this an SMS 2.0 site server?"
    outcome = result["q244405_outcome"]
    assert outcome["failed_step"] == "hotfix" and outcome["hotfix"]["changed"] is False
    assert outcome["workaround"]["removed"] == ["60000012"]
    assert made[-1].calls == ["probe", "act_on_packages"]
