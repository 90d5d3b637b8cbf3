"""The action plugins against recorded win_powershell replies: what they call, decide and return."""

from __future__ import annotations

import hashlib

import pytest
from ansible.errors import AnsibleActionFail

import probe_builders as pb
from recorded_replies import powershell_reply

PWSH = "ansible.windows.win_powershell"
CHILD = pb.site_probe(
    "610", "600",
    files=[pb.pck("60000012", size=1000), pb.pck("60000013", size=2000), pb.pck("READ ME.PCK")],
    active_ids=["60000013"],
    log=[pb.deleting("60000012"), pb.deleted("60000012")],
)
PARENT_FACTS = {"site_code": "600", "active": {"available": True, "ids": ["60000013"], "deleting": []}}


def hostvars_with_parent(parent_facts):
    return {"hostvars": {"sms600": {"ansible_facts": {"sms_site": parent_facts}}}, "inventory_hostname": "sms610"}


def test_site_facts_probes_once_and_caches_the_answer(make_action):
    action = make_action("site_facts", {}, {PWSH: [powershell_reply(CHILD)]})
    result = action.run(task_vars={"inventory_hostname": "sms610"})
    assert action._execute_module.scripts() == ["# sms.remediation:probe v1"]
    assert result["changed"] is False
    site = result["ansible_facts"]["sms_site"]
    assert (site["site_code"], site["service_pack"], site["platform"]) == ("610", "SP1", "i386")
    assert site["q244405"]["affected"] is True
    assert result["ansible_facts"]["sms_probe"] == CHILD


def test_site_facts_reuses_the_cached_probe_when_not_refreshing(make_action):
    action = make_action("site_facts", {"refresh": False}, {})
    result = action.run(task_vars={"inventory_hostname": "sms610", "ansible_facts": {"sms_probe": CHILD}})
    assert action._execute_module.calls == []
    assert result["ansible_facts"]["sms_site"]["site_code"] == "610"


def test_site_facts_malformed_answer_names_the_host(make_action):
    broken = dict(CHILD, schema=7)
    action = make_action("site_facts", {}, {PWSH: [powershell_reply(broken)]})
    result = action.run(task_vars={"inventory_hostname": "sms610"})
    assert result["failed"] is True
    assert result["msg"].startswith("sms610: ") and "schema" in result["msg"]


def test_unknown_sms20_override_is_refused_with_the_host(make_action):
    action = make_action("site_facts", {"sms20": {"no_such_fact": 1}}, {})
    with pytest.raises(AnsibleActionFail, match="sms610: invalid sms20 override.*no_such_fact"):
        action.run(task_vars={"inventory_hostname": "sms610"})


def test_wrong_module_argument_is_refused(make_action):
    action = make_action("package_facts", {"min_evidence": "gut_feeling"}, {})
    with pytest.raises(AnsibleActionFail, match="min_evidence"):
        action.run(task_vars={"inventory_hostname": "sms610"})


def test_package_facts_uses_origin_site_from_hostvars(make_action):
    action = make_action("package_facts", {}, {})
    task_vars = dict(hostvars_with_parent(PARENT_FACTS), ansible_facts={"sms_probe": CHILD})
    facts = action.run(task_vars=task_vars)["ansible_facts"]["sms_packages"]
    by_name = {leftover["name"]: leftover for leftover in facts["leftovers"]}
    assert by_name["60000012.PCK"]["status"] == "stale_confirmed"
    assert by_name["60000012.PCK"]["evidence_level"] == "log_and_origin"
    assert by_name["60000013.PCK"]["status"] == "active"
    assert by_name["READ ME.PCK"]["status"] == "unknown"
    assert facts["summary"]["bytes_reclaimable"] == 1000


def test_package_facts_present_at_origin_is_never_actionable(make_action):
    parent = dict(PARENT_FACTS, active={"available": True, "ids": ["60000012", "60000013"], "deleting": []})
    action = make_action("package_facts", {"min_evidence": "absent_here"}, {})
    task_vars = dict(hostvars_with_parent(parent), ansible_facts={"sms_probe": CHILD})
    leftovers = action.run(task_vars=task_vars)["ansible_facts"]["sms_packages"]["leftovers"]
    assert not [leftover for leftover in leftovers if leftover["actionable"]]


