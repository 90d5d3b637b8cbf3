"""Issue 6, part 2: the bad-input catalogue. One table row per bad input, each a test.

Every row asserts two things:

* the collection says clearly what is wrong: either an error that names the host and the cause
  (``ProbeError`` / a failed action plugin), or the item is ``unknown`` / refused with its reason;
* nothing is selected for deletion: the bad item is not in ``plan().remove``, and the
  compressed_package action plugin does not hand it to the host (the recorded remote calls show
  what it would have sent). Where the probe carries a genuine confirmed leftover next to the bad
  input (``60000012``), that leftover IS selected: the check can fail.

Action plugins are driven as in tests/unit/plugins/action/test_actions.py: a mocked task and
recorded win_powershell replies (``bad_input_plumbing``); the rows about Distmgr.log content are in
``bad_input_log_cases``, the table of every row stays here. When ``SMS_SAFETY_FIGURES`` names a file, the
number of rows is appended to it as one JSON line.
"""
from __future__ import annotations

import hashlib
import json
import os

import pytest
from ansible.errors import AnsibleActionFail

from ansible_collections.sms.remediation.plugins.module_utils.probe_result import ProbeError, parse_probe

# bad_input_plumbing puts tests/unit/plugins/{module_utils,action} on sys.path (probe_builders, mocked_action)
from bad_input_plumbing import CLAIM, GOOD, HOST, TABLE, child, decide, echo_reply, make_action, task_vars_for
import bad_input_log_cases as log_cases
import probe_builders as pb


# ---- 1. malformed probe answers / registry / platform: ProbeError naming the host -----------------
def _setup(**values):
    reg = pb.registry()
    reg["setup"].update(values)
    return reg


def _ident(**values):
    reg = pb.registry()
    reg["identification"].update(values)
    return reg


PROBE_ERRORS = [
    ("site-code-malformed", dict(registry=_ident(**{"Site Code": "61!"})), ["invalid site code", "61!"]),
    ("site-code-too-long", dict(registry=_ident(**{"Site Code": "6100"})), ["invalid site code", "6100"]),
    ("site-code-missing-wmi-down", dict(registry=_ident(**{"Site Code": None}), wmi_site=pb.wmi(available=False)),
     ["no site code", "Site Code"]),
    ("full-version-wrong-type", dict(registry=_setup(**{"Full Version": 2})), ["registry.setup.Full Version", "int"]),
    ("tracing-enabled-wrong-type", dict(registry={**pb.registry(), "tracing": {"Enabled": "yes", "MaxFileSize": 1}}),
     ["registry.tracing.Enabled", "str"]),
    ("registry-not-an-object", dict(registry="HKLM"), ["field 'registry'", "expected an object"]),
    ("unknown-platform-mips", dict(processor_architecture="MIPS"), ["unknown processor architecture", "MIPS"]),
    ("unknown-platform-amd64", dict(processor_architecture="AMD64"), ["AMD64 is not an SMS 2.0 platform"]),
    ("platform-missing", dict(processor_architecture=None), ["processor_architecture is missing"]),
    ("schema-unsupported", dict(schema=2), ["schema 2 is not supported"]),
    ("active-list-available-but-null", dict(active_packages={"available": True, "error": None,
                                                             "namespace": "root\\SMS\\site_610", "packages": None}),
     ["active_packages.packages", "null"]),
    ("package-entry-not-an-object", dict(package_folders=[pb.folder("D:\\SMSPKG", "60000012.PCK")]),
     ["package_folders[0].files[0]", "expected an object"]),
    ("log-match-text-not-a-string", dict(distmgr_log={**pb.log_files(*CLAIM), "files": [
        {"path": "C:\\SMS\\Logs\\Distmgr.log", "exists": True, "size": 10, "matches": [{"line": 1, "text": 7}]}]}),
     ["distmgr_log.files[0].matches[0].text", "int"]),
    ("log-match-line-zero", dict(distmgr_log={**pb.log_files(*CLAIM), "files": [
        {"path": "C:\\SMS\\Logs\\Distmgr.log", "exists": True, "size": 10, "matches": [{"line": 0, "text": CLAIM[1]}]}]}),
     ["unusable Distmgr.log matches", "positive integer"]),
]


