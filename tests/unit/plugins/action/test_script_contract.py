"""Contract: every value the controller can send to a host script is one Windows accepts.

The real action plugin (``remediate``: probe, every workaround state, the manual hotfix, the verifying
probe) runs against a lab host in-process: each remote call goes to the lab's handler for that module, as
over WinRM. Every ``win_powershell`` call is then checked as Windows would check it: its parameters bind
to the param() block of the script text actually sent (types, ValidateSet, Mandatory, unknown names: the
lab's ps_binding, which reads the block with tree-sitter), and every regex parameter (``*Pattern``)
compiles under .NET rules. Tables: the sms20 defaults, and overrides a user may set.

A controller that sends a Python regex (``(?P<id>...)``) as ``IdPattern`` fails here; so does a parameter
the script does not declare, or a Platform outside the script's ValidateSet.
"""

from __future__ import annotations

import json
import ntpath
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[4]
sys.path.insert(0, str(REPO / "lab"))

from smslab.handlers import MODULE_HANDLERS, HostContext  # noqa: E402
from smslab.handlers import generic, sms_scripts  # noqa: E402,F401 pylint: disable=unused-import
from smslab.handlers.dotnet_regex import DotnetRegexError, compile_dotnet  # noqa: E402
from smslab.handlers.ps_binding import BindingError, bind  # noqa: E402
from smslab.scenario import build_state_dir  # noqa: E402
from smslab.state import HostState  # noqa: E402

from ansible_collections.sms.remediation.plugins.module_utils import sms20  # noqa: E402
from ansible_collections.sms.remediation.plugins.plugin_utils._scripts import script_names, script_text  # noqa: E402

PWSH = "ansible.windows.win_powershell"
CHILD = "sms610"
SCENARIO = {
    "seed": 11,
    "sites": [
        {"name": "sms600", "site_code": "600", "parent": None, "build": "sp2",
         "packages": {"active": ["60000001"]}},
        {"name": CHILD, "site_code": "610", "parent": "600", "build": "sp1", "logging": "on",
         "packages": {"active": ["60000001"],
                      "leftovers": [{"id": "60000009", "log_claim": True}, "6000000A"]}},
    ],
}
PARENT_FACTS = {"host": "sms600", "site_code": "600", "active": {"available": True, "ids": ["60000001"], "deleting": []}}

# sms20 tables the controller can hold: the defaults, and overrides a user may set (Python regexes with
# named groups and \Z, another spelling of the platform folder, more log names).
TABLES = {
    "defaults": None,
    "overridden": {
        "package_file_pattern": r"^(?P<id>[A-Za-z0-9]{3}[0-9A-Fa-f]{5})\.(?:PCK|pck)\Z",
        "log_pattern": r"(?P<verb>deleting|deleted) the package|adding package\Z",
        "platforms": {"x86": "I386"},
        "log_names": ["Distmgr.lo_", "Distmgr.log", "Distmgr.old"],
    },
}
WORKAROUNDS = [("absent", None), ("quarantined", "D:\\SMSPKG-Q244405")]


def lab_host(tmp_path) -> HostState:
    build_state_dir(SCENARIO, tmp_path / "lab")
    return HostState.load(tmp_path / "lab" / "hosts" / CHILD)


class LabCalls:
    """``_execute_module`` answered by the lab's handlers for one host; every call is kept."""

    def __init__(self, state: HostState, check_mode: bool):
        self.state = state
        self.check_mode = check_mode
        self.calls: list[tuple[str, dict, dict]] = []

    def __call__(self, module_name=None, module_args=None, task_vars=None, **_):
        args = json.loads(json.dumps(module_args or {}))            # what crosses the wire is JSON
        ctx = HostContext(name=self.state.name, state=self.state, check_mode=self.check_mode)
        reply = MODULE_HANDLERS[module_name](ctx, args)
        self.calls.append((module_name, args, reply))
        return json.loads(json.dumps(reply))

    def scripts(self) -> list[tuple[str, dict, dict]]:
        return [(args["script"], args.get("parameters") or {}, reply)
                for name, args, reply in self.calls if name == PWSH]


def stage_on_the_lab_host(monkeypatch, action, state: HostState) -> None:
    """win_copy needs a real connection: the staged file is put on the lab host instead. Only the
    staging is replaced; every script call still goes through the controller's own code."""
    def put(source, dest_dir):
        target = ntpath.join(dest_dir, Path(source).name)
        state.write_bytes(target, Path(source).read_bytes())
        return {"changed": True, "dest": target, "sha256": None}
    try:
        from ansible_collections.sms.remediation.plugins.plugin_utils._transport import winrm
    except ImportError:            # before the transport seam: the step staged through action.stage
        winrm = None
    if winrm is not None:
        monkeypatch.setattr(winrm.WinrmTransport, "stage_file", lambda self, source, dest_dir: put(source, dest_dir))
    action.stage = lambda source, staging_dir, task_vars: put(source, staging_dir)