def test_compressed_package_sends_only_confirmed_leftovers_in_one_call(make_action):
    reply = powershell_reply({"items": [{"id": "60000012", "path": "D:\\SMSPKG\\60000012.PCK", "outcome": "removed",
                                         "reason": None, "sha256": "00", "size": 1000}], "manifest": None}, changed=True)
    action = make_action("compressed_package", {}, {PWSH: [reply]})
    result = action.run(task_vars=dict(hostvars_with_parent(PARENT_FACTS), ansible_facts={"sms_probe": CHILD}))
    (name, args), = action._execute_module.calls
    assert args["script"].startswith("# sms.remediation:compressed_package v1")
    assert args["parameters"]["Items"] == [{"id": "60000012", "path": "D:\\SMSPKG\\60000012.PCK"}]
    assert args["parameters"]["PackageFolders"] == ["D:\\SMSPKG"]
    assert result["removed"] == ["60000012"] and result["bytes_reclaimed"] == 1000
    assert result["changed"] is True and "60000012.PCK" in result["diff"]["before"]
    refused = {entry["id"] or entry["name"]: entry["reason"] for entry in result["refused"]}
    assert "60000013" in refused


def test_compressed_package_refuses_a_forced_active_package_without_calling_the_host(make_action):
    action = make_action("compressed_package", {"packages": ["60000013"], "force": ["60000013"]}, {})
    result = action.run(task_vars=dict(hostvars_with_parent(PARENT_FACTS), ansible_facts={"sms_probe": CHILD}))
    assert action._execute_module.calls == []
    assert result["changed"] is False and result["removed"] == []
    assert [entry["id"] for entry in result["refused"]] == ["60000013"]


def test_compressed_package_quarantine_needs_a_folder(make_action):
    action = make_action("compressed_package", {"state": "quarantined"}, {})
    with pytest.raises(AnsibleActionFail, match="sms610: state=quarantined needs quarantine_dir"):
        action.run(task_vars={"inventory_hostname": "sms610", "ansible_facts": {"sms_probe": CHILD}})


# Two package folders (D: and E:), as SMS 2.0 site servers often have: restore no longer needs one.
TWO_FOLDERS = pb.probe(**{**CHILD, "package_folders": [pb.folder("D:\\SMSPKG", pb.pck("60000013", size=2000)),
                                                       pb.folder("E:\\SMSPKG")]})


def test_compressed_package_restore_sends_ids_with_an_empty_path_whatever_the_folders(make_action):
    reply = powershell_reply({"items": [
        {"id": "60000012", "path": "D:\\SMSPKG\\60000012.PCK", "outcome": "restored", "reason": None,
         "sha256": "00", "size": 1000},
        {"id": "6000001A", "path": "E:\\SMSPKG\\6000001A.PCK", "outcome": "refused",
         "reason": "restore target E:\\SMSPKG\\6000001A.PCK already exists", "sha256": None, "size": None},
    ], "manifest": "D:\\SMSPKG-Q244405\\manifest.json"}, changed=True)
    action = make_action("compressed_package", {"state": "restored", "quarantine_dir": "D:\\SMSPKG-Q244405",
                                                "packages": ["60000012", "6000001a"]}, {PWSH: [reply]})
    result = action.run(task_vars=dict(hostvars_with_parent(PARENT_FACTS), ansible_facts={"sms_probe": TWO_FOLDERS}))
    (name, args), = action._execute_module.calls
    assert name == PWSH and args["script"].startswith("# sms.remediation:compressed_package v1")
    parameters = args["parameters"]
    # no controller-made target: the host takes each one from its manifest entry (original_path)
    assert parameters["Items"] == [{"id": "60000012", "path": ""}, {"id": "6000001A", "path": ""}]
    assert all(item["path"] == "" for item in parameters["Items"])
    assert parameters["Mode"] == "restored" and parameters["QuarantineDir"] == "D:\\SMSPKG-Q244405"
    assert parameters["PackageFolders"] == ["D:\\SMSPKG", "E:\\SMSPKG"]
    assert result.get("failed") is not True, result
    assert result["restored"] == ["60000012"] and result["changed"] is True
    assert result["diff"]["after"] == "D:\\SMSPKG\\60000012.PCK\n"
    assert result["refused"] == [{"id": "6000001A", "name": "E:\\SMSPKG\\6000001A.PCK",
                                  "reason": "restore target E:\\SMSPKG\\6000001A.PCK already exists"}]


