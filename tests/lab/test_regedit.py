"""The lab's ansible.windows.win_regedit (and win_service state=restarted), through real ansible-playbook runs."""

from __future__ import annotations

import json

HOST = "sms01"
TRACING = "HKLM\\SOFTWARE\\Microsoft\\SMS\\Tracing\\SMS_DISTRIBUTION_MANAGER"
# Another spelling of the same key, in the PowerShell-drive form the module wants.
TRACING_PS = "HKLM:\\Software\\microsoft\\sms\\TRACING\\sms_distribution_manager"


def regedit(check_mode: bool = False, diff: bool = True, **args) -> dict:
    entry = {"name": "regedit", "ansible.windows.win_regedit": args, "diff": diff}
    if check_mode:
        entry["check_mode"] = True
    return entry


def host_json_text(state_dir) -> str:
    return (state_dir / "hosts" / HOST / "host.json").read_text(encoding="utf-8")


def registry(state_dir) -> dict:
    return json.loads(host_json_text(state_dir))["registry"]


def seed_tracing(lab, state_dir) -> None:
    state = lab.state(HOST)
    state.set_registry_value(TRACING, "Enabled", 0)
    state.set_registry_value(TRACING, "MaxFileSize", 1048576)
    state.save()


def test_check_mode_shows_the_diff_and_leaves_host_json_identical(playbook, lab, state_dir, hosts_digest):
    seed_tracing(lab, state_dir)
    before_text, before_digest = host_json_text(state_dir), hosts_digest()
    run = playbook([
        regedit(check_mode=True, path=TRACING_PS, name="enabled", data=1, type="dword"),
        regedit(check_mode=True, path="HKLM:\\SOFTWARE\\Microsoft\\SMS\\Tracing\\SMS_NEW", name="Enabled",
                data=1, type="dword"),
        regedit(check_mode=True, path=TRACING_PS, name="MaxFileSize", state="absent"),
        {"name": "restart", "ansible.windows.win_service": {"name": "sms_executive", "state": "restarted"},
         "check_mode": True},
    ])
    assert run.rc == 0, run.output
    changed, new_key, absent, restart = run.results()
    assert (changed["changed"], changed["data_changed"], changed["data_type_changed"]) == (True, True, False)
    assert changed["diff"] == {"before": {TRACING_PS: {"enabled": {"type": "DWord", "value": "0x00000000"}}},
                               "after": {TRACING_PS: {"enabled": {"type": "DWord", "value": "0x00000001"}}}}
    assert new_key["changed"] is True and new_key["diff"]["before"] == {}
    assert absent["changed"] is True and absent["diff"]["after"] == {TRACING_PS: {}}
    assert restart["changed"] is True
    assert host_json_text(state_dir) == before_text
    assert hosts_digest() == before_digest


def test_set_keeps_the_stored_spelling_and_is_idempotent(playbook, lab, state_dir):
    seed_tracing(lab, state_dir)
    run = playbook([
        regedit(path=TRACING_PS, name="ENABLED", data=1, type="dword"),
        regedit(path=TRACING_PS, name="Enabled", data="1", type="dword"),
        regedit(path=TRACING_PS, name="MaxFileSize", data="1048576", type="string"),
        regedit(path="HKLM:\\SOFTWARE\\LabTest\\New", name="Text", data="hello"),
        regedit(path="HKLM:\\SOFTWARE\\LabTest\\New", name="Text", data="hello"),
        regedit(path="HKLM:\\SOFTWARE\\Microsoft\\SMS\\Tracing", diff=False),
        dict(regedit(path=TRACING, name="Enabled", data=1, type="dword"), ignore_errors=True),
    ])
    first, second, retyped, created, again, parent, bad_path = run.results()
    assert (first["changed"], first["data_changed"]) == (True, True)
    assert (second["changed"], second["data_changed"], second["data_type_changed"]) == (False, False, False)
    assert second["diff"]["before"] == second["diff"]["after"]
    assert (retyped["changed"], retyped["data_type_changed"], retyped["data_changed"]) == (True, True, True)
    assert created["changed"] is True and again["changed"] is False
    assert parent["changed"] is False, "a parent of a stored key exists"
    assert bad_path.get("failed") and "not a valid powershell path" in bad_path["msg"]
    values = registry(state_dir)[TRACING]
    assert values == {"Enabled": 1, "MaxFileSize": "1048576"}
    assert registry(state_dir)["HKLM\\SOFTWARE\\LabTest\\New"] == {"Text": "hello"}


def test_absent_value_and_key(playbook, lab, state_dir):
    seed_tracing(lab, state_dir)
    lab.state(HOST).set_registry_value(TRACING + "\\Sub", "X", 1)
    lab.state(HOST).save()
    run = playbook([
        regedit(path=TRACING_PS, name="maxfilesize", state="absent"),
        regedit(path=TRACING_PS, name="maxfilesize", state="absent"),
        regedit(path=TRACING_PS, state="absent"),
        regedit(path=TRACING_PS, state="absent"),
    ])
    gone_value, again, gone_key, again_key = run.results()
    assert (gone_value["changed"], again["changed"], gone_key["changed"], again_key["changed"]) == (True, False, True, False)
    assert gone_value["diff"]["before"] == {TRACING_PS: {"maxfilesize": {"type": "DWord", "value": "0x00100000"}}}
    assert not any(k.lower().startswith(TRACING.lower()) for k in registry(state_dir))


def test_restarted_service_runs_and_reports_changed(playbook, lab, state_dir):
    state = lab.state(HOST)
    state.services["SMS_EXECUTIVE"]["state"] = "stopped"
    state.save()
    run = playbook([{"name": "restart", "ansible.windows.win_service": {"name": "SMS_EXECUTIVE", "state": "restarted"}}])
    assert run.rc == 0, run.output
    assert run.results()[0]["changed"] is True
    assert json.loads(host_json_text(state_dir))["services"]["SMS_EXECUTIVE"]["state"] == "running"
