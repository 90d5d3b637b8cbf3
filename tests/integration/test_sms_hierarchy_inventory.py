"""The sms_hierarchy inventory plugin against the running lab (issue 21): ``ansible-inventory --graph`` with the
demo configs (lab/inventory/demo-*.sms_hierarchy.yml) prints the demo hierarchy; the plugin's inventory has the
hosts, groups and parents of the hand-written one the lab writes, and remediate.yml runs the same over both.

WinRM: the lab's WinRM server answers sms_hierarchy.ps1 through its twin (a simulation of PowerShell and WMI).
msrpc: the lab's DCOM/WMI responder (a simulation) answers the transport's WMI client; the sites' SMB is real Samba,
which only the remediate.yml runs use. The msrpc tests need root (port 135) and Samba (``require_samba``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lab_harness import ROOT, SCENARIOS, VENV_BIN, ansible_env, parse_recap
from smslab.msrpc_lab import MsrpcLab
from smslab.samba.testing import require_samba
from smslab.scenario import build_state_dir
from smslab.state import HostState

sys.path.insert(0, str(ROOT / "tests" / "output" / ".collection_root"))     # the controller code, for one test
DEMO_WINRM = ROOT / "lab" / "inventory" / "demo-winrm.sms_hierarchy.yml"
DEMO_MSRPC = ROOT / "lab" / "inventory" / "demo-msrpc.sms_hierarchy.yml"
DEMO_MSRPC_VARS = ROOT / "lab" / "inventory" / "demo-msrpc.yml"
HOSTS = ["sms600", "sms610", "sms620", "sms630"]
GRAPH = """  |--@sms_children_of_600:
  |  |--sms610
  |  |--sms620
  |  |--sms630"""


def inventory_cli(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(VENV_BIN / "ansible-inventory"), *args], capture_output=True, text=True, env=env,
                          timeout=300, cwd=ROOT, check=False)


def plain(value):
    """A --list value without its marks: data read from a server is not trusted as a template (shown wrapped)."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


def listing(env: dict, *sources: Path) -> dict:
    arguments = [part for source in sources for part in ("-i", str(source))]
    done = inventory_cli(env, *arguments, "--list")
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def parents_from_the_hosts(state_dir: Path) -> dict:
    """What each site server's own registry says its parent is (what the probe reads)."""
    key = "HKLM\\SOFTWARE\\Microsoft\\SMS\\Identification"
    return {name: HostState.load(state_dir / "hosts" / name).data["registry"][key]["Parent Site Code"] or None
            for name in HOSTS}


def assert_same_fleet(by_plugin: dict, by_hand: dict, state_dir: Path) -> None:
    hostvars = plain(by_plugin["_meta"]["hostvars"])
    assert sorted(hostvars) == sorted(by_hand["_meta"]["hostvars"]) == HOSTS
    assert sorted(by_plugin["sms_site_servers"]["hosts"]) == sorted(by_hand["sms_site_servers"]["hosts"]) == HOSTS
    assert {h: v["sms_parent_site_code"] for h, v in hostvars.items()} == parents_from_the_hosts(state_dir)
    assert sorted(by_plugin["sms_children_of_600"]["hosts"]) == HOSTS[1:]
    for host, hand_vars in by_hand["_meta"]["hostvars"].items():      # how each host is reached: the same
        assert {k: hostvars[host].get(k) for k in hand_vars} == hand_vars, host


def playbook(env: dict, sources: list[Path], state_dir: Path, report_dir: Path, *args: str) -> tuple[dict, list]:
    variables = {"q244405_report_dir": str(report_dir), "q244405_hotfix_files": {
        platform: str(state_dir / "hotfix" / platform / "Distmgr.dll") for platform in ("i386", "alpha")}}
    command = [str(VENV_BIN / "ansible-playbook"), *[p for s in sources for p in ("-i", str(s))],
               str(ROOT / "playbooks" / "remediate.yml"), "-e", json.dumps(variables), *args]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900, cwd=ROOT, check=False)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    [report] = sorted(report_dir.glob("q244405-*.json"))
    records = json.loads(report.read_text(encoding="utf-8"))["hosts"]
    outcome = [(r["host"], r.get("status"), sorted(str((item.get("package_id"), item["action"], item.get("evidence_level")))
                                                   for item in r.get("leftovers") or []),
                (r.get("hotfix") or {}).get("state"), (r.get("hotfix") or {}).get("would_apply")) for r in records]
    return parse_recap(done.stdout), sorted(outcome, key=str)


