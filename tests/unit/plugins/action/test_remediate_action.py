"""The remediate action plugin against recorded replies: which remote calls one task makes per host,
and the facts, outcome record and --diff it returns (check mode, real runs, failures, bad options)."""

from __future__ import annotations

import json

import pytest
from ansible.errors import AnsibleActionFail, AnsibleConnectionFailure

import probe_builders as pb
from recorded_replies import powershell_reply

HOST = "sms610"
PWSH = "ansible.windows.win_powershell"
REGEDIT = "ansible.windows.win_regedit"
SERVICE = "ansible.windows.win_service"
PROBE_SCRIPT = "# sms.remediation:probe v1"
PACKAGE_SCRIPT = "# sms.remediation:compressed_package v1"
HOTFIX_SCRIPT = "# sms.remediation:hotfix_transaction v1"

TRACING_KEY = "HKLM:\\SOFTWARE\\Microsoft\\SMS\\Tracing\\SMS_DISTRIBUTION_MANAGER"
LEFTOVER_ID = "60000012"
LEFTOVER_PATH = "D:\\SMSPKG\\60000012.PCK"
LEFTOVER_SIZE = 1000
UNFIXED_DLL = "2.00.1380.1000"
FIXED_DLL = "2.00.1380.1083"
PARENT_FACTS = {"host": "sms600", "site_code": "600",
                "active": {"available": True, "ids": ["60000013"], "deleting": []}}


def child_probe(with_leftover=True, distmgr_version=UNFIXED_DLL, tracing_enabled=1, **overrides):
    """Site 610 under 600: the active package 60000013 and, unless removed, the leftover 60000012
    (deleted at the parent according to the log); ``overrides`` replace top-level probe keys."""
    files = [pb.pck("60000013", size=2000)]
    log = []
    if with_leftover:
        files.insert(0, pb.pck(LEFTOVER_ID, size=LEFTOVER_SIZE))
        log = [pb.deleting(LEFTOVER_ID), pb.deleted(LEFTOVER_ID)]
    answer = pb.site_probe("610", "600", files=files, active_ids=["60000013"], log=log,
                           tracing_enabled=tracing_enabled)
    answer["platforms"] = pb.platforms(i386=distmgr_version)
    answer.update(overrides)
    return answer


CHILD = child_probe()
CHILD_WITHOUT_LEFTOVER = child_probe(with_leftover=False)
CHILD_FIXED_WITHOUT_LEFTOVER = child_probe(with_leftover=False, distmgr_version=FIXED_DLL)


def task_vars_for(probe_answer=None, **extra):
    """Task vars of the child host; ``probe_answer`` is the sms_probe cached by an earlier site_facts."""
    task_vars = {"inventory_hostname": HOST}
    if probe_answer is not None:
        task_vars["ansible_facts"] = {"sms_probe": probe_answer}
    task_vars.update(extra)
    return task_vars


def parent_in_hostvars():
    return {"hostvars": {"sms600": {"ansible_facts": {"sms_site": PARENT_FACTS}}}}


def removal_reply(package_id=LEFTOVER_ID, path=LEFTOVER_PATH, size=LEFTOVER_SIZE, outcome="removed"):
    """The compressed_package host script's answer for one file."""
    item = {"id": package_id, "path": path, "outcome": outcome, "reason": None, "sha256": "00", "size": size}
    return powershell_reply({"items": [item], "manifest": None}, changed=True)


def failed_script_reply(message):
    """win_powershell's answer when the script threw."""
    return dict(powershell_reply({}), failed=True, error=[{"exception": {"message": message}}])


def build_remediate(make_action, args, replies=None, check_mode=False):
    """The remediate action with recorded replies; the parent's facts as origin_sites unless ``args`` says otherwise."""
    return make_action("remediate", dict({"origin_sites": {"600": PARENT_FACTS}}, **args), replies or {},
                       check_mode=check_mode)


def run_remediate(make_action, args, replies=None, task_vars=None, check_mode=False):
    """Run remediate on the child host (cached probe CHILD unless ``task_vars`` is given)."""
    action = build_remediate(make_action, args, replies, check_mode)
    result = action.run(task_vars=task_vars if task_vars is not None else task_vars_for(CHILD))
    return action, result


@pytest.fixture
def new_dll(tmp_path):
    """The fixed Distmgr.dll on the controller (hotfix_files)."""
    dll = tmp_path / "Distmgr.dll"
    dll.write_bytes(b"MZ new dll")
    return str(dll)


