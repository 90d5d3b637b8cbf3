"""The lab's simulation of the collection's scripts (lab/smslab/handlers/sms_scripts/).

Every test builds its own host by hand in tmp_path (host.json + files, ``sms_script_host.make_host``),
calls the handlers directly and checks the result against docs/internals.md sections 1-3. This file: the
scripts' contract and the probe; test_sms_scripts_packages: compressed_package; test_sms_scripts_hotfix:
hotfix_transaction and Q244405.exe.
"""

from __future__ import annotations

import json
import os
import re

import pytest

from sms_script_host import (DLL, FILLER, IDENT, KB_LOG, OLD_SHA, PROBE_SCHEMA, REPO, check, host_digest, make_host,
                             run_script)
from smslab.handlers import SCRIPT_HANDLERS, script_name


# ---- the scripts and the lab agree ------------------------------------------------------------
PS_DIR = REPO / "plugins" / "plugin_utils" / "powershell"
CONTRACT_PARAMETERS = {
    "sms_probe.ps1": ("probe", {"SmsRegistryRoot", "PackageFolderName", "PackageFolders", "PackageFilePattern",
                                "Platforms", "LogNames", "LogPattern", "LogComponent", "Services",
                                "ConsoleProcess", "ConsoleSnapIn", "HotfixLogName", "WmiTimeoutSeconds"}),
    "sms_compressed_package.ps1": ("compressed_package", {"Mode", "PackageFolders", "Items", "QuarantineDir",
                                                          "ActiveNamespace", "IdPattern"}),
    "sms_hotfix_transaction.ps1": ("hotfix_transaction", {"InstallDir", "Platform", "Mode", "StagedPath",
                                                          "ExpectedSha256", "MinimumVersion", "SiteVersion",
                                                          "AllowCrossBuild", "Recovery", "TransactionId",
                                                          "StopOrder", "WaitSeconds", "ProcessExitSeconds",
                                                          "CopyAttempts", "BackupSuffix", "HotfixLogName",
                                                          "JournalName"}),
}


@pytest.mark.parametrize("file_name", sorted(CONTRACT_PARAMETERS))
def test_script_marker_and_parameters_match_the_contract(file_name):
    marker, parameters = CONTRACT_PARAMETERS[file_name]
    text = (PS_DIR / file_name).read_text(encoding="utf-8")
    assert text.splitlines()[0] == f"# sms.remediation:{marker} v1"
    assert script_name(text) == marker and marker in SCRIPT_HANDLERS
    assert "[CmdletBinding(SupportsShouldProcess)]" in text
    param_block = text[text.index("param("):]
    declared = set(re.findall(r"\]\s*\$(\w+)", param_block[:param_block.index("\n)\n")]))
    assert parameters <= declared, f"missing parameters: {parameters - declared}"


