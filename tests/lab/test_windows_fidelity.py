"""Issue 11: the script twins fail where Windows fails and read what Windows reads.

Each test is one defect of the review, on a hand-built host (helpers of sms_script_host.py): the twin
mirrors its fixed script, and the lab's .NET emulation throws where .NET throws.
"""

from __future__ import annotations

import pytest

from sms_script_host import KB_LOG, make_host, run_script
from smslab.handlers import ScriptError
from smslab.handlers.sms_scripts.dotnet_io import NOT_LEGAL_FORM, DotnetException, file_replace
from smslab.handlers.sms_scripts.encodings import CODE_PAGE_KEY

QDIR = "D:\\SMSPKG-Q244405"
ITEMS = [{"id": "61000012", "path": "D:\\SMSPKG\\61000012.PCK"}, {"id": "6100001A", "path": "E:\\SMSPKG\\6100001A.PCK"}]
FOLDERS = ["D:\\SMSPKG", "E:\\SMSPKG"]


# ---- defect 1: a Python regex is refused as .NET refuses it --------------------------------------
def test_compressed_package_refuses_a_python_id_pattern_with_the_scripts_message(tmp_path):
    state = make_host(tmp_path)
    with pytest.raises(ScriptError) as caught:
        run_script(state, "compressed_package", {"Mode": "absent", "PackageFolders": FOLDERS, "Items": ITEMS,
                                                 "IdPattern": r"^(?P<id>[A-Za-z0-9]{3}[0-9A-Fa-f]{5})\.PCK$"})
    assert str(caught.value) == ('invalid IdPattern: parsing "^(?P<id>[A-Za-z0-9]{3}[0-9A-Fa-f]{5})\\.PCK$" - '
                                 'Unrecognized grouping construct.')
    assert state.exists("D:\\SMSPKG\\61000012.PCK")
    result, _unused = run_script(state, "compressed_package", {
        "Mode": "absent", "PackageFolders": FOLDERS, "Items": ITEMS[:1],
        "IdPattern": r"^(?<id>[A-Za-z0-9]{3}[0-9A-Fa-f]{5})\.PCK\z"})
    assert result["items"][0]["outcome"] == "removed"


def test_probe_reports_a_python_log_pattern_as_dotnet_does(tmp_path):
    state = make_host(tmp_path)
    result, _unused = run_script(state, "probe", {"LogPattern": "(?P<verb>deleted) the package"})
    assert {"source": "log", "message": 'invalid LogPattern: parsing "(?P<verb>deleted) the package" - '
                                        'Unrecognized grouping construct.'} in result["errors"]
    assert all(entry["matches"] is None for entry in result["distmgr_log"]["files"])


# ---- defect 2: File.Replace with an empty backup path throws ------------------------------------------
def test_file_replace_throws_on_an_empty_backup_path_and_not_on_null(tmp_path):
    state = make_host(tmp_path)
    state.write_bytes("D:\\m.json.tmp", b"new")
    state.write_bytes("D:\\m.json", b"old")
    with pytest.raises(DotnetException) as caught:
        file_replace(state, "D:\\m.json.tmp", "D:\\m.json", "")        # what $null became in PowerShell
    assert str(caught.value) == NOT_LEGAL_FORM and state.read_bytes("D:\\m.json") == b"old"
    file_replace(state, "D:\\m.json.tmp", "D:\\m.json", None)          # [NullString]::Value
    assert state.read_bytes("D:\\m.json") == b"new" and not state.exists("D:\\m.json.tmp")


def test_quarantine_writes_the_manifest_twice_in_one_run_and_restores_both(tmp_path):
    # The second manifest write replaces the first (File.Replace): on Windows it threw with $null.
    state = make_host(tmp_path)
    result, _unused = run_script(state, "compressed_package", {"Mode": "quarantined", "PackageFolders": FOLDERS,
                                                               "Items": ITEMS, "QuarantineDir": QDIR})
    assert [item["outcome"] for item in result["items"]] == ["quarantined", "quarantined"], result
    restore = [{"id": item["id"], "path": ""} for item in ITEMS]
    result, _unused = run_script(state, "compressed_package", {"Mode": "restored", "PackageFolders": FOLDERS,
                                                               "Items": restore, "QuarantineDir": QDIR})
    assert [item["outcome"] for item in result["items"]] == ["restored", "restored"], result
    assert state.exists("D:\\SMSPKG\\61000012.PCK") and state.exists("E:\\SMSPKG\\6100001A.PCK")
    assert not state.exists(QDIR + "\\manifest.json.tmp")


# ---- defect 3: no install folder, and every source on its own ------------------------------------------
def test_probe_without_an_install_folder_still_answers_every_source(tmp_path):
    state = make_host(tmp_path, registry={})
    state.services.clear()
    state.wmi["site"] = None
    result, _unused = run_script(state, "probe", {})
    assert result["install_dir"] is None
    assert [entry["path"] for entry in result["distmgr_log"]["files"]] == [None, None]
    assert {e["source"] for e in result["errors"]} >= {"install_dir", "registry"}
    assert result["package_folders"] and result["console_open"] is False


def test_a_bad_tracing_value_costs_the_log_source_only(tmp_path):
    state = make_host(tmp_path)
    state.registry_key("HKLM\\SOFTWARE\\Microsoft\\SMS\\Tracing\\SMS_DISTRIBUTION_MANAGER")["Enabled"] = "on"
    result, _unused = run_script(state, "probe", {})
    assert [e["source"] for e in result["errors"]] == ["log"]
    assert result["platforms"]["i386"]["exists"] and any(f["files"] for f in result["package_folders"])