# ---- WinRM --------------------------------------------------------------------------------------------------
@pytest.fixture
def winrm_lab(lab_factory):
    lab = lab_factory(SCENARIOS / "demo.yml")
    lab.env["SMS_LAB_STATE"] = str(lab.state_dir)
    return lab


def test_graph_prints_the_demo_hierarchy_over_winrm(winrm_lab):
    done = inventory_cli(winrm_lab.env, "-i", str(DEMO_WINRM), "--graph")
    assert done.returncode == 0, done.stderr
    assert GRAPH in done.stdout
    for host in HOSTS:
        assert f"  |--@sms_site_{host[3:]}:\n  |  |--{host}\n" in done.stdout
    assert "  |--@sms_secondary:\n" in done.stdout and "[WARNING]" not in done.stderr


def test_plugin_fleet_is_the_hand_written_one_and_remediate_runs_the_same_over_winrm(winrm_lab, tmp_path):
    by_plugin = listing(winrm_lab.env, DEMO_WINRM)
    by_hand = listing(winrm_lab.env, winrm_lab.inventory)
    assert_same_fleet(by_plugin, by_hand, winrm_lab.state_dir)
    assert plain(by_plugin["_meta"]["hostvars"]["sms600"]["sms_fixed_by_build"]) is True
    hand = playbook(winrm_lab.env, [winrm_lab.inventory], winrm_lab.state_dir, tmp_path / "hand", "--check")
    plugin = playbook(winrm_lab.env, [DEMO_WINRM], winrm_lab.state_dir, tmp_path / "plugin", "--check")
    assert plugin == hand
    assert any(leftovers for _host, _status, leftovers, _state, _would in plugin[1])


def test_central_without_sms_provider_fails_with_strict_and_warns_without(winrm_lab, tmp_path):
    state = HostState.load(winrm_lab.state_dir / "hosts" / "sms600")
    state.faults["wmi_unavailable"] = True
    state.save()
    winrm_lab.server.reload_host("sms600")
    done = inventory_cli(winrm_lab.env, "-i", str(DEMO_WINRM), "--graph")          # strict: true
    assert "sms_hierarchy: the central site server could not be read: sms600: hierarchy: " \
           "WMI namespace root\\SMS unavailable (0x8004100e)" in done.stderr, done.stderr
    assert "sms610" not in done.stdout
    lenient = tmp_path / "lenient.sms_hierarchy.yml"
    lenient.write_text(DEMO_WINRM.read_text(encoding="utf-8").replace("strict: true", "strict: false"), encoding="utf-8")
    done = inventory_cli(winrm_lab.env, "-i", str(lenient), "--graph")
    assert "(strict is off: no hosts from this source)" in done.stderr and "sms610" not in done.stdout


# ---- msrpc --------------------------------------------------------------------------------------------------
@pytest.fixture
def msrpc_lab(tmp_path):
    require_samba()
    state_dir = tmp_path / "state"
    build_state_dir(SCENARIOS / "demo.yml", state_dir)
    lab = MsrpcLab(state_dir, extra_vars={"q244405_msrpc_cache_dir": str(tmp_path / "msrpc-cache")}).start()
    try:
        inventory = lab.write_inventory(state_dir / "inventory-msrpc.yml")   # where demo-msrpc.sms_hierarchy.yml reads
        env = ansible_env(tmp_path)
        env["SMS_LAB_STATE"] = str(state_dir)
        yield state_dir, inventory, env
    finally:
        lab.stop()


