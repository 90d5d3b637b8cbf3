"""Issue 14: the safety promise end to end over msrpc, on a generated fleet.

``generate_fleet(FLEET_SIZE, SEED)`` (as test_check_mode_fleet.py) served by the lab's msrpc site servers: one
Samba smbd per host (real SMB deletes: Samba refuses nothing the controller asks for, so only the controller's
checks stand between a request and a lost file) and the lab's DCOM/WMI responder (a simulation of the few WMI
calls the collection makes). Into the fleet go, on children that hold leftovers confirmed at their origin:

* a package Distribution Manager is deleting there (``ActionInProgress = 3``): its origin deleted it, so only
  the site's own active list says to keep it;
* a child whose WMI service is down (``wmi_down``: the DCOM activation fails), one whose SMS Provider
  namespace is missing (``wmi_unavailable``): its active list is unknown, nothing may go there.

remediate.yml runs once for real with the default policy. Then, from each host's state folder (the lab's files
and host.json, what the scenario built, not the report): every file that is gone is a ``.PCK`` in a package
folder whose package is stale-confirmed by the scenario's own truth (a leftover here, absent from this site's
active list, which was readable, and gone at its origin site, which is in the fleet and readable); nothing
else changed in a package folder; every active, deleting, unknown, odd or linked ``.PCK`` is still there; and
the confirmed leftovers of the healthy children did go (the test can fail both ways).

``SMS_MSRPC_FLEET_SIZE`` picks another size (24 by default: about a minute here).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest

from collection_overlay import overlay_collection
from lab_harness import PLAYBOOK, ROOT, VENV_BIN, ansible_env, parse_recap
from smslab.samba.testing import require_samba
from smslab.scenario import build_state_dir, generate_fleet
from smslab.state import HostState

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: the WMI responder listens on port 135")

FLEET_SIZE = int(os.environ.get("SMS_MSRPC_FLEET_SIZE", "24"))
SEED = 14
WMI_FAULTS = ("wmi_down", "wmi_unavailable")


def confirmed_by_scenario(sites: list) -> dict:
    """{site name: leftover IDs gone at their origin and not active here}, from the scenario before it is built."""
    by_code = {site["site_code"]: site for site in sites}

    def present(site) -> set:
        packages = site.get("packages") or {}
        return {str(p).upper() for key in ("active", "deleting", "reparse_points") for p in packages.get(key, [])}

    def origin(package_id):
        return by_code.get(package_id[:3].upper())

    found = {}
    for site in sites:
        ids = [lo if isinstance(lo, str) else lo["id"] for lo in (site.get("packages") or {}).get("leftovers", [])]
        confirmed = [p for p in ids if origin(p) and p.upper() not in present(origin(p)) | present(site)]
        if confirmed:
            found[site["name"]] = confirmed
    return found


def fleet_with_safety_cases() -> tuple[dict, dict]:
    """The generated fleet with the three cases put on children holding confirmed leftovers."""
    scenario = generate_fleet(FLEET_SIZE, SEED)
    candidates = sorted(confirmed_by_scenario(scenario["sites"]).items(), key=lambda item: (-len(item[1]), item[0]))
    assert len(candidates) >= 4, f"seed {SEED}: too few children with confirmed leftovers: {candidates}"
    sites = {site["name"]: site for site in scenario["sites"]}
    (deleting_host, deleting_ids), (down_host, _unused), (unavailable_host, _unused2) = candidates[:3]
    packages = sites[deleting_host]["packages"]
    package_id = deleting_ids[0]
    packages["leftovers"] = [lo for lo in packages["leftovers"]
                             if (lo if isinstance(lo, str) else lo["id"]) != package_id]
    packages["deleting"] = list(packages.get("deleting") or []) + [package_id]
    sites[down_host]["faults"] = {"wmi_down": True}
    sites[unavailable_host]["faults"] = {"wmi_unavailable": True}
    return scenario, {"deleting": (deleting_host, package_id), "wmi_down": down_host,
                      "wmi_unavailable": unavailable_host}


def files_of(host_dir: Path) -> dict:
    """Every file and link under a host's fs/ -> sha256 (a link: its target), paths as fs/<drive>/..."""
    found = {}
    for folder, _dirs, names in os.walk(host_dir / "fs"):
        for name in names:
            path = Path(folder) / name
            relative = str(path.relative_to(host_dir))
            found[relative] = ("link " + os.readlink(path) if path.is_symlink()
                               else hashlib.sha256(path.read_bytes()).hexdigest())
    return found