# ---- probe ------------------------------------------------------------------------------------
def test_probe_schema_and_facts(tmp_path):
    state = make_host(tmp_path)
    os.symlink(state.local_path("C:\\important.dat"), state.local_path("D:\\SMSPKG\\61000014.PCK"))
    before = host_digest(state)
    result, changed = run_script(state, "probe", {})
    assert changed is False and host_digest(state) == before
    check(result, PROBE_SCHEMA)
    json.dumps(result)                                   # what crosses the wire is plain JSON
    assert result["computer_name"] == "SMS01" and result["processor_architecture"] == "x86"
    assert result["install_dir"] == "C:\\SMS"
    assert result["registry"]["setup"]["UI Version"] is None          # missing values are null
    assert result["wmi_site"]["BuildNumber"] == 1380 and result["wmi_site"]["available"] is True
    i386 = result["platforms"]["i386"]
    assert i386 == {"path": DLL, "exists": True, "file_version": "2.00.1380.1000", "size": 4096, "sha256": OLD_SHA}
    assert result["platforms"]["alpha"]["exists"] is False and result["platforms"]["alpha"]["sha256"] is None
    assert result["hotfix_log"] == {"path": "C:\\SMS\\Logs\\Q244405.log", "exists": False}
    assert result["services"]["SMS_EXECUTIVE"] == {"exists": True, "state": "running", "start_mode": "auto"}
    assert result["services"]["SMS_SQL_MONITOR"] == {"exists": False, "state": None, "start_mode": None}
    assert result["console_open"] is False
    folders = {f["path"]: f for f in result["package_folders"]}
    assert list(folders) == ["C:\\SMSPKG", "D:\\SMSPKG", "E:\\SMSPKG"]     # every lab drive
    assert folders["C:\\SMSPKG"] == {"path": "C:\\SMSPKG", "exists": False, "files": None}
    d_files = {f["name"]: f for f in folders["D:\\SMSPKG"]["files"]}
    assert d_files["61000012.PCK"]["size"] == 1200 and d_files["61000012.PCK"]["reparse_point"] is False
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", d_files["61000012.PCK"]["last_write_utc"])
    assert d_files["61000014.PCK"]["reparse_point"] is True
    assert result["active_packages"]["namespace"] == "root\\SMS\\site_610"
    assert {p["PackageID"] for p in result["active_packages"]["packages"]} == {"61000013", "60000001"}
    assert result["distmgr_log"]["logging_enabled"] is True and result["distmgr_log"]["max_file_size"] == 1048576
    # LogNames order, oldest first (internals.md section 1)
    assert [f["path"] for f in result["distmgr_log"]["files"]] == ["C:\\SMS\\Logs\\Distmgr.lo_",
                                                                   "C:\\SMS\\Logs\\Distmgr.log"]
    assert result["distmgr_log"]["files"][0] == {"path": "C:\\SMS\\Logs\\Distmgr.lo_", "exists": False,
                                                 "size": None, "matches": None}
    assert result["errors"] == []


def test_probe_matches_the_kb_excerpt_with_wrapped_entries(tmp_path):
    result, _unused = run_script(make_host(tmp_path), "probe", {})
    matches = result["distmgr_log"]["files"][1]["matches"]
    assert matches == [
        {"line": 3, "text": "Start deleting the package 61000012...  $$<SMS_DISTRIBUTION_MANAGER><Fri Oct 15 "
                            "17:09:46.677 1999 Pacific Daylight Time><thread=297 \n(0x129)>"},
        {"line": 5, "text": "~Successfully deleted the package 61000012  $$<SMS_DISTRIBUTION_MANAGER><Fri Oct 15 "
                            "17:09:46.677 1999\nPacific Daylight Time><thread=297 (0x129)>"},
        {"line": 7, "text": "~Start adding package 61000013...  $$<SMS_DISTRIBUTION_MANAGER><Fri Oct 15 "
                            "17:10:01.001 1999 Pacific Daylight Time><thread=297 (0x129)>"},
    ]


def test_probe_log_pattern_and_names_are_parameters(tmp_path):
    state = make_host(tmp_path)
    state.write_bytes("C:\\SMS\\Logs\\Distmgr.lo_", b"~Successfully DELETED the package 61000011  x><thread=1 (0x1)>\n")
    result, _unused = run_script(state, "probe", {"LogNames": ["Distmgr.lo_"], "logpattern": "deleted the package"})
    files = result["distmgr_log"]["files"]
    assert len(files) == 1 and files[0]["matches"] == [
        {"line": 1, "text": "~Successfully DELETED the package 61000011  x><thread=1 (0x1)>"}]