# ---- defect 7: logs are ANSI, or UTF-16 without a byte order mark ----------------------------------------
GERMAN_LINE = "Start deleting the package 61000012 (Paket für Zürich)...  $$<SMS_DISTRIBUTION_MANAGER><thread=297 (0x129)>\r\n"


def test_probe_reads_a_log_in_the_hosts_ansi_code_page(tmp_path):
    state = make_host(tmp_path, log=(KB_LOG + GERMAN_LINE).encode("cp1252"))
    result, _unused = run_script(state, "probe", {})
    texts = [m["text"] for m in result["distmgr_log"]["files"][1]["matches"]]
    assert "Start deleting the package 61000012 (Paket für Zürich)...  $$<SMS_DISTRIBUTION_MANAGER><thread=297 (0x129)>" \
        in texts, texts


def test_probe_uses_the_code_page_the_host_is_set_to(tmp_path):
    russian = "Start deleting the package 61000012 (пакет)  $$<SMS_DISTRIBUTION_MANAGER><thread=1 (0x1)>\r\n"
    state = make_host(tmp_path, log=russian.encode("cp1251"))
    state.data["registry"][CODE_PAGE_KEY] = {"ACP": "1251"}
    result, _unused = run_script(state, "probe", {})
    (match,) = result["distmgr_log"]["files"][1]["matches"]
    assert "(пакет)" in match["text"]


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_probe_reads_utf16_without_a_byte_order_mark(tmp_path, encoding):
    state = make_host(tmp_path, log=(KB_LOG + GERMAN_LINE).encode(encoding))
    result, _unused = run_script(state, "probe", {})
    matches = result["distmgr_log"]["files"][1]["matches"]
    assert [m["line"] for m in matches] == [3, 5, 7, 8]
    assert "Paket für Zürich" in matches[-1]["text"]


# ---- defect 9: a 64-bit host is reported as such ----------------------------------------------------------
@pytest.mark.parametrize("environment", [{"PROCESSOR_ARCHITECTURE": "AMD64"},
                                         {"PROCESSOR_ARCHITECTURE": "x86", "PROCESSOR_ARCHITEW6432": "AMD64"}])
def test_probe_reports_the_machines_architecture(tmp_path, environment):
    state = make_host(tmp_path)
    state.environment.pop("PROCESSOR_ARCHITECTURE")
    state.environment.update(environment)
    result, _unused = run_script(state, "probe", {})
    assert result["processor_architecture"] == "AMD64"


# ---- defect 10: the quarantine folder, the Platform set ----------------------------------------------------
@pytest.mark.parametrize("folder", ["SMSPKG-Q244405", "\\SMSPKG-Q244405", "D:SMSPKG-Q244405", "\\\\server\\share\\q"])
def test_quarantine_folder_must_be_drive_absolute(tmp_path, folder):
    state = make_host(tmp_path)
    with pytest.raises(ScriptError, match="QuarantineDir must be a drive-absolute path"):
        run_script(state, "compressed_package", {"Mode": "quarantined", "PackageFolders": FOLDERS,
                                                 "Items": ITEMS, "QuarantineDir": folder})
    assert state.exists("D:\\SMSPKG\\61000012.PCK")


def test_quarantine_folder_is_resolved_once_for_every_use(tmp_path):
    state = make_host(tmp_path)
    result, _unused = run_script(state, "compressed_package", {
        "Mode": "quarantined", "PackageFolders": FOLDERS, "Items": ITEMS[:1], "QuarantineDir": "D:\\x\\..\\Q\\"})
    assert result["manifest"] == "D:\\Q\\manifest.json" and state.exists("D:\\Q\\61000012.PCK")


def test_mode_and_platform_sets_are_case_insensitive_as_validateset(tmp_path):
    state = make_host(tmp_path)
    result, _unused = run_script(state, "compressed_package", {"Mode": "Absent", "PackageFolders": FOLDERS,
                                                               "Items": ITEMS[:1]})
    assert result["items"][0]["outcome"] == "removed"
    with pytest.raises(ScriptError, match="does not belong to the set \"i386,alpha\""):
        run_script(state, "hotfix_transaction", {"InstallDir": "C:\\SMS", "Platform": "AMD64",
                                                 "StagedPath": "C:\\x.dll", "ExpectedSha256": "00"})


# ---- faults: a full WMI outage ----------------------------------------------------------------------------
def test_full_wmi_outage_fails_services_console_and_drive_discovery_too(tmp_path):
    state = make_host(tmp_path, faults={"wmi_down": True})
    result, _unused = run_script(state, "probe", {})
    sources = {e["source"] for e in result["errors"]}
    assert {"wmi", "services", "processes", "package_folders"} <= sources, result["errors"]
    assert all(not s["exists"] and s["state"] is None for s in result["services"].values())
    assert result["console_open"] is None and result["package_folders"] == []
    assert not result["active_packages"]["available"]
    assert all("(0x80080005)" in e["message"] for e in result["errors"]), result["errors"]
    # the registry still answers: the install folder and the DLL are still known
    assert result["install_dir"] == "C:\\SMS" and result["platforms"]["i386"]["exists"]
    package, _unused = run_script(state, "compressed_package", {
        "Mode": "absent", "PackageFolders": FOLDERS, "Items": ITEMS[:1], "ActiveNamespace": "root\\SMS\\site_610"})
    assert package["items"][0]["outcome"] == "refused" and "0x80080005" in package["items"][0]["reason"]


def test_more_than_one_fault_on_a_host(tmp_path):
    state = make_host(tmp_path, faults={"wmi_down": True, "corrupt_log": True})
    result, _unused = run_script(state, "probe", {})
    assert result["console_open"] is None and result["distmgr_log"]["files"][1]["exists"]
