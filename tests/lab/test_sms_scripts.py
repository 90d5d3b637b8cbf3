"""The lab's simulation of the collection's scripts (lab/smslab/handlers/sms_scripts/).

Every test builds its own host by hand in tmp_path (host.json + files), calls the handlers
directly and checks the result against docs/internals.md sections 1-3.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "lab"))

from smslab.handlers import COMMAND_HANDLERS, SCRIPT_HANDLERS, HostContext, script_name  # noqa: E402
# Importing sms_scripts registers the script handlers.
from smslab.handlers import sms_scripts  # noqa: E402,F401 pylint: disable=unused-import
from smslab.state import HostState, dll_bytes, tree_digest  # noqa: E402

SETUP = "HKLM\\SOFTWARE\\Microsoft\\SMS\\Setup"
IDENT = "HKLM\\SOFTWARE\\Microsoft\\SMS\\Identification"
TRACING = "HKLM\\SOFTWARE\\Microsoft\\SMS\\Tracing\\SMS_DISTRIBUTION_MANAGER"
DLL = "C:\\SMS\\bin\\i386\\Distmgr.dll"
STAGED = "C:\\WINNT\\Temp\\q244405\\Distmgr.dll"
NEW_DLL = dll_bytes("2.00.1380.1083", 4096)
OLD_DLL = dll_bytes("2.00.1380.1000", 4096)
NEW_SHA = hashlib.sha256(NEW_DLL).hexdigest()
OLD_SHA = hashlib.sha256(OLD_DLL).hexdigest()
SERVICES_BEFORE = {"SMS_SITE_COMPONENT_MANAGER": "running", "SMS_EXECUTIVE": "running", "SMS_SITE_BACKUP": "stopped"}

# The KB's excerpt, as SMS writes it: entries wrapped over two physical lines.
KB_LOG = (
    "~Starting package processing thread,thread ID = 129  $$<SMS_DISTRIBUTION_MANAGER>\r\n"
    "<Fri Oct 15 17:09:46.507 1999 Pacific Daylight Time><thread=225 (0xE1)>\r\n"
    "Start deleting the package 61000012...  $$<SMS_DISTRIBUTION_MANAGER><Fri Oct 15 17:09:46.677 1999 "
    "Pacific Daylight Time><thread=297 \r\n"
    "(0x129)>\r\n"
    "~Successfully deleted the package 61000012  $$<SMS_DISTRIBUTION_MANAGER><Fri Oct 15 17:09:46.677 1999\r\n"
    "Pacific Daylight Time><thread=297 (0x129)>\r\n"
    "~Start adding package 61000013...  $$<SMS_DISTRIBUTION_MANAGER><Fri Oct 15 17:10:01.001 1999 "
    "Pacific Daylight Time><thread=297 (0x129)>\r\n"
)
FILLER = ("~Processing incoming file D:\\SMS\\inboxes\\distmgr.box\\INCOMING\\U2J0GVIQ.PKG  "
          "$$<SMS_DISTRIBUTION_MANAGER><Fri Oct 15 17:00:00.000 1999 Pacific Daylight Time><thread=225 (0xE1)>\r\n")


# ---- building a host by hand --------------------------------------------------------------------
def make_host(tmp_path: Path, *, faults: dict | None = None, wmi_available: bool = True,
              registry: dict | None = None, arch: str = "x86", console: bool = False,
              log: bytes | None = KB_LOG.encode("ascii")) -> HostState:
    root = tmp_path / "hosts" / "sms01"
    root.mkdir(parents=True)
    data = {
        "name": "sms01",
        "registry": registry if registry is not None else {
            SETUP: {"Full Version": "2.00.1380.1000", "Installation Directory": "C:\\SMS", "Type": 1},
            IDENT: {"Site Code": "610", "Parent Site Code": "600", "Installation Directory": "C:\\SMS"},
            TRACING: {"Enabled": 1, "MaxFileSize": 1048576},
        },
        "services": {
            "SMS_SITE_COMPONENT_MANAGER": {"state": "running", "start_mode": "auto",
                                           "path": "C:\\SMS\\bin\\i386\\sitecomp.exe"},
            "SMS_EXECUTIVE": {"state": "running", "start_mode": "auto", "path": "C:\\SMS\\bin\\i386\\smsexec.exe"},
            "SMS_SITE_BACKUP": {"state": "stopped", "start_mode": "manual",
                                "path": "C:\\SMS\\bin\\i386\\smsbkup.exe"},
        },
        "processes": ([{"name": "mmc.exe", "command_line": 'C:\\WINNT\\System32\\mmc.exe "C:\\SMS\\bin\\i386\\sms.msc"'}]
                      if console else [{"name": "explorer.exe", "command_line": "C:\\WINNT\\explorer.exe"}]),
        "wmi": {"available": wmi_available,
                "site": {"SiteCode": "610", "ReportingSiteCode": "600", "Type": 2, "Version": "2.0",
                         "BuildNumber": 1380, "InstallDir": "C:\\SMS"},
                "packages": [{"PackageID": "61000013", "ActionInProgress": 0, "SourceSite": "610"},
                             {"PackageID": "60000001", "ActionInProgress": 3, "SourceSite": "600"}]},
        "faults": faults or {},
        "environment": {"PROCESSOR_ARCHITECTURE": arch, "COMPUTERNAME": "SMS01", "TEMP": "C:\\WINNT\\Temp"},
    }
    (root / "host.json").write_text(json.dumps(data), encoding="utf-8")
    state = HostState.load(root)
    state.write_bytes(DLL, OLD_DLL)
    if log is not None:
        state.write_bytes("C:\\SMS\\Logs\\Distmgr.log", log)
    state.write_bytes("D:\\SMSPKG\\61000012.PCK", b"PCK-61000012" * 100)
    state.write_bytes("D:\\SMSPKG\\61000013.PCK", b"PCK-61000013" * 100)
    state.write_bytes("E:\\SMSPKG\\6100001A.PCK", b"PCK-6100001A" * 50)
    state.write_bytes("D:\\SMS_SITE\\61000012.PCK", b"sender copy, never touch")
    state.write_bytes("C:\\important.dat", b"not a package")
    state.write_bytes(STAGED, NEW_DLL)
    return state


def run_script(state: HostState, name: str, parameters: dict, check_mode: bool = False):
    return SCRIPT_HANDLERS[name](HostContext(name=state.name, state=state, check_mode=check_mode), parameters)


def host_digest(state: HostState) -> str:
    """Hash of every file (and link) of the host and of its state in memory (host.json as it would be saved)."""
    in_memory = json.dumps(state.data, sort_keys=True)
    return hashlib.sha256((tree_digest(state.root) + in_memory).encode()).hexdigest()


# ---- a small schema checker -------------------------------------------------------------------
class Null:
    def __init__(self, spec):
        self.spec = spec


class ListOf:
    def __init__(self, spec):
        self.spec = spec


class MapOf:
    def __init__(self, spec):
        self.spec = spec


def check(value, spec, where="result"):
    if isinstance(spec, Null):
        if value is not None:
            check(value, spec.spec, where)
        return
    if isinstance(spec, ListOf):
        assert isinstance(value, list), f"{where}: expected a list, got {value!r}"
        for i, item in enumerate(value):
            check(item, spec.spec, f"{where}[{i}]")
        return
    if isinstance(spec, MapOf):
        assert isinstance(value, dict), f"{where}: expected an object"
        for key, item in value.items():
            check(item, spec.spec, f"{where}.{key}")
        return
    if isinstance(spec, dict):
        assert isinstance(value, dict), f"{where}: expected an object, got {value!r}"
        assert set(value) == set(spec), f"{where}: keys {sorted(value)} != {sorted(spec)}"
        for key, sub in spec.items():
            check(value[key], sub, f"{where}.{key}")
        return
    types = spec if isinstance(spec, tuple) else (spec,)
    if value is None:
        assert type(None) in types, f"{where}: null not allowed"
        return
    if isinstance(value, bool):
        assert bool in types, f"{where}: bool where {types} expected"
        return
    assert isinstance(value, tuple(t for t in types if not isinstance(None, t))), f"{where}: {value!r} is not {types}"


S = (str, type(None))
I = (int, type(None))
B = (bool, type(None))
PROBE_SCHEMA = {
    "schema": int,
    "computer_name": S,
    "processor_architecture": S,
    "registry": {
        "setup": Null({"Full Version": S, "Installation Directory": S, "Type": I, "UI Version": S}),
        "identification": Null({"Site Code": S, "Parent Site Code": S, "Installation Directory": S}),
        "tracing": Null({"Enabled": I, "MaxFileSize": I}),
    },
    "wmi_site": {"available": bool, "error": S, "SiteCode": S, "ReportingSiteCode": S, "Type": I,
                 "Version": S, "BuildNumber": I, "InstallDir": S},
    "install_dir": S,
    "platforms": MapOf({"path": S, "exists": bool, "file_version": S, "size": I, "sha256": S}),
    "hotfix_log": {"path": S, "exists": bool},
    "transaction_journal": Null({"path": str, "text": S, "error": S}),
    "services": MapOf({"exists": bool, "state": S, "start_mode": S}),
    "console_open": B,
    "package_folders": ListOf({"path": str, "exists": bool, "files": Null(ListOf(
        {"name": str, "size": I, "last_write_utc": str, "reparse_point": bool, "directory": bool}))}),
    "active_packages": {"available": bool, "error": S, "namespace": S,
                        "packages": Null(ListOf({"PackageID": str, "ActionInProgress": I, "SourceSite": S}))},
    "distmgr_log": {"logging_enabled": B, "max_file_size": I,
                    "files": ListOf({"path": S, "exists": bool, "size": I,
                                     "matches": Null(ListOf({"line": int, "text": str}))})},
    "errors": ListOf({"source": str, "message": str}),
}
ITEM_SCHEMA = {"id": str, "path": str, "outcome": str, "reason": S, "sha256": S, "size": I}
HOTFIX_SCHEMA = {"mode": str, "outcome": str, "failed_step": S, "error": S, "restored": bool,
                 "dll_state": str, "transaction_id": S, "journal": Null({"path": str, "kept": bool}),
                 "services_before": MapOf(S), "services_after": MapOf(S),
                 "steps": ListOf({"step": str, "ok": bool, "detail": str}), "new_version": S, "new_sha256": S}


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


# ---- compressed_package -----------------------------------------------------------------------
def package_params(mode, items, **extra):
    params = {"Mode": mode, "PackageFolders": ["D:\\SMSPKG", "E:\\SMSPKG"], "Items": items,
              "QuarantineDir": "E:\\SMSQUARANTINE", "ActiveNamespace": "root\\SMS\\site_610",
              "IdPattern": r"^[A-Za-z0-9]{3}[0-9A-Fa-f]{5}\.PCK$"}
    params.update(extra)
    return params


def test_compressed_package_refusals(tmp_path):
    state = make_host(tmp_path)
    os.symlink(state.local_path("C:\\important.dat"), state.local_path("D:\\SMSPKG\\61000014.PCK"))
    state.write_bytes("D:\\SMSPKG\\evil.txt", b"x")
    items = [
        {"id": "61000012", "path": "D:\\SMSPKG\\evil.txt"},                      # bad name
        {"id": "61000012", "path": "D:\\SMSPKG\\..\\SMS_SITE\\61000012.PCK"},    # escapes the folder
        {"id": "61000012", "path": "D:\\SMS_SITE\\61000012.PCK"},                # Sender's folder
        {"id": "61000014", "path": "D:\\SMSPKG\\61000014.PCK"},                  # symlink
        {"id": "61000013", "path": "D:\\SMSPKG\\61000013.PCK"},                  # active now
        {"id": "61000099", "path": "D:\\SMSPKG\\61000012.PCK"},                  # id does not fit the name
        {"id": "61000012", "path": "SMSPKG\\61000012.PCK"},                      # relative
        {"id": "6100001F", "path": "D:\\SMSPKG\\6100001F.PCK"},                  # not there
    ]
    before = host_digest(state)
    result, changed = run_script(state, "compressed_package", package_params("absent", items))
    assert changed is False and host_digest(state) == before
    for item in result["items"]:
        check(item, ITEM_SCHEMA)
    outcomes = [(i["outcome"], i["reason"]) for i in result["items"]]
    assert [o for o, _unused in outcomes] == ["refused"] * 7 + ["missing"]
    assert "does not match the package ID pattern" in outcomes[0][1]
    assert "not directly inside a package folder" in outcomes[1][1] and "D:\\SMS_SITE\\61000012.PCK" in outcomes[1][1]
    assert "not directly inside" in outcomes[2][1]
    assert "reparse point" in outcomes[3][1]
    assert outcomes[4][1] == "package 61000013 is active in root\\SMS\\site_610 (ActionInProgress=0)"
    assert "does not carry the package ID" in outcomes[5][1]
    assert "absolute path" in outcomes[6][1]
    assert result["manifest"] is None
    assert state.exists("C:\\important.dat") and state.exists("D:\\SMS_SITE\\61000012.PCK")


def test_compressed_package_refuses_everything_when_wmi_cannot_answer(tmp_path):
    state = make_host(tmp_path, faults={"wmi_unavailable": True})
    result, changed = run_script(state, "compressed_package",
                                 package_params("absent", [{"id": "61000012", "path": "D:\\SMSPKG\\61000012.PCK"}]))
    assert changed is False and result["items"][0]["outcome"] == "refused"
    assert "cannot re-check active packages" in result["items"][0]["reason"]
    assert state.exists("D:\\SMSPKG\\61000012.PCK")


def test_compressed_package_remove(tmp_path):
    state = make_host(tmp_path)
    content = state.read_bytes("D:\\SMSPKG\\61000012.PCK")
    # the controller's pattern names its group the .NET way, as PowerShell reads it
    result, changed = run_script(state, "compressed_package",
                                 package_params("absent", [{"id": "61000012", "path": "d:\\smspkg\\61000012.pck"}],
                                                IdPattern=r"^(?<id>[A-Za-z0-9]{3}[0-9A-Fa-f]{5})\.PCK$"))
    (item,) = result["items"]
    assert changed is True and item["outcome"] == "removed" and item["reason"] is None
    assert item["sha256"] == hashlib.sha256(content).hexdigest() and item["size"] == len(content)
    assert not state.exists("D:\\SMSPKG\\61000012.PCK")


@pytest.mark.parametrize("mode,outcome", [("absent", "would_remove"), ("quarantined", "would_quarantine")])
def test_compressed_package_check_mode_changes_nothing(tmp_path, mode, outcome):
    state = make_host(tmp_path)
    before = host_digest(state)
    items = [{"id": "61000012", "path": "D:\\SMSPKG\\61000012.PCK"},
             {"id": "6100001A", "path": "E:\\SMSPKG\\6100001A.PCK"}]
    result, changed = run_script(state, "compressed_package", package_params(mode, items), check_mode=True)
    assert [i["outcome"] for i in result["items"]] == [outcome, outcome]
    assert all(i["sha256"] for i in result["items"])
    assert changed is True                              # check mode reports what would change
    assert host_digest(state) == before


def test_quarantine_and_restore_roundtrip(tmp_path):
    state = make_host(tmp_path)
    original = state.read_bytes("D:\\SMSPKG\\61000012.PCK")
    item = {"id": "61000012", "path": "D:\\SMSPKG\\61000012.PCK"}
    result, changed = run_script(state, "compressed_package", package_params("quarantined", [item]))
    assert changed is True and result["items"][0]["outcome"] == "quarantined"
    assert result["manifest"] == "E:\\SMSQUARANTINE\\manifest.json"
    assert not state.exists(item["path"]) and state.read_bytes("E:\\SMSQUARANTINE\\61000012.PCK") == original
    manifest = json.loads(state.read_bytes(result["manifest"]))
    assert manifest == [{"id": "61000012", "original_path": "D:\\SMSPKG\\61000012.PCK",
                         "quarantine_path": "E:\\SMSQUARANTINE\\61000012.PCK",
                         "sha256": hashlib.sha256(original).hexdigest(), "size": len(original), "origin_site": "610"}]

    before = host_digest(state)
    result, changed = run_script(state, "compressed_package", package_params("restored", [item]), check_mode=True)
    assert result["items"][0]["outcome"] == "would_restore" and host_digest(state) == before

    result, changed = run_script(state, "compressed_package", package_params("restored", [item]))
    assert changed is True and result["items"][0]["outcome"] == "restored"
    assert result["items"][0]["sha256"] == hashlib.sha256(original).hexdigest()
    assert state.read_bytes(item["path"]) == original and not state.exists("E:\\SMSQUARANTINE\\61000012.PCK")
    assert json.loads(state.read_bytes(result["manifest"])) == []


def test_restore_refuses_an_existing_target_and_a_changed_copy(tmp_path):
    state = make_host(tmp_path)
    item = {"id": "61000012", "path": "D:\\SMSPKG\\61000012.PCK"}
    run_script(state, "compressed_package", package_params("quarantined", [item]))
    state.write_bytes(item["path"], b"a new copy arrived meanwhile")
    result, changed = run_script(state, "compressed_package", package_params("restored", [item]))
    assert changed is False and result["items"][0]["outcome"] == "refused"
    assert result["items"][0]["reason"] == "restore target D:\\SMSPKG\\61000012.PCK already exists"
    assert state.read_bytes(item["path"]) == b"a new copy arrived meanwhile"
    assert state.exists("E:\\SMSQUARANTINE\\61000012.PCK")

    state.remove(item["path"])
    state.write_bytes("E:\\SMSQUARANTINE\\61000012.PCK", b"tampered")
    result, changed = run_script(state, "compressed_package", package_params("restored", [item]))
    assert result["items"][0]["outcome"] == "refused" and "manifest says" in result["items"][0]["reason"]
    assert not state.exists(item["path"])


# restore with an empty path: the target is the manifest entry's original_path -------------------
QUARANTINE_MANIFEST = "E:\\SMSQUARANTINE\\manifest.json"
BY_ID = [{"id": "61000012", "path": ""}, {"id": "6100001A", "path": ""}]


def quarantine_both(state):
    """Quarantine D:\\SMSPKG\\61000012.PCK and E:\\SMSPKG\\6100001A.PCK (two package folders); their bytes."""
    originals = {"D:\\SMSPKG\\61000012.PCK": state.read_bytes("D:\\SMSPKG\\61000012.PCK"),
                 "E:\\SMSPKG\\6100001A.PCK": state.read_bytes("E:\\SMSPKG\\6100001A.PCK")}
    items = [{"id": "61000012", "path": "D:\\SMSPKG\\61000012.PCK"}, {"id": "6100001A", "path": "E:\\SMSPKG\\6100001A.PCK"}]
    result, _unused = run_script(state, "compressed_package", package_params("quarantined", items))
    assert [i["outcome"] for i in result["items"]] == ["quarantined", "quarantined"]
    assert not any(state.exists(path) for path in originals)
    return originals


def edit_manifest(state, package_id, **changes):
    entries = json.loads(state.read_bytes(QUARANTINE_MANIFEST))
    for entry in entries:
        if entry["id"] == package_id:
            entry.update(changes)
    state.write_bytes(QUARANTINE_MANIFEST, json.dumps(entries).encode("utf-8"))


def test_restore_by_id_puts_each_file_back_in_its_own_package_folder(tmp_path):
    state = make_host(tmp_path)
    originals = quarantine_both(state)
    params = package_params("restored", BY_ID)
    assert params["PackageFolders"] == ["D:\\SMSPKG", "E:\\SMSPKG"]

    before = host_digest(state)
    result, changed = run_script(state, "compressed_package", params, check_mode=True)
    assert changed is True and host_digest(state) == before
    assert [(i["outcome"], i["path"]) for i in result["items"]] == [
        ("would_restore", "D:\\SMSPKG\\61000012.PCK"), ("would_restore", "E:\\SMSPKG\\6100001A.PCK")]

    result, changed = run_script(state, "compressed_package", params)
    assert changed is True
    for item in result["items"]:
        check(item, ITEM_SCHEMA)
    assert [(i["id"], i["outcome"], i["path"], i["reason"]) for i in result["items"]] == [
        ("61000012", "restored", "D:\\SMSPKG\\61000012.PCK", None),
        ("6100001A", "restored", "E:\\SMSPKG\\6100001A.PCK", None)]
    for path, data in originals.items():
        assert state.read_bytes(path) == data
    assert [i["sha256"] for i in result["items"]] == [hashlib.sha256(d).hexdigest() for d in originals.values()]
    # each one in its own folder, not in the other one
    assert not state.exists("E:\\SMSPKG\\61000012.PCK") and not state.exists("D:\\SMSPKG\\6100001A.PCK")
    assert not state.exists("E:\\SMSQUARANTINE\\61000012.PCK") and not state.exists("E:\\SMSQUARANTINE\\6100001A.PCK")
    assert json.loads(state.read_bytes(QUARANTINE_MANIFEST)) == []

    # again: nothing left in quarantine, nothing changes
    before = host_digest(state)
    result, changed = run_script(state, "compressed_package", params)
    assert changed is False and host_digest(state) == before
    assert [(i["outcome"], i["reason"]) for i in result["items"]] == [
        ("missing", "E:\\SMSQUARANTINE\\61000012.PCK not found in quarantine"),
        ("missing", "E:\\SMSQUARANTINE\\6100001A.PCK not found in quarantine")]


def test_restore_by_id_refuses_an_existing_target_and_a_changed_copy(tmp_path):
    state = make_host(tmp_path)
    quarantine_both(state)
    state.write_bytes("E:\\SMSPKG\\6100001A.PCK", b"a new copy arrived meanwhile")
    state.write_bytes("E:\\SMSQUARANTINE\\61000012.PCK", b"tampered")
    before = host_digest(state)
    result, changed = run_script(state, "compressed_package", package_params("restored", BY_ID))
    assert changed is False and host_digest(state) == before
    (tampered, obstacle) = result["items"]
    assert tampered["outcome"] == "refused" and tampered["path"] == "D:\\SMSPKG\\61000012.PCK"
    assert tampered["reason"].startswith("sha256 of E:\\SMSQUARANTINE\\61000012.PCK is "
                                         + hashlib.sha256(b"tampered").hexdigest() + ", manifest says ")
    assert obstacle == {"id": "6100001A", "path": "E:\\SMSPKG\\6100001A.PCK", "outcome": "refused",
                        "reason": "restore target E:\\SMSPKG\\6100001A.PCK already exists", "sha256": None, "size": None}
    assert {e["id"] for e in json.loads(state.read_bytes(QUARANTINE_MANIFEST))} == {"61000012", "6100001A"}


@pytest.mark.parametrize("original_path,reason", [
    # a tampered manifest: the checks of a given path apply to the one the manifest names
    ("D:\\SMS_SITE\\61000012.PCK",
     "resolved path D:\\SMS_SITE\\61000012.PCK is not directly inside a package folder (D:\\SMSPKG, E:\\SMSPKG)"),
    ("D:\\SMSPKG\\..\\SMS_SITE\\61000012.PCK",
     "resolved path D:\\SMS_SITE\\61000012.PCK is not directly inside a package folder (D:\\SMSPKG, E:\\SMSPKG)"),
    ("C:\\WINNT\\61000012.PCK",
     "resolved path C:\\WINNT\\61000012.PCK is not directly inside a package folder (D:\\SMSPKG, E:\\SMSPKG)"),
    ("C:\\important.dat", "file name 'important.dat' does not match the package ID pattern"),
    ("E:\\SMSPKG\\6100001B.PCK", "file name '6100001B.PCK' does not carry the package ID 61000012"),
    ("\\\\EVIL\\SMSPKG\\61000012.PCK", "item needs an id and an absolute path (X:\\...)"),
    ("SMSPKG\\61000012.PCK", "item needs an id and an absolute path (X:\\...)"),
    ("", "item needs an id and an absolute path (X:\\...)"),
    (None, "item needs an id and an absolute path (X:\\...)"),
])
def test_restore_by_id_refuses_a_target_outside_the_package_folders(tmp_path, original_path, reason):
    state = make_host(tmp_path)
    quarantine_both(state)
    edit_manifest(state, "61000012", original_path=original_path)
    before = host_digest(state)
    result, changed = run_script(state, "compressed_package", package_params("restored", BY_ID[:1]))
    assert changed is False and host_digest(state) == before
    (item,) = result["items"]
    assert (item["outcome"], item["reason"]) == ("refused", reason)
    assert item["path"] == (original_path or "")
    assert state.exists("E:\\SMSQUARANTINE\\61000012.PCK")
    assert state.read_bytes("D:\\SMS_SITE\\61000012.PCK") == b"sender copy, never touch"


def test_restore_by_id_refuses_an_active_package_and_when_wmi_cannot_answer(tmp_path):
    state = make_host(tmp_path)
    quarantine_both(state)
    # 61000013 is active: an entry naming it (and its own file as target) is refused for that first
    state.write_bytes("E:\\SMSQUARANTINE\\61000013.PCK", b"PCK-61000013")
    entries = json.loads(state.read_bytes(QUARANTINE_MANIFEST))
    entries.append({"id": "61000013", "original_path": "D:\\SMSPKG\\61000013.PCK",
                    "quarantine_path": "E:\\SMSQUARANTINE\\61000013.PCK",
                    "sha256": hashlib.sha256(b"PCK-61000013").hexdigest(), "size": 12, "origin_site": "610"})
    state.write_bytes(QUARANTINE_MANIFEST, json.dumps(entries).encode("utf-8"))
    before = host_digest(state)
    result, changed = run_script(state, "compressed_package",
                                 package_params("restored", [{"id": "61000013", "path": ""}]))
    assert changed is False and host_digest(state) == before
    assert result["items"][0]["reason"] == "package 61000013 is active in root\\SMS\\site_610 (ActionInProgress=0)"

    state.faults["wmi_unavailable"] = True
    before = host_digest(state)
    result, changed = run_script(state, "compressed_package", package_params("restored", BY_ID))
    assert changed is False and host_digest(state) == before
    assert [i["outcome"] for i in result["items"]] == ["refused", "refused"]
    assert all(i["reason"].startswith("cannot re-check active packages: ") for i in result["items"])


def test_restore_by_id_without_a_manifest_entry(tmp_path):
    state = make_host(tmp_path)
    quarantine_both(state)
    # a copy in quarantine that the manifest does not list: refused, no target to check
    state.write_bytes("E:\\SMSQUARANTINE\\6100001F.PCK", b"PCK-6100001F")
    before = host_digest(state)
    items = [{"id": "6100001F", "path": ""}, {"id": "6100001E", "path": ""}, {"id": "", "path": ""}]
    result, changed = run_script(state, "compressed_package", package_params("restored", items))
    assert changed is False and host_digest(state) == before
    for item in result["items"]:
        check(item, ITEM_SCHEMA)
    assert [(i["outcome"], i["path"], i["reason"]) for i in result["items"]] == [
        ("refused", "", f"no manifest entry for 6100001F in {QUARANTINE_MANIFEST}"),
        ("missing", "", "E:\\SMSQUARANTINE\\6100001E.PCK not found in quarantine"),
        ("refused", "", "item needs an id and an absolute path (X:\\...)")]
    assert not state.exists("D:\\SMSPKG\\6100001F.PCK") and not state.exists("E:\\SMSPKG\\6100001F.PCK")

    # no manifest at all
    state.remove(QUARANTINE_MANIFEST)
    result, changed = run_script(state, "compressed_package", package_params("restored", BY_ID))
    assert changed is False
    assert [(i["outcome"], i["reason"]) for i in result["items"]] == [
        ("refused", f"no manifest entry for 61000012 in {QUARANTINE_MANIFEST}"),
        ("refused", f"no manifest entry for 6100001A in {QUARANTINE_MANIFEST}")]
    assert state.exists("E:\\SMSQUARANTINE\\61000012.PCK") and not state.exists("D:\\SMSPKG\\61000012.PCK")


def test_unreadable_manifest_refuses_each_item_and_moves_nothing(tmp_path):
    state = make_host(tmp_path)
    quarantine_both(state)
    state.write_bytes(QUARANTINE_MANIFEST, b"{not json")
    before = host_digest(state)
    result, changed = run_script(state, "compressed_package", package_params("restored", BY_ID))
    assert changed is False and host_digest(state) == before
    assert [i["outcome"] for i in result["items"]] == ["refused", "refused"]
    assert all(i["reason"].startswith("error: ") for i in result["items"])
    assert state.exists("E:\\SMSQUARANTINE\\61000012.PCK") and not state.exists("D:\\SMSPKG\\61000012.PCK")


def test_restore_with_a_path_is_unchanged_by_the_manifest_target(tmp_path):
    """A given path is the target, as before, even when the manifest names another folder."""
    state = make_host(tmp_path)
    originals = quarantine_both(state)
    result, changed = run_script(state, "compressed_package", package_params(
        "restored", [{"id": "61000012", "path": "E:\\SMSPKG\\61000012.PCK"}]))
    assert changed is True and result["items"][0]["outcome"] == "restored"
    assert result["items"][0]["path"] == "E:\\SMSPKG\\61000012.PCK"
    assert state.read_bytes("E:\\SMSPKG\\61000012.PCK") == originals["D:\\SMSPKG\\61000012.PCK"]
    assert not state.exists("D:\\SMSPKG\\61000012.PCK")


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