def _probe_error_case(overrides, words):
    answer = child()
    answer.update(overrides)
    with pytest.raises(ProbeError) as caught:
        parse_probe(HOST, answer, TABLE)
    message = str(caught.value)
    assert message.startswith(f"{HOST}: "), message
    for word in words:
        assert word.lower() in message.lower(), (word, message)
    # the same answer through the plugin that would delete: it fails, and the host is never asked to act
    action = make_action("compressed_package", {}, reply=echo_reply([GOOD]))
    result = action.run(task_vars=task_vars_for(answer))
    assert result.get("failed") is True and result["msg"].startswith(f"{HOST}: "), result
    assert action._execute_module.sent_items() == []
    return message


# ---- 2. odd .PCK names, links: unknown, never selected --------------------------------------------
ODD_NAMES = [
    ("name-dotdot-backslash", "..\\60000012.PCK", "path traversal"),
    ("name-dotdot-inside", "60000012..PCK", "path traversal"),
    ("name-backslash", "SMSPKG\\60000012.PCK", "path character"),
    ("name-slash", "x/60000012.PCK", "path character"),
    ("name-alternate-stream", "60000012.PCK:evil", "path character"),
    ("name-device-con", "CON.PCK", "reserved device name"),
    ("name-device-lpt1-lower", "lpt1.pck", "reserved device name"),
    ("name-device-com9-space", "COM9 .PCK", "reserved device name"),
    ("name-trailing-dot", "60000012.PCK.", "trailing dot"),
    ("name-trailing-space", "60000012.PCK ", "whitespace"),
    ("name-space-before-ext", "60000012 .PCK", "space before the extension"),
    ("name-fullwidth-digits", "\uff16\uff10\uff10\uff10\uff10\uff10\uff11\uff12.PCK", "non-ASCII"),
    ("name-cyrillic-es-in-ext", "60000012.P\u0421K", "non-ASCII"),
    ("name-zero-width-space", "6000\u200b0012.PCK", "non-ASCII"),
    ("name-nul-char", "60000012\x00.PCK", "control character"),
    ("name-not-hex", "6000001G.PCK", "hexadecimal"),
    ("name-seven-chars", "6000012.PCK", "wrong length"),
    ("name-wrong-ext", "60000012.PKG", "wrong extension"),
    ("name-empty", "", "empty"),
]


def _odd_name_case(name, cause):
    entry = {"name": name, "size": 5, "last_write_utc": "1999-10-15T16:00:00Z", "reparse_point": False,
             "directory": False}
    answer = child(files=[entry])
    _site, items, decided = decide(answer, min_evidence="absent_here", force=[GOOD, "CON", name])
    odd = [i for i in items if i.name == name]
    assert len(odd) == 1 and odd[0].status == "unknown" and not odd[0].actionable, odd
    assert cause.lower() in " ".join(odd[0].reasons).lower(), odd[0].reasons
    assert [i.package_id for i in decided.remove] == [GOOD]
    assert any(r["name"] == name and r["reason"].startswith("unknown") for r in decided.kept), decided.kept
    return _plugin_never_sends(answer, name)


def _plugin_never_sends(answer, bad_name, parent=True):
    action = make_action("compressed_package", {"min_evidence": "absent_here"}, reply=echo_reply([GOOD]))
    result = action.run(task_vars=task_vars_for(answer, parent=parent))
    sent = action._execute_module.sent_items()
    assert all(item["path"] != "D:\\SMSPKG\\" + bad_name for item in sent), sent
    assert [item["id"] for item in sent] == [GOOD], sent
    refused = {entry.get("name") for entry in result["refused"]} | {entry.get("id") for entry in result["refused"]}
    assert bad_name in refused, result["refused"]
    return sent


