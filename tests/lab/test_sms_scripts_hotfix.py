"""The lab's twins of sms_hotfix_transaction.ps1 and Q244405.exe, on a host built by hand
(``sms_script_host``): success, check mode, refusals, rollback and the faults that must not be hidden."""

from __future__ import annotations

import hashlib

import pytest

from sms_script_host import (DLL, HOTFIX_SCHEMA, NEW_DLL, NEW_SHA, OLD_DLL, OLD_SHA, SERVICES_BEFORE, STAGED, check,
                             host_digest, make_host, run_script)
from smslab.handlers import COMMAND_HANDLERS, HostContext
from smslab.state import dll_bytes


# ---- hotfix_transaction -------------------------------------------------------------------------
def hotfix_params(**extra):
    params = {"InstallDir": "C:\\SMS", "Platform": "i386", "StagedPath": STAGED, "ExpectedSha256": NEW_SHA.upper(),
              "MinimumVersion": "2.0.1380.1083",
              "StopOrder": ["SMS_SITE_COMPONENT_MANAGER", "SMS_EXECUTIVE", "SMS_SITE_BACKUP"],
              "WaitSeconds": 60, "BackupSuffix": ".pre-Q244405", "HotfixLogName": "Q244405.log"}
    params.update(extra)
    return params


def services_of(state):
    return {name: state.services[name]["state"] for name in SERVICES_BEFORE}


def test_hotfix_success_then_unchanged(tmp_path):
    state = make_host(tmp_path)
    result, changed = run_script(state, "hotfix_transaction", hotfix_params())
    check(result, HOTFIX_SCHEMA)
    assert changed is True and result["outcome"] == "replaced" and result["failed_step"] is None
    assert [s["step"] for s in result["steps"]] == [
        "precheck", "journal", "stop:SMS_SITE_COMPONENT_MANAGER", "stop:SMS_EXECUTIVE", "backup", "swap", "verify",
        "start:SMS_EXECUTIVE", "start:SMS_SITE_COMPONENT_MANAGER", "verify_running", "log"]
    assert all(s["ok"] for s in result["steps"])
    assert result["services_before"] == result["services_after"] == SERVICES_BEFORE == services_of(state)
    assert result["new_version"] == "2.00.1380.1083" and result["new_sha256"] == NEW_SHA
    assert state.read_bytes(DLL) == NEW_DLL and state.read_bytes(DLL + ".pre-Q244405") == OLD_DLL
    log = state.read_bytes("C:\\SMS\\Logs\\Q244405.log").decode()
    assert log.count("\n") == 1 and "2.00.1380.1000 -> 2.00.1380.1083" in log

    result, changed = run_script(state, "hotfix_transaction", hotfix_params())
    assert changed is False and result["outcome"] == "unchanged" and len(result["steps"]) == 1
    assert state.read_bytes("C:\\SMS\\Logs\\Q244405.log").decode() == log


def test_hotfix_check_mode_changes_nothing(tmp_path):
    state = make_host(tmp_path)
    before = host_digest(state)
    result, changed = run_script(state, "hotfix_transaction", hotfix_params(), check_mode=True)
    assert result["outcome"] == "would_replace" and changed is True
    assert result["new_sha256"] == OLD_SHA and host_digest(state) == before


def test_hotfix_precheck_refuses_a_wrong_staged_file(tmp_path):
    state = make_host(tmp_path)
    state.write_bytes(STAGED, dll_bytes("2.00.1380.1000"))
    result, changed = run_script(state, "hotfix_transaction",
                                 hotfix_params(ExpectedSha256=hashlib.sha256(dll_bytes("2.00.1380.1000")).hexdigest()))
    assert result["outcome"] == "failed" and result["failed_step"] == "precheck" and changed is False
    assert "below 2.0.1380.1083" in result["error"] and services_of(state) == SERVICES_BEFORE