@pytest.mark.parametrize("folders", [[], [pb.folder("D:\\SMSPKG")]])
def test_compressed_package_restore_does_not_depend_on_the_number_of_folders(make_action, folders):
    reply = powershell_reply({"items": [], "manifest": "D:\\Q\\manifest.json"})
    action = make_action("compressed_package", {"state": "restored", "quarantine_dir": "D:\\Q",
                                                "packages": ["60000012"]}, {PWSH: [reply]})
    action.run(task_vars=dict(hostvars_with_parent(PARENT_FACTS),
                              ansible_facts={"sms_probe": pb.probe(**{**CHILD, "package_folders": folders})}))
    (_name, args), = action._execute_module.calls
    assert args["parameters"]["Items"] == [{"id": "60000012", "path": ""}]
    assert args["parameters"]["PackageFolders"] == [f["path"] for f in folders]


@pytest.mark.parametrize("packages,message", [
    ([], "sms610: state=restored needs the package IDs to restore in packages"),
    (["60000012", "D:\\SMSPKG\\6000001"],
     "sms610: state=restored: package ID 'D:\\\\SMSPKG\\\\6000001': contains a path separator"),
    (["6000012"], "sms610: state=restored: package ID '6000012': wrong length 7"),
])
def test_compressed_package_restore_refuses_bad_ids_without_calling_the_host(make_action, packages, message):
    action = make_action("compressed_package", {"state": "restored", "quarantine_dir": "D:\\Q",
                                                "packages": packages}, {})
    with pytest.raises(AnsibleActionFail) as raised:
        action.run(task_vars=dict(hostvars_with_parent(PARENT_FACTS), ansible_facts={"sms_probe": TWO_FOLDERS}))
    assert str(raised.value).startswith(message)
    assert action._execute_module.calls == []


def test_hotfix_already_fixed_host_is_unchanged(make_action):
    fixed = pb.probe(platforms=pb.platforms(i386="2.00.1380.1083"))
    action = make_action("distmgr_hotfix", {"method": "manual", "src": "/nonexistent"}, {})
    result = action.run(task_vars={"inventory_hostname": "sms630", "ansible_facts": {"sms_probe": fixed}})
    assert result["changed"] is False and result["outcome"] == "already_fixed" and result["fixed_by"] == "hotfix"


def test_hotfix_installer_is_refused_on_alpha(make_action):
    alpha = pb.probe(processor_architecture="ALPHA", platforms=pb.platforms(i386=None, alpha="2.00.1380.1000"))
    action = make_action("distmgr_hotfix", {"method": "installer", "installer_path": "C:\\Q244405.exe"}, {})
    with pytest.raises(AnsibleActionFail, match="sms620: Q244405.exe runs on I386 only"):
        action.run(task_vars={"inventory_hostname": "sms620", "ansible_facts": {"sms_probe": alpha}})


def test_hotfix_refuses_while_the_console_is_open(make_action):
    open_console = pb.probe(console_open=True)
    action = make_action("distmgr_hotfix", {"method": "installer", "installer_path": "C:\\Q244405.exe"}, {})
    with pytest.raises(AnsibleActionFail, match="console is open"):
        action.run(task_vars={"inventory_hostname": "sms610", "ansible_facts": {"sms_probe": open_console}})