def fake_hotfix_staging(action, staged):
    """Local Distmgr.dll found as is; win_copy staging recorded instead of run (as test_actions.py does)."""
    action._find_needle = lambda kind, path: path
    action.stage = lambda source, staging_dir, task_vars: staged.append((source, staging_dir))


def hotfix_transaction_reply(outcome="replaced", **extra):
    services = {"SMS_SITE_COMPONENT_MANAGER": "running", "SMS_EXECUTIVE": "running"}
    return powershell_reply(dict({"outcome": outcome, "services_before": services, "services_after": services,
                                  "steps": [{"step": "swap", "ok": outcome == "replaced"}]}, **extra),
                            changed=outcome == "replaced")


def regedit_reply(changed, before="0x00000000"):
    """win_regedit's answer for Tracing Enabled, with its own --diff (dicts keyed by the printed path)."""
    def value(data):
        return {TRACING_KEY: {"Enabled": {"type": "Dword", "value": data}}}
    after = "0x00000001" if changed else before
    return {"changed": changed, "data_changed": changed, "data_type_changed": False,
            "diff": {"before": value(before), "after": value(after)}}


def flat_text(value) -> str:
    """A diff side as text, whether a string (the .PCK files, Distmgr.dll) or win_regedit's dict."""
    if isinstance(value, dict):
        return "".join(f"{key}\n{flat_text(item)}" for key, item in value.items())
    return f"{value}\n"


def diff_text(result, side) -> str:
    """One side of the task's --diff: a diff or the list of diffs the callback prints one after the other."""
    diffs = result["diff"] if isinstance(result["diff"], list) else [result["diff"]]
    return "".join(flat_text(diff[side]) for diff in diffs)


def leftover_statuses(packages_fact):
    return {leftover["package_id"]: leftover["status"] for leftover in packages_fact["leftovers"]}


# ---- check mode -----------------------------------------------------------------------------------

PARENT_SOURCES = {
    "origin_sites option": ({"origin_sites": {"600": PARENT_FACTS}}, {}),
    "hostvars": ({"origin_sites": {}}, parent_in_hostvars()),
    "q244405_origin_sites as JSON text": ({"origin_sites": {}},
                                          {"q244405_origin_sites": json.dumps({"600": PARENT_FACTS})}),
}


@pytest.mark.parametrize("args, extra_vars", PARENT_SOURCES.values(), ids=PARENT_SOURCES.keys())
def test_check_mode_with_cached_probe_predicts_the_removal_without_remote_calls(make_action, args, extra_vars):
    action, result = run_remediate(make_action, dict(args, policy="workaround"),
                                   task_vars=task_vars_for(CHILD, **extra_vars), check_mode=True)
    assert action._execute_module.calls == []
    assert result["changed"] is True
    facts = result["ansible_facts"]
    workaround = facts["q244405_outcome"]["workaround"]
    assert workaround["removed"] == [LEFTOVER_ID]
    assert workaround["bytes_reclaimed"] == LEFTOVER_SIZE
    assert [item["outcome"] for item in workaround["outcomes"]] == ["would_remove"]
    assert LEFTOVER_PATH in diff_text(result, "before") and LEFTOVER_PATH not in diff_text(result, "after")
    assert [item["package_id"] for item in facts["sms_plan"]["remove"]] == [LEFTOVER_ID]
    # sms_probe and sms_site came from the cache: only the new facts go back to the controller.
    assert "sms_probe" not in facts and "sms_site" not in facts
    assert leftover_statuses(facts["sms_packages"])[LEFTOVER_ID] == "stale_confirmed"
    assert "site_before" not in facts["q244405_outcome"]


def test_check_mode_quarantine_predicts_the_quarantine(make_action):
    action, result = run_remediate(make_action, {"policy": "workaround", "workaround_state": "quarantined",
                                                 "quarantine_dir": "D:\\Q244405-quarantine"}, check_mode=True)
    assert action._execute_module.calls == []
    workaround = result["ansible_facts"]["q244405_outcome"]["workaround"]
    assert workaround["quarantined"] == [LEFTOVER_ID] and workaround["removed"] == []
    assert result["changed"] is True