def truth(state_dir: Path, names: list) -> dict:
    """{host: {"stale": IDs stale-confirmed by the lab's host.json, "folders": its package folders as fs/<drive>/...,
    "answers": whether its WMI answers}}."""
    states = {name: HostState.load(state_dir / "hosts" / name) for name in names}

    def answers(state) -> bool:
        return state.wmi.get("available", True) and not any(state.faults.get(f) for f in WMI_FAULTS)

    def listed(state) -> dict:
        return {p["PackageID"].upper(): p.get("ActionInProgress") for p in state.wmi.get("packages") or []}

    by_code = {state.data["site_code"].upper(): state for state in states.values()}
    result = {}
    for name, state in states.items():
        leftovers = [lo["id"] if isinstance(lo, dict) else lo for lo in state.data["lab"]["leftovers"]]
        stale = set()
        for pid in leftovers:
            origin = by_code.get(pid[:3].upper())
            if answers(state) and pid.upper() not in listed(state) and origin is not None and answers(origin) \
                    and pid.upper() not in listed(origin):
                stale.add(pid.upper())
        folders = ["fs/" + f.replace(":\\", "/").replace("\\", "/") for f in state.data["lab"]["package_folders"]]
        result[name] = {"stale": stale, "folders": folders, "answers": answers(state)}
    return result


def run_playbook(state_dir: Path, inventory: Path, env: dict, *args: str):
    variables = {"q244405_report_dir": str(state_dir / "reports"),
                 "q244405_hotfix_files": {p: str(state_dir / "hotfix" / p / "Distmgr.dll") for p in ("i386", "alpha")}}
    done = subprocess.run([str(VENV_BIN / "ansible-playbook"), "-i", str(inventory), str(PLAYBOOK),
                           "-e", json.dumps(variables), *args], capture_output=True, text=True, env=env,
                          timeout=900, cwd=ROOT, check=False)
    return done.stdout + ("\n--- stderr ---\n" + done.stderr if done.stderr else ""), parse_recap(done.stdout)


BROKEN_PLAN = '''\
"""Deliberately broken for a test: the plan asks to remove every .PCK that has a package ID, whatever the
classification said (active, deleting, unknown, present at its origin)."""
from ansible_collections.sms.remediation.plugins.module_utils import decision
from ansible_collections.sms.remediation.plugins.action._real_remediate import ActionModule  # noqa: F401

_classified = decision._leftovers


def _everything(leftovers, request, notes):
    _classified(leftovers, request, notes)
    return [item for item in leftovers if item.package_id], [], []


decision._leftovers = _everything
'''


def run_fleet(root: Path, broken: bool = False) -> dict:
    """Build the fleet, serve it over msrpc, run remediate.yml once for real; every server stopped after."""
    require_samba()
    from smslab.msrpc_lab import MsrpcLab

    state_dir = root / "state"
    scenario, cases = fleet_with_safety_cases()
    names = build_state_dir(scenario, state_dir)
    before = {name: files_of(state_dir / "hosts" / name) for name in names}
    env = ansible_env(root)
    if broken:
        env["ANSIBLE_COLLECTIONS_PATH"] = str(overlay_collection(root / "broken", {"remediate": BROKEN_PLAN}))
    lab = MsrpcLab(state_dir, extra_vars={"q244405_msrpc_cache_dir": str(root / "msrpc-cache"),
                                          "q244405_msrpc_timeout": 30})
    lab.start()
    try:
        output, recap = run_playbook(state_dir, lab.write_inventory(root / "inventory.yml"), env, "--forks", "10")
    finally:
        lab.stop()
    assert not lab.samba.pids(), f"Samba processes left after stop: {lab.samba.pids()}"
    return {"names": names, "cases": cases, "before": before, "output": output, "recap": recap,
            "after": {name: files_of(state_dir / "hosts" / name) for name in names}, "truth": truth(state_dir, names)}


@pytest.fixture(scope="module")
def fleet_run(tmp_path_factory):
    return run_fleet(tmp_path_factory.mktemp("msrpc-fleet-safety"))


def _in_folder(path: str, folders: list) -> bool:
    return any(path.rsplit("/", 1)[0].lower() == folder.lower() for folder in folders)


def _stem(path: str) -> str:
    return path.rsplit("/", 1)[1].rsplit(".", 1)[0].upper()


