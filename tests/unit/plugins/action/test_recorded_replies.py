"""The action plugins against what the lab really answered (recorded_replies.json, written by
record_replies.py from runs of remediate.yml on the demo hierarchy).

The probe answers of every demo host are read by site_facts as the scenario describes the sites, and the
remediate action, replayed with a host's recorded answers, makes the calls the recorded run made, in the same
order, with the same items. When a script, the lab or what a plugin sends changes, record again."""

from __future__ import annotations

import json

import pytest

from probe_filter import ROOT
from recorded_replies import RECORDING_FILE, calls, powershell_reply, recorded_reply, recordings
from smslab.scenario import build_state_dir

SCENARIOS = ROOT / "lab" / "scenarios"
STALE = ("the controller no longer makes the recorded call: if that is intended, record again with "
         "`.venv/bin/python tests/unit/plugins/action/record_replies.py`")

PWSH = "ansible.windows.win_powershell"
# demo.yml: site -> (service pack, platform, affected by Q244405)
DEMO_SITES = {"sms600": ("SP2", "i386", False), "sms610": ("SP1", "i386", True),
              "sms620": ("SP1", "alpha", True), "sms630": ("SP1", "i386", False)}


def site_facts_of(make_action, reply, host):
    action = make_action("site_facts", {}, {PWSH: [reply]})
    return action.run(task_vars={"inventory_hostname": host})


def test_the_recording_is_the_generator_output():
    text = RECORDING_FILE.read_text(encoding="utf-8")
    assert json.loads(text)["generator"] == "tests/unit/plugins/action/record_replies.py"
    assert set(recordings()) >= {"demo_check", "demo_run", "quarantine_run"}
    # in --check only the probes went out (remediate predicts from the facts of the same run)
    assert {(c["module"], c["script"].split()[1]) for c in recordings()["demo_check"]["calls"]} == {
        (PWSH, "sms.remediation:probe")}


def test_powershell_reply_has_every_key_of_a_recorded_reply():
    recorded = recorded_reply("demo_run", "sms610", "probe")
    assert set(powershell_reply({"x": 1})) == set(recorded)
    assert powershell_reply({"x": 1}, changed=True)["result"] == {"x": 1}


@pytest.mark.parametrize("host", sorted(DEMO_SITES))
def test_site_facts_reads_each_recorded_probe_as_the_scenario_describes_the_site(make_action, host):
    result = site_facts_of(make_action, recorded_reply("demo_run", host, "probe"), host)
    assert not result.get("failed"), result.get("msg")
    site = result["ansible_facts"]["sms_site"]
    service_pack, platform, affected = DEMO_SITES[host]
    assert site["site_code"] == host[3:]
    assert (site["service_pack"], site["platform"], bool(site["q244405"]["affected"])) == (
        service_pack, platform, affected)


def origin_sites(make_action, recording):
    """site code -> site facts of the central site 600, from its recorded probe (the run's origin index)."""
    facts = site_facts_of(make_action, recorded_reply(recording, "sms600", "probe"), "sms600")
    return {"600": facts["ansible_facts"]["sms_site"]}


def sent(module_args: dict) -> dict:
    """What a call sent, as the recording keeps it: the module arguments without the script text."""
    return {key: value for key, value in module_args.items() if key != "script" and not key.startswith("_ansible_")}


def replay(make_action, recording, host, args, prepare=None):
    """Run remediate on ``host`` with its recorded probe as the cached fact and its recorded answers in order;
    the calls it made must be the recorded ones: same modules, scripts and arguments, in the same order."""
    recorded = [call for call in calls(recording, host) if call["plugin"] == "remediate"]
    action = make_action("remediate", dict(args, origin_sites=origin_sites(make_action, recording)),
                         {PWSH: [call["reply"] for call in recorded]})
    if prepare:
        prepare(action)
    probe = recorded_reply(recording, host, "probe")["result"]
    result = action.run(task_vars={"inventory_hostname": host, "ansible_facts": {"sms_probe": probe}})
    made = action._execute_module.calls
    assert [(name, module_args.get("script", "").splitlines()[0]) for name, module_args in made] == [
        (call["module"], call["script"]) for call in recorded], STALE
    for (_name, module_args), call in zip(made, recorded):
        assert sent(module_args) == call["module_args"], f"{call['script']}: {STALE}"
    assert bool(result.get("failed")) == (recordings()[recording]["recap"][host]["failed"] > 0), result.get("msg")
    return result


@pytest.mark.parametrize("host", ["sms610", "sms620", "sms630"])
def test_remediate_replayed_quarantines_as_recorded(make_action, host):
    extra = recordings()["quarantine_run"]["extra_vars"]
    result = replay(make_action, "quarantine_run", host, {
        "policy": extra["q244405_policy"], "workaround_state": extra["q244405_workaround_state"],
        "quarantine_dir": extra["q244405_quarantine_dir"]})
    assert result["ansible_facts"]["q244405_outcome"]["workaround"]["quarantined"]


@pytest.mark.parametrize("host", ["sms610", "sms620"])
def test_remediate_replayed_removes_and_hotfixes_as_recorded(make_action, tmp_path, host):
    """The SP1 children in the real run (610 on I386, 620 on Alpha): removal, hotfix transaction (the lab's
    "replaced"), its verification probe. The hotfix files are the demo scenario's, built again (the build is
    deterministic: same sha256 as recorded); each host gets its platform's."""
    build_state_dir(SCENARIOS / "demo.yml", tmp_path / "state")
    files = {platform: str(tmp_path / "state" / "hotfix" / platform / "Distmgr.dll") for platform in ("i386", "alpha")}
    platform = DEMO_SITES[host][1]
    staged = []

    def prepare(action):
        action._find_needle = lambda kind, path: path
        action.stage = lambda source, dest_dir, task_vars: staged.append((source, dest_dir)) or {"changed": True}

    result = replay(make_action, "demo_run", host, {"policy": "auto", "hotfix_files": files}, prepare)
    assert staged == [(files[platform], f"C:\\SMS\\hotfix\\Q244405\\{platform}")]
    outcome = result["ansible_facts"]["q244405_outcome"]
    assert outcome["workaround"]["removed"]
    assert (outcome["hotfix"]["outcome"], outcome["hotfix"]["fixed_by"]) == ("replaced", "hotfix")
    assert result["ansible_facts"]["sms_site"]["q244405"]["affected"] is False