def test_without_cached_probe_the_task_probes_once_and_returns_the_probe_facts(make_action):
    action, result = run_remediate(make_action, {"policy": "workaround"}, {PWSH: [powershell_reply(CHILD)]},
                                   task_vars=task_vars_for(), check_mode=True)
    assert action._execute_module.scripts() == [PROBE_SCRIPT]
    facts = result["ansible_facts"]
    assert facts["sms_probe"] == CHILD
    assert facts["sms_site"]["site_code"] == "610"
    assert facts["q244405_outcome"]["workaround"]["removed"] == [LEFTOVER_ID]


def test_report_policy_changes_nothing(make_action):
    action, result = run_remediate(make_action, {"policy": "report"})
    assert action._execute_module.calls == []
    assert result["changed"] is False
    outcome = result["ansible_facts"]["q244405_outcome"]
    assert outcome["plan"]["policy"] == "report"
    assert outcome["plan"]["remove"] == [] and outcome["plan"]["hotfix"] is False
    assert "workaround" not in outcome and "site_before" not in outcome
    assert "diff" not in result
    # The classification is still reported: the leftover is found, just not removed.
    assert leftover_statuses(result["ansible_facts"]["sms_packages"])[LEFTOVER_ID] == "stale_confirmed"


# ---- real runs ------------------------------------------------------------------------------------

def test_workaround_removes_then_measures_the_host_again(make_action):
    replies = {PWSH: [removal_reply(), powershell_reply(CHILD_WITHOUT_LEFTOVER)]}
    action, result = run_remediate(make_action, {"policy": "workaround"}, replies)
    assert action._execute_module.scripts() == [PACKAGE_SCRIPT, PROBE_SCRIPT]
    package_call = action._execute_module.calls[0][1]["parameters"]
    assert package_call["Mode"] == "absent"
    assert package_call["Items"] == [{"id": LEFTOVER_ID, "path": LEFTOVER_PATH}]
    assert result["changed"] is True
    facts = result["ansible_facts"]
    assert facts["sms_probe"] == CHILD_WITHOUT_LEFTOVER
    assert facts["sms_site"]["site_code"] == "610"
    assert LEFTOVER_ID not in leftover_statuses(facts["sms_packages"])
    outcome = facts["q244405_outcome"]
    assert outcome["error"] is None
    assert outcome["site_before"]["site_code"] == "610"
    assert leftover_statuses(outcome["packages_before"])[LEFTOVER_ID] == "stale_confirmed"
    assert outcome["workaround"]["removed"] == [LEFTOVER_ID]
    # The step's "cached probe is stale" fact is replaced by the measured one, not left in the record.
    assert "ansible_facts" not in outcome["workaround"]
    assert LEFTOVER_PATH in diff_text(result, "before")


def test_quarantine_hands_the_folder_to_the_host_script(make_action):
    replies = {PWSH: [removal_reply(outcome="quarantined"), powershell_reply(CHILD_WITHOUT_LEFTOVER)]}
    action, result = run_remediate(make_action, {"policy": "workaround", "workaround_state": "quarantined",
                                                 "quarantine_dir": "D:\\Q244405-quarantine"}, replies)
    package_call = action._execute_module.calls[0][1]["parameters"]
    assert (package_call["Mode"], package_call["QuarantineDir"]) == ("quarantined", "D:\\Q244405-quarantine")
    assert result["ansible_facts"]["q244405_outcome"]["workaround"]["quarantined"] == [LEFTOVER_ID]


def test_without_verify_the_cached_probe_is_dropped_instead_of_probing_again(make_action):
    action, result = run_remediate(make_action, {"policy": "workaround", "verify": False}, {PWSH: [removal_reply()]})
    assert action._execute_module.scripts() == [PACKAGE_SCRIPT]
    assert result["changed"] is True
    facts = result["ansible_facts"]
    assert facts["sms_probe"] == {}
    assert "sms_site" not in facts
    assert "site_before" in facts["q244405_outcome"]


def test_nothing_to_do_costs_no_remote_call(make_action, tmp_path):
    # A hotfix source is given, yet the fixed site with no leftovers needs nothing.
    action, result = run_remediate(make_action, {"hotfix_files": {"i386": str(tmp_path / "Distmgr.dll")}},
                                   task_vars=task_vars_for(CHILD_FIXED_WITHOUT_LEFTOVER))
    assert action._execute_module.calls == []
    assert result["changed"] is False
    outcome = result["ansible_facts"]["q244405_outcome"]
    assert outcome["plan"]["remove"] == [] and outcome["plan"]["hotfix"] is False
    assert "site_before" not in outcome and "workaround" not in outcome and "hotfix" not in outcome
    assert "diff" not in result