def test_probe_output_does_not_grow_with_the_log(tmp_path):
    small_host = make_host(tmp_path / "small")
    small, _unused = run_script(small_host, "probe", {})
    assert small_host.local_path("C:\\SMS\\Logs\\Distmgr.log").stat().st_size < 1024

    big_host = make_host(tmp_path / "big", log=None)
    lines = KB_LOG.splitlines(keepends=True)
    local = big_host.local_path("C:\\SMS\\Logs\\Distmgr.log")
    local.parent.mkdir(parents=True, exist_ok=True)
    half = FILLER * (25 * 1024 * 1024 // len(FILLER))
    with open(local, "w", encoding="ascii", newline="") as handle:
        handle.write(half)
        handle.writelines(lines)
        handle.write(half)
    assert local.stat().st_size >= 50 * 1024 * 1024
    big, _unused = run_script(big_host, "probe", {})

    def texts(result):
        return [m["text"] for m in result["distmgr_log"]["files"][1]["matches"]]

    assert texts(big) == texts(small)
    small_size, big_size = len(json.dumps(small)), len(json.dumps(big))
    # only line numbers, the log size and file times differ
    assert abs(big_size - small_size) <= 40, (small_size, big_size)


def test_probe_reads_utf16_and_survives_garbage(tmp_path):
    state = make_host(tmp_path, log=b"\xff\xfe" + KB_LOG.encode("utf-16-le"))
    result, _unused = run_script(state, "probe", {})
    assert [m["line"] for m in result["distmgr_log"]["files"][1]["matches"]] == [3, 5, 7]

    garbage = os.urandom(200_000).replace(b"\n", b"") + b"\nStart deleting the package 6100001A...\xff\xfe\n"
    state.write_bytes("C:\\SMS\\Logs\\Distmgr.log", garbage)
    result, _unused = run_script(state, "probe", {})
    (match,) = result["distmgr_log"]["files"][1]["matches"]
    # no byte order mark: the ANSI code page (1252), where 0xFF 0xFE are "ÿþ", as Windows reads them
    assert match["line"] == 2 and match["text"].startswith("Start deleting the package 6100001A...\u00ff\u00fe")
    assert result["errors"] == []


def test_probe_wmi_unavailable(tmp_path):
    for state in (make_host(tmp_path / "a", wmi_available=False),
                  make_host(tmp_path / "b", faults={"wmi_unavailable": True})):
        result, changed = run_script(state, "probe", {})
        check(result, PROBE_SCHEMA)
        message = "WMI namespace root\\SMS\\site_610 unavailable (0x8004100e)"
        assert result["active_packages"] == {"available": False, "error": message,
                                             "namespace": "root\\SMS\\site_610", "packages": None}
        assert result["wmi_site"]["available"] is False and result["wmi_site"]["error"] == message
        assert result["wmi_site"]["SiteCode"] is None
        assert {"source": "wmi", "message": message} in result["errors"]
        assert result["install_dir"] == "C:\\SMS" and changed is False


def test_probe_missing_setup_key(tmp_path):
    state = make_host(tmp_path, registry={
        IDENT: {"Site Code": "610", "Parent Site Code": "600"},
    })
    result, _unused = run_script(state, "probe", {})
    check(result, PROBE_SCHEMA)
    assert result["registry"]["setup"] is None and result["registry"]["tracing"] is None
    assert result["registry"]["identification"]["Installation Directory"] is None
    assert {"source": "registry", "message": "registry key HKLM:\\SOFTWARE\\Microsoft\\SMS\\Setup not found"} \
        in result["errors"]
    assert result["install_dir"] == "C:\\SMS"                      # from WMI SMS_Site.InstallDir
    assert result["distmgr_log"]["logging_enabled"] is None


def test_probe_install_dir_from_service_image_path_and_nothing_else(tmp_path):
    state = make_host(tmp_path, registry={}, wmi_available=False)
    result, _unused = run_script(state, "probe", {})
    assert result["install_dir"] == "C:\\SMS"                      # from SMS_EXECUTIVE's ImagePath
    assert result["active_packages"]["error"] == "site code unknown: no Identification\\Site Code and no SMS Provider"
    state.services.clear()
    result, _unused = run_script(state, "probe", {})
    check(result, PROBE_SCHEMA)
    assert result["install_dir"] is None and result["platforms"]["i386"]["path"] is None
    assert any(e["source"] == "install_dir" for e in result["errors"])


def test_probe_console_and_given_package_folders(tmp_path):
    state = make_host(tmp_path, console=True)
    result, _unused = run_script(state, "probe", {"PackageFolders": ["E:\\SMSPKG"]})
    assert result["console_open"] is True
    assert [f["path"] for f in result["package_folders"]] == ["E:\\SMSPKG"]
    assert [f["name"] for f in result["package_folders"][0]["files"]] == ["6100001A.PCK"]