def test_hotfix_sha256_mismatch_copies_nothing(make_action, tmp_path):
    dll = tmp_path / "Distmgr.dll"
    dll.write_bytes(b"MZ new dll")
    action = make_action("distmgr_hotfix", {"method": "manual", "src": str(dll), "sha256": "0" * 64}, {})
    action._find_needle = lambda kind, path: path
    with pytest.raises(AnsibleActionFail, match=f"has sha256 {hashlib.sha256(b'MZ new dll').hexdigest()}, expected"):
        action.run(task_vars={"inventory_hostname": "sms610", "ansible_facts": {"sms_probe": CHILD}})
    assert action._execute_module.calls == []


def test_hotfix_check_mode_predicts_without_touching_the_host(make_action, tmp_path):
    dll = tmp_path / "Distmgr.dll"
    dll.write_bytes(b"MZ new dll")
    action = make_action("distmgr_hotfix", {"method": "manual", "src": str(dll)}, {}, check_mode=True)
    action._find_needle = lambda kind, path: path
    result = action.run(task_vars={"inventory_hostname": "sms610", "ansible_facts": {"sms_probe": CHILD}})
    assert result["changed"] is True and result["outcome"] == "would_replace"
    assert action._execute_module.calls == []


def test_hotfix_failed_transaction_reports_step_and_rollback(make_action, tmp_path):
    dll = tmp_path / "Distmgr.dll"
    dll.write_bytes(b"MZ new dll")
    failed = powershell_reply({"outcome": "failed", "failed_step": "stop:SMS_EXECUTIVE", "error": "did not stop in 120 s",
                               "restored": True, "services_before": {"SMS_EXECUTIVE": "running"},
                               "services_after": {"SMS_EXECUTIVE": "running"}, "steps": []})
    action = make_action("distmgr_hotfix", {"method": "manual", "src": str(dll)}, {PWSH: [failed]})
    action._find_needle = lambda kind, path: path
    action.stage = lambda source, staging_dir, task_vars: None
    with pytest.raises(AnsibleActionFail, match="sms610: hotfix failed at step stop:SMS_EXECUTIVE: did not stop in 120 s; "
                                                "the original Distmgr.dll was restored"):
        action.run(task_vars={"inventory_hostname": "sms610", "ansible_facts": {"sms_probe": CHILD}})
    (name, args), = action._execute_module.calls
    assert args["parameters"]["StopOrder"] == ["SMS_SITE_COMPONENT_MANAGER", "SMS_EXECUTIVE", "SMS_SITE_BACKUP"]


def test_remediation_plan_needs_facts(make_action):
    action = make_action("remediation_plan", {}, {})
    with pytest.raises(AnsibleActionFail, match="sms610: no facts to plan from"):
        action.run(task_vars={"inventory_hostname": "sms610"})


def test_remediation_plan_auto_on_an_affected_child(make_action, tmp_path):
    task_vars = dict(hostvars_with_parent(PARENT_FACTS),
                     ansible_facts={"sms_probe": CHILD, "sms_packages": {"min_evidence": "origin"}})
    dll = tmp_path / "Distmgr.dll"
    dll.write_bytes(b"MZ new dll")
    action = make_action("remediation_plan", {"policy": "auto", "hotfix_files": {"i386": str(dll)}}, {})
    action._find_needle = lambda kind, path: path
    plan = action.run(task_vars=task_vars)["ansible_facts"]["sms_plan"]
    assert plan["hotfix"] is True
    assert [step["kind"] for step in plan["steps"]] == ["workaround", "hotfix_transaction"]
    assert [item["package_id"] for item in plan["remove"]] == ["60000012"]


def _failed_after_swap(restore_ok):
    """The transaction's answer when verify failed after the swap and the rollback ran."""
    steps = [{"step": "swap", "ok": True, "detail": "copied"}, {"step": "verify", "ok": False, "detail": "bad sha256"},
             {"step": "rollback:restore", "ok": restore_ok,
              "detail": "original put back" if restore_ok else "The process cannot access the file"}]
    return powershell_reply({"outcome": "failed", "failed_step": "verify", "error": "bad sha256",
                             "restored": restore_ok, "services_before": {"SMS_EXECUTIVE": "running"},
                             "services_after": {"SMS_EXECUTIVE": "running"}, "steps": steps})