@pytest.mark.parametrize("faults,failed_step,restored", [
    ({"service_wont_stop": ["SMS_EXECUTIVE"]}, "stop:SMS_EXECUTIVE", False),
    ({"fail_step": "stop:SMS_SITE_COMPONENT_MANAGER"}, "stop:SMS_SITE_COMPONENT_MANAGER", False),
    ({"fail_step": "backup"}, "backup", False),
    ({"fail_step": "swap"}, "swap", True),
    ({"fail_step": "verify"}, "verify", True),
    ({"fail_step": "start:SMS_SITE_COMPONENT_MANAGER"}, "start:SMS_SITE_COMPONENT_MANAGER", True),
    ({"fail_step": "log"}, "log", True),
])
def test_hotfix_failure_rolls_back(tmp_path, faults, failed_step, restored):
    state = make_host(tmp_path, faults=faults)
    result, changed = run_script(state, "hotfix_transaction", hotfix_params())
    check(result, HOTFIX_SCHEMA)
    assert result["outcome"] == "failed" and result["failed_step"] == failed_step and result["error"]
    assert result["restored"] is restored
    assert {"step": failed_step, "ok": False, "detail": result["error"]} in result["steps"]
    assert result["services_before"] == result["services_after"] == SERVICES_BEFORE == services_of(state)
    assert state.read_bytes(DLL) == OLD_DLL and result["new_sha256"] == OLD_SHA
    assert not state.exists("C:\\SMS\\Logs\\Q244405.log")


def test_hotfix_service_wont_start_is_reported_not_hidden(tmp_path):
    state = make_host(tmp_path, faults={"service_wont_start": ["SMS_EXECUTIVE"]})
    result, _unused = run_script(state, "hotfix_transaction", hotfix_params())
    assert result["outcome"] == "failed" and result["failed_step"] == "start:SMS_EXECUTIVE"
    assert result["restored"] is True and state.read_bytes(DLL) == OLD_DLL
    assert result["services_after"]["SMS_SITE_COMPONENT_MANAGER"] == "running"
    assert result["services_after"]["SMS_EXECUTIVE"] == "stopped"
    assert {"step": "rollback:start:SMS_EXECUTIVE", "ok": False,
            "detail": "service SMS_EXECUTIVE did not start within 60 seconds (state stopped)"} in result["steps"]


# ---- Q244405.exe ------------------------------------------------------------------------------
def run_installer(state, *args):
    return COMMAND_HANDLERS["q244405.exe"](HostContext(name=state.name, state=state),
                                           ["C:\\WINNT\\Temp\\Q244405\\Q244405.exe", *args])


def test_installer_refused_on_alpha(tmp_path):
    state = make_host(tmp_path, arch="ALPHA")
    before = host_digest(state)
    rc, _unused, err = run_installer(state, "/s")
    assert rc == 1 and "I386" in err and host_digest(state) == before


def test_installer_needs_quiet_mode_and_a_closed_console(tmp_path):
    state = make_host(tmp_path, console=True)
    before = host_digest(state)
    rc, _unused, err = run_installer(state)
    assert rc == 1 and "interactive wizard not supported in the lab" in err
    rc, _unused, err = run_installer(state, "/s")
    assert rc == 1 and "console" in err and host_digest(state) == before


def test_installer_quiet_install(tmp_path):
    state = make_host(tmp_path)
    state.services["SMS_SITE_BACKUP"]["state"] = "running"
    rc, out, _unused = run_installer(state, "/S")
    assert rc == 0 and "2.00.1380.1083" in out
    assert state.file_version(DLL) == "2.00.1380.1083" and len(state.read_bytes(DLL)) == 4096
    assert state.exists("C:\\SMS\\Logs\\Q244405.log")
    assert all(state.services[name]["state"] == "running" for name in SERVICES_BEFORE)
    result, _unused = run_script(state, "probe", {})
    assert result["hotfix_log"]["exists"] is True
    assert result["platforms"]["i386"]["file_version"] == "2.00.1380.1083"


def test_installer_service_wont_stop_changes_nothing(tmp_path):
    state = make_host(tmp_path, faults={"service_wont_stop": ["SMS_EXECUTIVE"]})
    rc, _unused, err = run_installer(state, "/s")
    assert rc == 1 and "SMS_EXECUTIVE" in err
    assert services_of(state) == SERVICES_BEFORE and state.read_bytes(DLL) == OLD_DLL