def test_graph_prints_the_demo_hierarchy_over_msrpc_and_remediate_runs_the_same(msrpc_lab, tmp_path):
    state_dir, inventory, env = msrpc_lab
    done = inventory_cli(env, "-i", str(DEMO_MSRPC), "--graph")
    assert done.returncode == 0, done.stderr
    assert GRAPH in done.stdout and "  |--@sms_site_620:\n  |  |--sms620\n" in done.stdout
    by_plugin = listing(env, DEMO_MSRPC, DEMO_MSRPC_VARS)
    by_hand = listing(env, inventory, DEMO_MSRPC_VARS)
    assert_same_fleet(by_plugin, by_hand, state_dir)
    hand = playbook(env, [inventory, DEMO_MSRPC_VARS], state_dir, tmp_path / "hand", "--check")
    plugin = playbook(env, [DEMO_MSRPC, DEMO_MSRPC_VARS], state_dir, tmp_path / "plugin", "--check")
    assert plugin == hand


def test_the_winrm_read_with_a_site_code_and_what_the_lab_refuses(winrm_lab):
    from ansible_collections.sms.remediation.plugins.plugin_utils import _hierarchy_source as source
    from ansible_collections.sms.remediation.plugins.plugin_utils._scripts import script_text
    central = winrm_lab.server.inventory()["all"]["children"]["sms_site_servers"]["hosts"]["sms600"]
    settings = source.CentralSettings(host="sms600", address=central["ansible_host"], port=central["ansible_port"],
                                      scheme="http", path=central["ansible_winrm_path"], winrm_transport="basic",
                                      user=central["ansible_user"], password=central["ansible_password"])
    answer = source.read_winrm(settings, "600")
    assert answer["provider_location"] is None and answer["site_code"] == "600"
    assert [row["SiteCode"] for row in answer["sites"]] == ["600", "610", "620", "630"]
    with pytest.raises(source.HierarchySourceError, match="WMI namespace root\\\\SMS\\\\site_6X0 unavailable"):
        source.read_winrm(settings, "6X0")                       # another site's code: no such namespace here
    # the lab binds the arguments as PowerShell does: an unknown parameter fails the script with its message
    bogus = "& {\n" + script_text("sms_hierarchy") + "\n} -Bogus:'it''s'\n"
    rc, _stdout, stderr = source._run_ps(settings, bogus)
    assert rc == 1 and "A parameter cannot be found that matches parameter name 'Bogus'" in stderr
    rc, _stdout, stderr = source._run_ps(settings, "& {\n# sms.remediation:nothing v1\nparam()\n} \n")
    assert rc == 1 and "standalone script not simulated: 'nothing'" in stderr


def test_demo_from_hierarchy_builds_its_fleet_with_the_plugin(tmp_path):
    # bash scripts/demo.sh --from-hierarchy, as a person runs it (WinRM): the graph first, then the three runs over
    # the plugin's fleet; the real run's report draws the tree with the children under 600
    state_dir = tmp_path / "state"
    done = subprocess.run(["bash", str(ROOT / "scripts" / "demo.sh"), "--from-hierarchy"], capture_output=True,
                          text=True, timeout=900, cwd=ROOT, check=False,
                          env={**ansible_env(tmp_path), "SMS_LAB_STATE": str(state_dir)})
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-2000:]
    assert "==== ansible-inventory -i lab/inventory/demo-winrm.sms_hierarchy.yml --graph" in done.stdout
    assert GRAPH in done.stdout
    last = done.stdout.rsplit("PLAY RECAP", 1)[1]
    assert all(counts["changed"] == 0 and counts["failed"] == 0 for counts in parse_recap(last).values())
    first_run = sorted((state_dir / "reports").glob("q244405-run-*.md"))[0].read_text(encoding="utf-8")
    tree = first_run[first_run.index("## Hierarchy"):first_run.index("## Sites")]
    assert tree.startswith("## Hierarchy\n\n- **sms600** (site 600): clean")
    assert "\n  - **sms610** (site 610): hotfix applied" in tree and "\n  - **sms630** (site 630): leftovers removed" in tree