@pytest.mark.parametrize("restore_ok", [True, False])
def test_hotfix_failure_message_follows_the_steps_taken(make_action, tmp_path, restore_ok):
    # Issue 11 defect 5: "Distmgr.dll was not changed" only when no swap happened; a swap whose rollback
    # failed says so, with where the original is.
    dll = tmp_path / "Distmgr.dll"
    dll.write_bytes(b"MZ new dll")
    action = make_action("distmgr_hotfix", {"method": "manual", "src": str(dll)}, {PWSH: [_failed_after_swap(restore_ok)]})
    action._find_needle = lambda kind, path: path
    action.stage = lambda source, staging_dir, task_vars: None
    with pytest.raises(AnsibleActionFail) as exc:
        action.run(task_vars={"inventory_hostname": "sms610", "ansible_facts": {"sms_probe": CHILD}})
    message = str(exc.value.message)
    assert "was not changed" not in message
    if restore_ok:
        assert "the original Distmgr.dll was restored" in message
    else:
        assert "putting the original Distmgr.dll back FAILED (The process cannot access the file)" in message
        assert "Distmgr.dll.pre-Q244405" in message


RTM_CHILD = pb.probe(registry=pb.registry(full_version="2.00.1239.0000"), platforms=pb.platforms(i386="2.00.1239.0000"))


def test_hotfix_of_another_build_is_refused_unless_allowed(make_action, tmp_path):
    # Issue 11 defect 8: the KB's DLL (SP1 bundle, build 1380) is not put on an RTM site (build 1239).
    dll = tmp_path / "Distmgr.dll"
    dll.write_bytes(b"MZ new dll")  # no version resource: taken as the KB's 2.00.1380.1083
    action = make_action("distmgr_hotfix", {"method": "manual", "src": str(dll)}, {})
    action._find_needle = lambda kind, path: path
    with pytest.raises(AnsibleActionFail, match="belongs to build 1380, and this site is SMS 2.0 RTM build 1239.*"
                                                "allow_cross_build"):
        action.run(task_vars={"inventory_hostname": "sms620", "ansible_facts": {"sms_probe": RTM_CHILD}})
    assert action._execute_module.calls == []
    allowed = make_action("distmgr_hotfix", {"method": "manual", "src": str(dll), "allow_cross_build": True}, {},
                          check_mode=True)
    allowed._find_needle = lambda kind, path: path
    result = allowed.run(task_vars={"inventory_hostname": "sms620", "ansible_facts": {"sms_probe": RTM_CHILD}})
    assert result["outcome"] == "would_replace", result


def _version_resource(version: str) -> bytes:
    """A DLL body with a VS_FIXEDFILEINFO block (as the resource compiler writes it) for ``version``."""
    import struct
    major, minor, build, revision = (int(x) for x in version.split("."))
    fixed = struct.pack("<IIII", 0xFEEF04BD, 0x00010000, (major << 16) | minor, (build << 16) | revision)
    return b"MZ" + b"\0" * 62 + fixed + b"\0" * 40


def test_a_hotfix_file_of_the_sites_own_build_is_not_cross_build(make_action, tmp_path):
    # The file's own version decides when it has one: a (hypothetical) RTM-build Distmgr.dll on an RTM site.
    dll = tmp_path / "Distmgr.dll"
    dll.write_bytes(_version_resource("2.00.1239.1083"))
    action = make_action("distmgr_hotfix", {"method": "manual", "src": str(dll)}, {}, check_mode=True)
    action._find_needle = lambda kind, path: path
    result = action.run(task_vars={"inventory_hostname": "sms620", "ansible_facts": {"sms_probe": RTM_CHILD}})
    assert result["outcome"] == "would_replace", result