def test_stop_reason_skips_the_host(make_action):
    reason = "parent site 600 failed"
    action, result = run_remediate(make_action, {"stop_reason": reason})
    assert action._execute_module.calls == []
    assert result["changed"] is False
    assert reason in result["msg"] and result["msg"].startswith(f"{HOST}: ")
    facts = result["ansible_facts"]
    assert facts["q244405_outcome"]["skipped"] == reason
    assert facts["q244405_outcome"]["plan"] == {}
    assert "sms_plan" not in facts
    assert leftover_statuses(facts["sms_packages"])[LEFTOVER_ID] == "stale_confirmed"


def play_with_a_failed_child(child_outcome):
    """Site 610 (this host) is the parent of 611 (sms611), whose remediation had ``child_outcome``; facts in
    hostvars exactly as the facts play leaves them (SiteFacts.to_facts, the sms_site fact of facts.py)."""
    from ansible_collections.sms.remediation.plugins.module_utils import sms20
    from ansible_collections.sms.remediation.plugins.module_utils.probe_result import parse_probe
    table = sms20.merge_overrides(None)
    child = parse_probe("sms611", pb.site_probe("611", "610"), table).to_facts()
    hostvars = {HOST: {"ansible_facts": {"sms_site": parse_probe(HOST, CHILD, table).to_facts()}},
                "sms611": {"ansible_facts": {"sms_site": child}, "q244405_outcome": child_outcome}}
    return task_vars_for(CHILD, hostvars=hostvars, ansible_play_hosts_all=["sms611", HOST],
                         ansible_play_hosts=[HOST] if child_outcome.get("error") else ["sms611", HOST])


def test_stop_at_failed_child_skips_a_parent_whose_child_failed(make_action):
    task_vars = play_with_a_failed_child({"error": "sms611: hotfix: SMS_EXECUTIVE did not stop"})
    action = build_remediate(make_action, {"stop_at_failed_child": True})
    result = action.run(task_vars=task_vars)
    assert action._execute_module.calls == []
    reason = ("not remediated: child site 611 (sms611) failed; q244405_stop_at_failed_child stops the walk up the "
              "hierarchy at site 610")
    assert result["ansible_facts"]["q244405_outcome"]["skipped"] == reason
    assert result["msg"] == f"{HOST}: not remediated: {reason}"


@pytest.mark.parametrize("stop_at_failed_child, child_outcome", [
    (False, {"error": "sms611: hotfix: SMS_EXECUTIVE did not stop"}),     # the option is off
    (True, {"error": None}),                                              # the child did not fail
])
def test_a_parent_is_remediated_unless_asked_and_a_child_failed(make_action, stop_at_failed_child, child_outcome):
    task_vars = play_with_a_failed_child(child_outcome)
    action = build_remediate(make_action, {"stop_at_failed_child": stop_at_failed_child, "policy": "report"})
    result = action.run(task_vars=task_vars)
    assert "skipped" not in result["ansible_facts"]["q244405_outcome"], result


def test_auto_removes_and_hotfixes_and_the_hotfix_probe_serves_as_verification(make_action, new_dll):
    after = child_probe(with_leftover=False, distmgr_version=FIXED_DLL)
    replies = {PWSH: [removal_reply(), hotfix_transaction_reply(), powershell_reply(after)]}
    action = build_remediate(make_action, {"hotfix_files": {"i386": new_dll}}, replies)
    staged = []
    fake_hotfix_staging(action, staged)
    result = action.run(task_vars=task_vars_for(CHILD))
    # One probe only: the hotfix's own verification, no second one.
    assert action._execute_module.scripts() == [PACKAGE_SCRIPT, HOTFIX_SCRIPT, PROBE_SCRIPT]
    assert staged == [(new_dll, "C:\\SMS\\hotfix\\Q244405\\i386")]
    assert result["changed"] is True
    facts = result["ansible_facts"]
    assert facts["sms_probe"] == after
    assert facts["sms_site"]["q244405"]["fixed_by"] == "hotfix"
    hotfix = facts["q244405_outcome"]["hotfix"]
    assert (hotfix["outcome"], hotfix["fixed_by"]) == ("replaced", "hotfix")
    assert hotfix["distmgr_version"] == {"before": UNFIXED_DLL, "after": FIXED_DLL}
    assert "ansible_facts" not in hotfix
    assert f"Distmgr.dll {UNFIXED_DLL}" in diff_text(result, "before")
    assert LEFTOVER_PATH in diff_text(result, "before")
    assert f"Distmgr.dll {FIXED_DLL}" in diff_text(result, "after")