LINKS = [
    # a valid, claimed, gone-at-origin ID, but the file is a symbolic link / junction out of SMSPKG
    ("reparse-symlink-claimed", pb.pck("60000015", reparse_point=True), "60000015", "reparse point"),
    ("reparse-lowercase-name", pb.pck("60000abc.pck", reparse_point=True), "60000ABC", "reparse point"),
]


def _link_case(entry, package_id, cause):
    answer = child(files=[entry], log=CLAIM + (pb.deleted(package_id),))
    _site, items, decided = decide(answer, force=[package_id])
    item = [i for i in items if i.package_id == package_id][0]
    assert item.status == "unknown" and cause in " ".join(item.reasons), item
    assert package_id not in {i.package_id for i in decided.remove}
    assert any(r["id"] == package_id and r["reason"].startswith("cannot force: unknown") for r in decided.refused)
    action = make_action("compressed_package", {"force": [package_id]}, reply=echo_reply([GOOD]))
    action.run(task_vars=task_vars_for(answer))
    assert package_id not in {i["id"] for i in action._execute_module.sent_items()}


def _junction_folder_case():
    """A junction (directory reparse point) inside SMSPKG named like a package: ignored, never sent."""
    junction = pb.pck("60000016", reparse_point=True, directory=True)
    answer = child(files=[junction])
    site, _items, decided = decide(answer, min_evidence="absent_here", force=["60000016"])
    assert "60000016.PCK" not in {f.name for f in site.package_files}
    assert any("sub-folder" in w for w in site.warnings), site.warnings
    assert "60000016" not in {i.package_id for i in decided.remove}
    assert any("60000016 matches no compressed package" in n for n in decided.notes), decided.notes


# ---- 3. registry / version / Distmgr.dll content: hotfix refused or reported unknown --------------
def _hotfix_refused(answer, words):
    action = make_action("distmgr_hotfix", {"method": "manual", "src": "/nonexistent/Distmgr.dll"})
    with pytest.raises(AnsibleActionFail) as caught:
        action.run(task_vars=task_vars_for(answer))
    message = str(caught.value.message)
    assert message.startswith(f"{HOST}: "), message
    for word in words:
        assert word.lower() in message.lower(), (word, message)
    assert action._execute_module.calls == []
    _site, _items, decided = decide(answer)
    assert decided.hotfix is False


def _version_malformed_case():
    answer = child(registry=_setup(**{"Full Version": "2.00.abc.1000"}), wmi_site=pb.wmi(available=False))
    _hotfix_refused(answer, ["cannot tell whether the site is affected", "site version"])
    site = parse_probe(HOST, answer, TABLE)
    assert any("Full Version is malformed" in w and "2.00.abc.1000" in w for w in site.warnings), site.warnings


def _version_missing_case():
    answer = child(registry=_setup(**{"Full Version": None}), wmi_site=pb.wmi(available=False))
    _hotfix_refused(answer, ["cannot tell whether the site is affected", "missing"])


def _setup_key_missing_case():
    reg = pb.registry()
    reg["setup"] = None
    answer = child(registry=reg, wmi_site=pb.wmi(available=False))
    _hotfix_refused(answer, ["cannot tell whether the site is affected"])


def _distmgr_no_version_case():
    answer = child(platforms=pb.platforms(i386=None))
    answer["platforms"]["i386"].update(exists=True, size=4096, sha256="cd" * 32)   # file there, no version resource
    site, _items, decided = decide(answer)
    assert any("has no file version" in w and "Distmgr.dll" in w for w in site.warnings), site.warnings
    assert "Distmgr.dll version unknown" in site.q244405.reason
    assert [i.package_id for i in decided.remove] == [GOOD]      # the leftover decision is not affected


def _no_services_case():
    answer = child(services=pb.services(SMS_SITE_COMPONENT_MANAGER=None, SMS_EXECUTIVE=None))
    action = make_action("distmgr_hotfix", {"method": "installer", "installer_path": "C:\\Q244405.exe"})
    with pytest.raises(AnsibleActionFail, match=f"^{HOST}: service SMS_SITE_COMPONENT_MANAGER not found"):
        action.run(task_vars=task_vars_for(answer))
    assert action._execute_module.calls == []