def unconfirmed_changes(fleet: dict) -> list[str]:
    """Each file gone that the scenario does not confirm stale, each file created or changed in a package folder."""
    problems = []
    for name in fleet["names"]:
        before, after, known = fleet["before"][name], fleet["after"][name], fleet["truth"][name]
        for path in sorted(set(before) - set(after)):
            confirmed = path.upper().endswith(".PCK") and _stem(path) in known["stale"]
            if not (_in_folder(path, known["folders"]) and confirmed):
                problems.append(f"{name}: {path} is gone but the scenario does not confirm it stale")
        for path in sorted(p for p in after if _in_folder(p, known["folders"]) and before.get(p) != after[p]):
            problems.append(f"{name}: {path} in a package folder was created or changed")
    return problems


def kept_cases_gone(fleet: dict) -> list[str]:
    """The ActionInProgress=3 .PCK and every .PCK of the two hosts whose WMI does not answer, if gone."""
    cases, before, after = fleet["cases"], fleet["before"], fleet["after"]
    host, package_id = cases["deleting"]
    problems = [f"{host}: {p} (ActionInProgress=3 there, deleted at its origin) is gone"
                for p in before[host] if _stem(p) == package_id.upper() and p not in after[host]]
    for fault in WMI_FAULTS:
        host = cases[fault]
        problems += [f"{host} ({fault}): {p} is gone" for p in before[host]
                     if p.upper().endswith(".PCK") and _in_folder(p, fleet["truth"][host]["folders"])
                     and p not in after[host]]
    return problems


def test_every_host_was_reached_and_only_the_wmi_down_one_failed_saying_why(fleet_run):
    recap, down = fleet_run["recap"], fleet_run["cases"]["wmi_down"]
    assert set(fleet_run["names"]) <= set(recap), fleet_run["output"][-3000:]
    assert not {h: c for h, c in recap.items() if c.get("unreachable")}, fleet_run["output"][-3000:]
    # Without WMI the console cannot be checked, so a hotfix that is due waits for allow_console_open (README).
    failed = {h for h, c in recap.items() if c.get("failed")}
    assert failed <= {down}, fleet_run["output"][-3000:]
    if failed:
        assert f"{down}: cannot tell whether the SMS Administrator console" in fleet_run["output"]


def test_only_stale_confirmed_pck_files_are_gone(fleet_run):
    problems = unconfirmed_changes(fleet_run)
    assert problems == [], "\n".join(problems)


def test_the_deleting_and_unknown_cases_keep_their_files(fleet_run):
    cases, truth_of = fleet_run["cases"], fleet_run["truth"]
    host, package_id = cases["deleting"]
    assert any(_stem(p) == package_id.upper() for p in fleet_run["before"][host]), f"{host}: no {package_id}.PCK built"
    assert truth_of[host]["stale"], f"{host}: no other confirmed leftover there"
    for fault in WMI_FAULTS:
        known = truth_of[cases[fault]]
        assert not known["answers"] and not known["stale"], (fault, known)
        assert any(_in_folder(p, known["folders"]) and p.upper().endswith(".PCK")
                   for p in fleet_run["before"][cases[fault]]), f"{cases[fault]}: no .PCK built"
    assert kept_cases_gone(fleet_run) == []


def test_the_stale_confirmed_leftovers_of_healthy_children_are_removed(fleet_run):
    """It did act: otherwise the tests above would pass on a controller that removes nothing."""
    kept, removed = [], 0
    for name in fleet_run["names"]:
        known, after = fleet_run["truth"][name], fleet_run["after"][name]
        for path in fleet_run["before"][name]:
            if _in_folder(path, known["folders"]) and path.upper().endswith(".PCK") and _stem(path) in known["stale"]:
                if path in after:
                    kept.append(f"{name}: {path}")
                else:
                    removed += 1
    assert removed > 0 and kept == [], (removed, kept, fleet_run["output"][-3000:])


def test_the_checks_catch_a_controller_whose_plan_removes_everything(tmp_path):
    """The same fleet under a plan that ignores the classification: the transport still refuses the active and
    ActionInProgress=3 files, and since issue 19 (defect 3) every file on the two hosts whose WMI does not answer
    (it re-reads the active list on every host it removes on, and refuses when it cannot); nothing re-checks a
    package still present at its origin: the checks above must name that one."""
    fleet = run_fleet(tmp_path, broken=True)
    problems = unconfirmed_changes(fleet)
    for fault in WMI_FAULTS:
        host = fleet["cases"][fault]
        assert not any(line.startswith(f"{host}: ") for line in problems), (fault, problems)
    # what the transport's own re-check held back: the deletion in progress and both WMI-less hosts' files
    assert not kept_cases_gone(fleet), kept_cases_gone(fleet)
    assert problems, fleet["output"][-3000:]          # the origin case: the broken plan is still caught