# ---- failures -------------------------------------------------------------------------------------

def test_failing_workaround_returns_the_outcome_record(make_action):
    replies = {PWSH: [failed_script_reply("Access to D:\\SMSPKG\\60000012.PCK is denied")]}
    action, result = run_remediate(make_action, {"policy": "workaround"}, replies)
    assert action._execute_module.scripts() == [PACKAGE_SCRIPT]
    assert result["failed"] is True
    assert result["msg"].startswith(f"{HOST}: ") and "is denied" in result["msg"]
    assert result["changed"] is False
    assert "ansible_facts" not in result
    outcome = result["q244405_outcome"]
    assert outcome["error"] == result["msg"]
    assert outcome["failed_step"] == "workaround"
    # the cached sms_site fact stays the state before (a failed task sets no facts): not repeated here
    assert "site_before" not in outcome
    assert [item["package_id"] for item in outcome["plan"]["remove"]] == [LEFTOVER_ID]


def test_failing_hotfix_transaction_keeps_its_steps_and_the_earlier_removal(make_action, new_dll):
    failed = hotfix_transaction_reply("failed", failed_step="stop:SMS_EXECUTIVE", error="did not stop in 120 s",
                                      restored=True)
    action = build_remediate(make_action, {"hotfix_files": {"i386": new_dll}}, {PWSH: [removal_reply(), failed]})
    fake_hotfix_staging(action, [])
    result = action.run(task_vars=task_vars_for(CHILD))
    assert action._execute_module.scripts() == [PACKAGE_SCRIPT, HOTFIX_SCRIPT]
    assert result["failed"] is True and result["changed"] is True
    assert result["msg"].startswith(f"{HOST}: hotfix failed at step stop:SMS_EXECUTIVE")
    outcome = result["q244405_outcome"]
    assert outcome["failed_step"] == "hotfix"
    assert outcome["workaround"]["removed"] == [LEFTOVER_ID]
    assert outcome["hotfix"]["outcome"] == "failed" and outcome["hotfix"]["failed"] is True
    assert outcome["hotfix"]["steps"] == [{"step": "swap", "ok": False}]


def test_malformed_verification_probe_still_returns_the_outcome_record(make_action):
    malformed_after = child_probe(with_leftover=False, schema=7)
    replies = {PWSH: [removal_reply(), powershell_reply(malformed_after)]}
    action, result = run_remediate(make_action, {"policy": "workaround"}, replies)
    assert action._execute_module.scripts() == [PACKAGE_SCRIPT, PROBE_SCRIPT]
    assert result["failed"] is True
    assert result["msg"].startswith(f"{HOST}: ") and "schema 7" in result["msg"]
    assert result["changed"] is True  # the leftover is gone all the same
    assert result["q244405_outcome"]["failed_step"] == "verify"
    assert result["q244405_outcome"]["workaround"]["removed"] == [LEFTOVER_ID]


@pytest.mark.parametrize("error_type", [AnsibleConnectionFailure, ConnectionResetError],
                         ids=["ansible connection failure", "transport library error"])
def test_dropped_connection_is_this_hosts_failure_with_the_step(make_action, error_type):
    action = build_remediate(make_action, {"policy": "workaround"})

    def dropped_link(**_unused):
        raise error_type("winrm: connection reset by peer")
    action._execute_module = dropped_link
    result = action.run(task_vars=task_vars_for(CHILD))
    assert result["failed"] is True
    assert result["msg"].startswith(f"{HOST}: workaround: ") and "connection reset" in result["msg"]
    assert result["q244405_outcome"]["failed_step"] == "workaround"
    assert result["q244405_outcome"]["error"] == result["msg"]


def test_quarantine_without_folder_is_refused_with_the_host(make_action):
    with pytest.raises(AnsibleActionFail, match=f"^{HOST}: workaround_state=quarantined needs quarantine_dir"):
        run_remediate(make_action, {"workaround_state": "quarantined"})