def run_remediate(make_action, monkeypatch, tmp_path, table, workaround_state, quarantine_dir):
    state = lab_host(tmp_path)
    dll = str(tmp_path / "lab" / "hotfix" / "i386" / "Distmgr.dll")
    # hotfix_files is keyed by the platform folder, which the table may spell differently
    args = {"policy": "auto", "origin_sites": {"600": PARENT_FACTS}, "workaround_state": workaround_state,
            "hotfix_method": "manual", "hotfix_files": {"i386": dll, "I386": dll}}
    if quarantine_dir:
        args["quarantine_dir"] = quarantine_dir
    if table:
        args["sms20"] = table
    action = make_action("remediate", args, {})
    lab = LabCalls(state, check_mode=False)
    action._execute_module = lab
    action._find_needle = lambda kind, path: path
    stage_on_the_lab_host(monkeypatch, action, state)
    result = action.run(task_vars={"inventory_hostname": CHILD})
    return result, lab


def windows_refusals(script: str, parameters: dict) -> list[str]:
    """What Windows would refuse in one call: binding errors and regexes .NET cannot compile."""
    problems = []
    try:
        bound = bind(script, parameters)
    except BindingError as exc:
        return [f"{script.splitlines()[0]}: {exc}"]
    for name, value in bound.items():
        if name.endswith("Pattern") and isinstance(value, str):
            try:
                compile_dotnet(value)
            except DotnetRegexError as exc:
                problems.append(f"{script.splitlines()[0]}: {name}: {exc}")
    return problems


@pytest.mark.parametrize("workaround_state, quarantine_dir", WORKAROUNDS)
@pytest.mark.parametrize("table", sorted(TABLES))
def test_every_script_call_the_controller_makes_is_accepted_by_windows(make_action, monkeypatch, tmp_path, table,
                                                                       workaround_state, quarantine_dir):
    result, lab = run_remediate(make_action, monkeypatch, tmp_path, TABLES[table], workaround_state, quarantine_dir)
    calls = lab.scripts()
    problems = [problem for script, parameters, _reply in calls for problem in windows_refusals(script, parameters)]
    assert problems == []
    failed = [(script.splitlines()[0], reply.get("msg")) for script, _parameters, reply in calls if reply.get("failed")]
    assert failed == [], failed
    sent = [script.splitlines()[0] for script, _parameters, _reply in calls]
    # probe, workaround, hotfix transaction, verification probe: every script was driven
    assert {"# sms.remediation:probe v1", "# sms.remediation:compressed_package v1",
            "# sms.remediation:hotfix_transaction v1"} <= set(sent), (sent, result.get("msg"))
    assert not result.get("failed"), result.get("msg")
    outcome = result["ansible_facts"]["q244405_outcome"]
    workaround = outcome["workaround"]
    assert sorted(workaround["removed"] + workaround["quarantined"]) == ["60000009", "6000000A"], workaround
    assert outcome["hotfix"]["outcome"] == "replaced", outcome["hotfix"]


@pytest.mark.parametrize("table", sorted(TABLES))
def test_probe_parameters_of_every_table_bind_and_compile(table):
    parameters = sms20.probe_parameters(sms20.merge_overrides(TABLES[table]))
    assert windows_refusals(script_text("sms_probe"), parameters) == []


def test_the_contract_check_catches_what_windows_refuses():
    # The checks themselves: a Python named group, an unknown parameter, a value outside a ValidateSet.
    package = script_text("sms_compressed_package")
    assert "Unrecognized grouping construct" in " ".join(windows_refusals(package, {
        "Mode": "absent", "PackageFolders": ["D:\\SMSPKG"], "IdPattern": sms20.DEFAULTS["package_file_pattern"]}))
    assert "A parameter cannot be found that matches parameter name 'Bogus'" in " ".join(windows_refusals(package, {
        "Mode": "absent", "PackageFolders": [], "Bogus": 1}))
    assert "does not belong to the set" in " ".join(windows_refusals(script_text("sms_hotfix_transaction"), {
        "InstallDir": "C:\\SMS", "Platform": "amd64", "StagedPath": "C:\\x.dll", "ExpectedSha256": "00"}))
    assert set(script_names()) == {"sms_compressed_package", "sms_hierarchy", "sms_hotfix_transaction", "sms_probe"}


@pytest.mark.parametrize("check_mode", [True, False])
@pytest.mark.parametrize("table", sorted(TABLES))
def test_restore_calls_are_accepted_by_windows(make_action, monkeypatch, tmp_path, table, check_mode):
    # Quarantine through remediate, then restore by ID with the compressed_package module (items with an
    # empty path: the manifest says where each file goes back); in check mode the script runs with -WhatIf.
    _result, quarantine = run_remediate(make_action, monkeypatch, tmp_path, TABLES[table], "quarantined",
                                        "D:\\SMSPKG-Q244405")
    args = {"state": "restored", "packages": ["60000009", "6000000A"], "quarantine_dir": "D:\\SMSPKG-Q244405"}
    if TABLES[table]:
        args["sms20"] = TABLES[table]
    action = make_action("compressed_package", args, {}, check_mode=check_mode)
    lab = LabCalls(quarantine.state, check_mode=check_mode)
    action._execute_module = lab
    result = action.run(task_vars={"inventory_hostname": CHILD})
    calls = lab.scripts()
    assert [problem for script, parameters, _reply in calls for problem in windows_refusals(script, parameters)] == []
    assert [reply.get("msg") for _script, _parameters, reply in calls if reply.get("failed")] == []
    assert "# sms.remediation:compressed_package v1" in [script.splitlines()[0] for script, _p, _r in calls]
    assert not result.get("failed"), result.get("msg")
    done = [item["outcome"] for item in result["outcomes"]]
    assert done == ["would_restore" if check_mode else "restored"] * 2, result["outcomes"]
