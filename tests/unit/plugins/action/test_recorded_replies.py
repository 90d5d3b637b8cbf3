"""The action plugins against what the lab really answered (recorded_replies.json, written by
record_replies.py from runs of remediate.yml on the demo hierarchy).

The probe answers of every demo host are read by site_facts as the scenario describes the sites, and the
remediate action, replayed with a host's recorded answers, makes the calls the recorded run made, in the same
order, with the same items. When a script, the lab or what a plugin sends changes, record again."""

from __future__ import annotations

import json

import pytest

from recorded_replies import RECORDING_FILE, calls, powershell_reply, recorded_reply, recordings

PWSH = "ansible.windows.win_powershell"
# demo.yml: site -> (service pack, platform, affected by Q244405)
DEMO_SITES = {"sms600": ("SP2", "i386", False), "sms610": ("SP1", "i386", True),
              "sms620": ("RTM", "alpha", True), "sms630": ("SP1", "i386", False)}


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


@pytest.mark.parametrize("host", ["sms610", "sms620", "sms630"])
def test_remediate_replayed_makes_the_recorded_calls(make_action, host):
    recording = recordings()["quarantine_run"]
    extra = recording["extra_vars"]
    recorded = [call for call in calls("quarantine_run", host) if call["plugin"] == "remediate"]
    args = {"policy": extra["q244405_policy"], "workaround_state": extra["q244405_workaround_state"],
            "quarantine_dir": extra["q244405_quarantine_dir"],
            "origin_sites": origin_sites(make_action, "quarantine_run")}
    action = make_action("remediate", args, {PWSH: [call["reply"] for call in recorded]})
    probe = recorded_reply("quarantine_run", host, "probe")["result"]
    result = action.run(task_vars={"inventory_hostname": host, "ansible_facts": {"sms_probe": probe}})
    made = action._execute_module.calls
    assert [(name, module_args.get("script", "").splitlines()[0]) for name, module_args in made] == [
        (call["module"], call["script"]) for call in recorded]
    for (_name, module_args), call in zip(made, recorded):
        if "compressed_package" in call["script"]:
            assert module_args["parameters"]["Items"] == call["module_args"]["parameters"]["Items"]
            assert module_args["parameters"]["Mode"] == "quarantined"
    assert bool(result.get("failed")) == (recording["recap"][host]["failed"] > 0), result.get("msg")