@pytest.mark.parametrize("args, expected", [
    ({"policy": "sometimes"}, "policy"),
    ({"min_evidence": "gut_feeling"}, "min_evidence"),
    ({"polcy": "auto"}, "unsupported parameter.*polcy"),
], ids=["bad choice", "bad evidence level", "unknown option"])
def test_invalid_options_are_refused_with_the_host(make_action, args, expected):
    with pytest.raises(AnsibleActionFail, match=f"^{HOST}: remediate: .*{expected}") as raised:
        run_remediate(make_action, args)
    assert raised.value.message.startswith(f"{HOST}: ")


# ---- Distribution Manager logging -------------------------------------------------------------------

@pytest.mark.parametrize("regedit_changed", [True, False], ids=["value set", "value already 1"])
def test_logging_is_switched_on_where_it_is_off(make_action, regedit_changed):
    logging_off = child_probe(tracing_enabled=0)
    reply = regedit_reply(regedit_changed, before="0x00000000" if regedit_changed else "0x00000001")
    action, result = run_remediate(make_action, {"policy": "report", "enable_distmgr_logging": True},
                                   {REGEDIT: [reply]}, task_vars=task_vars_for(logging_off), check_mode=True)
    (module_name, module_args), = action._execute_module.calls
    assert module_name == REGEDIT
    assert module_args == {"path": TRACING_KEY, "name": "Enabled", "data": 1, "type": "dword", "state": "present"}
    logging = result["ansible_facts"]["q244405_outcome"]["logging"]
    assert logging["changed"] is regedit_changed
    assert logging["was_enabled"] is False and logging["executive_restarted"] is False
    assert result["changed"] is regedit_changed
    if regedit_changed:
        assert f"{TRACING_KEY}\nEnabled\n" in diff_text(result, "after")
        assert "0x00000000" in diff_text(result, "before") and "0x00000001" in diff_text(result, "after")
    else:
        assert "diff" not in result


def test_logging_already_on_sends_nothing(make_action):
    action, result = run_remediate(make_action, {"policy": "report", "enable_distmgr_logging": True})
    assert action._execute_module.calls == []
    logging = result["ansible_facts"]["q244405_outcome"]["logging"]
    assert logging["was_enabled"] is True and logging["changed"] is False
    assert result["changed"] is False


def test_logging_restarts_a_running_executive_then_measures_again(make_action):
    logging_off = child_probe(tracing_enabled=0)
    logging_on = child_probe(tracing_enabled=1)
    replies = {REGEDIT: [regedit_reply(True)], SERVICE: [{"changed": True}], PWSH: [powershell_reply(logging_on)]}
    action, result = run_remediate(make_action, {"policy": "report", "enable_distmgr_logging": True,
                                                 "restart_executive": True},
                                   replies, task_vars=task_vars_for(logging_off))
    assert [name for name, _unused in action._execute_module.calls] == [REGEDIT, SERVICE, PWSH]
    assert action._execute_module.calls[1][1] == {"name": "SMS_EXECUTIVE", "state": "restarted"}
    assert action._execute_module.scripts() == [PROBE_SCRIPT]
    outcome = result["ansible_facts"]["q244405_outcome"]
    assert outcome["logging"]["executive_restarted"] is True
    assert result["ansible_facts"]["sms_site"]["logging"]["enabled"] is True


def test_failing_regedit_stops_before_the_workaround(make_action):
    replies = {REGEDIT: [{"failed": True, "msg": "Access is denied"}]}
    action, result = run_remediate(make_action, {"policy": "workaround", "enable_distmgr_logging": True},
                                   replies, task_vars=task_vars_for(child_probe(tracing_enabled=0)))
    assert [name for name, _unused in action._execute_module.calls] == [REGEDIT]
    assert result["failed"] is True
    assert result["msg"] == f"{HOST}: set_registry_value: {REGEDIT} failed: Access is denied"
    assert result["q244405_outcome"]["failed_step"] == "logging"
    assert "workaround" not in result["q244405_outcome"]


# ---- a refusal before anything reaches the host changes nothing ----------------------------------------

def test_hotfix_refused_by_its_precheck_changes_nothing(make_action, new_dll):
    action = build_remediate(make_action, {"policy": "hotfix", "hotfix_files": {"i386": new_dll}}, check_mode=True)
    fake_hotfix_staging(action, [])
    result = action.run(task_vars=task_vars_for(child_probe(console_open=True)))
    assert action._execute_module.calls == []
    assert result["failed"] is True and "console is open" in result["msg"]
    assert result["q244405_outcome"]["failed_step"] == "hotfix"
    assert result["changed"] is False
    assert result["q244405_outcome"]["hotfix"]["changed"] is False