def _hotfix_sha_mismatch_case(tmp_path):
    dll = tmp_path / "Distmgr.dll"
    dll.write_bytes(b"MZ FileVersion=2.00.1380.1083")
    action = make_action("distmgr_hotfix", {"method": "manual", "src": str(dll), "sha256": "ab" * 32})
    action._find_needle = lambda kind, path: path
    digest = hashlib.sha256(dll.read_bytes()).hexdigest()
    with pytest.raises(AnsibleActionFail) as caught:
        action.run(task_vars=task_vars_for(child()))
    message = str(caught.value.message)
    assert message.startswith(f"{HOST}: ") and f"has sha256 {digest}, expected {'ab' * 32}" in message
    assert "nothing was copied" in message
    assert action._execute_module.calls == []


# ---- 4. active list / WMI: every package unknown, nothing selected --------------------------------
def _active_unavailable_case(active_packages, cause):
    answer = child(active_packages=active_packages)
    _site, items, decided = decide(answer, min_evidence="absent_here")
    assert items and all(i.status in ("unknown", "active") for i in items), [(i.name, i.status) for i in items]
    good = [i for i in items if i.package_id == GOOD][0]
    assert good.status == "unknown" and cause in " ".join(good.reasons), good.reasons
    assert decided.remove == []
    action = make_action("compressed_package", {"min_evidence": "absent_here"}, reply=echo_reply([GOOD]))
    result = action.run(task_vars=task_vars_for(answer))
    assert action._execute_module.sent_items() == [] and result["removed"] == []
    assert any(r["id"] == GOOD and cause in r["reason"] for r in result["refused"]), result["refused"]


# ---- 5. Distmgr.log content: bad_input_log_cases.py ------------------------------------------


# ---- 6. wrong module arguments --------------------------------------------------------------------
def _bad_args_case(module, args, words, answer=None):
    action = make_action(module, args, reply=echo_reply([GOOD]))
    try:
        result = action.run(task_vars=task_vars_for(answer or child()))
        assert result.get("failed") is True, result
        message = result["msg"]
    except AnsibleActionFail as exc:
        message = str(exc.message)
    assert message.startswith(f"{HOST}: "), message
    for word in words:
        assert word.lower() in message.lower(), (word, message)
    assert action._execute_module.calls == []


def _bad_force_case():
    """Force IDs that are not package IDs are ignored with a note, never matched against file names."""
    answer = child(files=[{"name": "CON.PCK", "size": 1, "last_write_utc": None, "reparse_point": False,
                           "directory": False}])
    _site, _items, decided = decide(answer, force=["CON", "..\\60000012", "6000001"])
    assert [i.package_id for i in decided.remove] == [GOOD]
    assert sum("force ID ignored" in n for n in decided.notes) == 3, decided.notes


def _bad_sms20_override_case():
    action = make_action("compressed_package", {"sms20": {"package_file_pattern": r"^.*\.PCK$"}}, reply=echo_reply())
    with pytest.raises(AnsibleActionFail, match=f"^{HOST}: invalid sms20 override.*package_file_pattern"):
        action.run(task_vars=task_vars_for(child()))
    assert action._execute_module.calls == []


# ---- the table --------------------------------------------------------------------------------------
CASES = []
CASES += [pytest.param(lambda o=o, w=w, **_k: _probe_error_case(o, w), id=f"probe-{name}")
          for name, o, w in PROBE_ERRORS]
