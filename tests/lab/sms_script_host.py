"""A hand-built SMS 2.0 site server for the tests of the lab's script twins (test_sms_scripts,
test_sms_scripts_packages, test_sms_scripts_hotfix): ``make_host``, ``run_script``, ``host_digest`` and a
small schema checker with the result schemas of docs/internals.md sections 1-3."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "lab"))

from smslab.handlers import SCRIPT_HANDLERS, HostContext  # noqa: E402
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
                 "steps": ListOf({"step": str, "ok": bool, "detail": str}), "new_version": S, "new_sha256": S,
                 "backup": S}      # this run's backup of the replaced Distmgr.dll, kept after success