CASES += [pytest.param(lambda n=n, c=c, **_k: _odd_name_case(n, c), id=name) for name, n, c in ODD_NAMES]
CASES += [pytest.param(lambda e=e, p=p, c=c, **_k: _link_case(e, p, c), id=name) for name, e, p, c in LINKS]
CASES += [
    pytest.param(lambda **_k: _junction_folder_case(), id="reparse-junction-directory"),
    pytest.param(lambda **_k: _version_malformed_case(), id="registry-full-version-malformed"),
    pytest.param(lambda **_k: _version_missing_case(), id="registry-full-version-missing-wmi-down"),
    pytest.param(lambda **_k: _setup_key_missing_case(), id="registry-setup-key-missing"),
    pytest.param(lambda **_k: _distmgr_no_version_case(), id="distmgr-dll-no-version-resource"),
    pytest.param(lambda **_k: _no_services_case(), id="sms-services-missing"),
    pytest.param(lambda tmp_path, **_k: _hotfix_sha_mismatch_case(tmp_path), id="hotfix-sha256-mismatch"),
    pytest.param(lambda **_k: _active_unavailable_case(
        pb.active(available=False, error="SMS_Package query timed out after 30 s"), "timed out"),
        id="active-query-timeout"),
    pytest.param(lambda **_k: _active_unavailable_case(
        pb.active(available=False, error="WMI namespace root\\SMS\\site_610 unavailable (0x8004100e)"), "0x8004100e"),
        id="active-wmi-namespace-missing"),
    pytest.param(lambda **_k: _active_unavailable_case(
        {"available": True, "error": None, "namespace": "root\\SMS\\site_600", "packages": []}, "site_600"),
        id="active-list-of-another-site"),
    pytest.param(lambda **_k: log_cases.log_empty_case(), id="log-empty"),
    pytest.param(lambda **_k: log_cases.log_truncated_case(), id="log-truncated-mid-entry"),
    pytest.param(lambda **_k: log_cases.log_binary_matches_case(), id="log-binary-probe-match"),
    pytest.param(lambda **_k: log_cases.log_binary_stream_case(), id="log-binary-stream"),
    pytest.param(lambda **_k: log_cases.log_utf16_case(True), id="log-utf16-bom"),
    pytest.param(lambda **_k: log_cases.log_utf16_case(False), id="log-utf16-no-bom"),
    pytest.param(lambda **_k: log_cases.log_200mb_case(), id="log-200mb-streamed"),
    pytest.param(lambda **_k: _bad_args_case("compressed_package", {"state": "shredded"}, ["state", "shredded"]),
                 id="args-compressed-package-bad-state"),
    pytest.param(lambda **_k: _bad_args_case("compressed_package", {"path": "D:\\SMSPKG"}, ["path"]),
                 id="args-compressed-package-unknown-option"),
    pytest.param(lambda **_k: _bad_args_case("compressed_package", {"state": "restored"}, ["quarantine_dir"]),
                 id="args-restore-without-quarantine-dir"),
    pytest.param(lambda **_k: _bad_args_case("compressed_package",
                                             {"state": "restored", "quarantine_dir": "D:\\Q",
                                              "packages": ["..\\60000012"]}, ["..\\\\60000012", "path separator"]),
                 id="args-restore-path-traversal-id"),
    pytest.param(lambda **_k: _bad_args_case("package_facts", {"min_evidence": "gut_feeling"}, ["min_evidence"]),
                 id="args-package-facts-bad-evidence"),
    pytest.param(lambda **_k: _bad_args_case("remediation_plan", {"policy": "nuke"}, ["policy", "nuke"]),
                 id="args-plan-bad-policy"),
    pytest.param(lambda **_k: _bad_args_case("distmgr_hotfix", {"method": "msi"}, ["method", "msi"]),
                 id="args-hotfix-bad-method"),
    pytest.param(lambda **_k: _bad_args_case("distmgr_hotfix", {"method": "manual"}, ["needs src"]),
                 id="args-hotfix-manual-without-src"),
    pytest.param(lambda **_k: _bad_force_case(), id="args-force-not-package-ids"),
    pytest.param(lambda **_k: _bad_sms20_override_case(), id="args-sms20-pattern-without-id-group"),
]


@pytest.fixture(scope="module", autouse=True)
def _figures():
    yield
    target = os.environ.get("SMS_SAFETY_FIGURES")
    if target:
        with open(target, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"figure": "bad_inputs", "count": len(CASES)}) + "\n")


def test_catalogue_is_large_enough():
    assert len(CASES) >= 30


@pytest.mark.parametrize("case", CASES)
def test_bad_input(case, tmp_path):
    case(tmp_path=tmp_path)
