"""Real ``ansible-playbook`` runs against the lab: the generic ansible.windows handlers and faults.

Each test is one play (one ansible process) with several tasks, `ignore_errors` where a task is
expected to fail, so the suite stays fast.
"""

from __future__ import annotations

import hashlib
import json

from smslab.handlers import ScriptError, command, script

HOST = "sms01"
SELFTEST_SCRIPT = "# sms.remediation:lab_selftest v1\n[CmdletBinding(SupportsShouldProcess)]\nparam([string]$Value)\n"


@script("lab_selftest")
def _selftest_script(ctx, parameters):
    """Writes a registry value unless in check mode; 'boom' raises a terminating error."""
    if parameters.get("Value") == "boom":
        raise ScriptError("selftest exploded")
    if not ctx.check_mode:
        ctx.state.set_registry_value("HKLM\\SOFTWARE\\LabTest", "Value", parameters.get("Value"))
    return {"value": parameters.get("Value"), "check_mode": ctx.check_mode}, True


@command("labtool.exe")
def _labtool(ctx, argv):
    if argv[1:] == ["/fail"]:
        return 5, "", "labtool failed"
    return 0, "labtool ran with " + " ".join(argv[1:]) + "\r\n", ""


def task(module: str, check_mode: bool = False, may_fail: bool = False, **args) -> dict:
    entry = {"name": module, module: args}
    if check_mode:
        entry["check_mode"] = True
    if may_fail:
        entry["ignore_errors"] = True
    return entry


def powershell(value: str, script_text: str = SELFTEST_SCRIPT, **options) -> dict:
    return task("ansible.windows.win_powershell", script=script_text, parameters={"Value": value}, **options)


def host_file(state_dir, *parts) -> bytes:
    return (state_dir / "hosts" / HOST / "fs" / "C").joinpath(*parts).read_bytes()


def host_json(state_dir) -> dict:
    return json.loads((state_dir / "hosts" / HOST / "host.json").read_text())


# ---- connection, facts, unknown modules -------------------------------------------------------
def test_ping_facts_and_an_unknown_module(playbook, lab):
    run = playbook([
        task("ansible.windows.win_ping"),
        task("ansible.windows.setup"),
        task("ansible.windows.win_user", may_fail=True, name="someone"),
    ])
    ping, facts, user = run.results()
    assert run.rc == 0, run.output
    assert ping["ping"] == "pong"
    assert facts["ansible_facts"]["ansible_hostname"] == "SMS01"
    assert facts["ansible_facts"]["ansible_os_family"] == "Windows"
    assert facts["ansible_facts"]["ansible_architecture"] == "x86"
    assert user["failed"] is True and user["msg"] == "lab: module ansible.windows.win_user is not simulated"
    assert lab.stats(HOST)["by_name"] == {"ansible.windows.win_ping": 1, "ansible.windows.setup": 1,
                                          "ansible.windows.win_user": 1}


# ---- files --------------------------------------------------------------------------------------
def test_stat_file_and_fetch(playbook, state_dir, tmp_path):
    log = host_file(state_dir, "SMS", "Logs", "Distmgr.log")
    run = playbook([
        task("ansible.windows.win_stat", path="C:/sms/LOGS/distmgr.log", checksum_algorithm="sha256"),
        task("ansible.windows.win_stat", path="C:/nothing/here.txt"),
        task("ansible.windows.win_file", path="C:\\SMS\\Quarantine", state="directory"),
        task("ansible.builtin.fetch", src="C:\\SMS\\Logs\\Distmgr.log", dest=f"{tmp_path}/got/", flat=True),
        task("ansible.windows.win_file", may_fail=True, path="C:\\SMS\\Logs", state="file"),
    ])
    stat, missing, directory, fetched, not_a_file = run.results()
    assert run.rc == 0, run.output
    assert stat["stat"]["exists"] and stat["stat"]["isreg"] and not stat["stat"]["islnk"]
    assert stat["stat"]["checksum"] == hashlib.sha256(log).hexdigest()
    assert (stat["stat"]["path"], stat["stat"]["size"]) == ("C:\\SMS\\Logs\\Distmgr.log", len(log))
    assert missing["stat"] == {"exists": False}
    assert directory["changed"] and (state_dir / "hosts" / HOST / "fs" / "C" / "SMS" / "Quarantine").is_dir()
    assert fetched["changed"] and (tmp_path / "got" / "Distmgr.log").read_bytes() == log
    assert not_a_file["msg"] == "path C:\\SMS\\Logs is not a file"


def test_check_mode_leaves_the_hosts_folder_byte_identical(playbook, hosts_digest, tmp_path):
    source = tmp_path / "readme.txt"
    source.write_bytes(b"new file\r\n")
    before = hosts_digest()
    run = playbook([
        task("ansible.windows.win_file", check_mode=True, path="C:\\SMS\\New", state="directory"),
        task("ansible.windows.win_file", check_mode=True, path="C:\\SMS\\Logs\\Distmgr.log", state="absent"),
        task("ansible.windows.win_copy", check_mode=True, src=str(source), dest="C:\\SMS\\Logs\\readme.txt"),
        task("ansible.windows.win_service", check_mode=True, name="SMS_EXECUTIVE", state="stopped"),
        powershell("v1", check_mode=True),
        powershell("v1", script_text="# sms.remediation:lab_selftest v1\n", check_mode=True),
        task("ansible.windows.win_command", check_mode=True, cmd="labtool.exe /q"),
    ])
    results = run.results()
    assert run.rc == 0, run.output
    assert [result["changed"] for result in results[:6]] == [True] * 6
    assert results[4]["result"] == {"value": "v1", "check_mode": True}
    assert results[5]["msg"] == "skipped, running in check mode"
    assert results[6]["skipped"] is True
    assert hosts_digest() == before, "check mode (mkdtemp and cleanup included) must not touch hosts/"


def test_win_copy_single_file_folder_and_idempotence(playbook, state_dir, tmp_path):
    source = tmp_path / "readme.txt"
    source.write_bytes(b"hotfix readme\r\n")
    (tmp_path / "payload" / "i386").mkdir(parents=True)
    (tmp_path / "payload" / "top.txt").write_bytes(b"top")
    (tmp_path / "payload" / "i386" / "Distmgr.dll").write_bytes(b"MZ new")
    copy_file = task("ansible.windows.win_copy", src=str(source), dest="C:\\SMS\\Logs\\readme.txt")
    run = playbook([
        copy_file,
        copy_file,
        task("ansible.windows.win_copy", src=f"{tmp_path / 'payload'}/", dest="C:\\SMS\\Staging\\"),
    ])
    first, second, folder = run.results()
    assert run.rc == 0, run.output
    assert (first["changed"], second["changed"], folder["changed"]) == (True, False, True)
    assert host_file(state_dir, "SMS", "Logs", "readme.txt") == b"hotfix readme\r\n"
    assert host_file(state_dir, "SMS", "Staging", "i386", "Distmgr.dll") == b"MZ new"
    assert host_file(state_dir, "SMS", "Staging", "top.txt") == b"top"
    assert not (state_dir / "hosts" / HOST / "fs" / "C" / "Windows").exists(), "tmp dirs must be cleaned up"


# ---- services, programs, scripts -----------------------------------------------------------------
def test_services_and_the_wont_stop_fault(playbook, lab, state_dir):
    lab.state(HOST).data["faults"]["service_wont_stop"] = ["SMS_SITE_BACKUP"]
    run = playbook([
        task("ansible.windows.win_service", name="sms_executive", state="stopped"),
        task("ansible.windows.win_service", may_fail=True, name="SMS_SITE_BACKUP", state="stopped"),
    ])
    stopped, stuck = run.results()
    assert run.rc == 0, run.output
    assert stopped["changed"] and stopped["state"] == "stopped" and stopped["name"] == "SMS_EXECUTIVE"
    assert stuck["failed"] and "service_wont_stop" in stuck["msg"]
    services = host_json(state_dir)["services"]
    assert (services["SMS_EXECUTIVE"]["state"], services["SMS_SITE_BACKUP"]["state"]) == ("stopped", "running")


def test_programs_dispatch_on_the_executable(playbook, state_dir):
    run = playbook([
        task("ansible.windows.win_command", cmd='"C:\\Program Files\\LabTool.exe" /q /z'),
        task("ansible.windows.win_command", may_fail=True, cmd="labtool.exe /fail"),
        task("ansible.windows.win_command", may_fail=True, cmd="notepad.exe x.txt"),
        task("ansible.windows.win_package", path="C:\\SMS\\LabTool.exe", arguments="/install",
             creates_path="C:\\SMS\\never-there.txt"),
    ])
    ran, failing, unknown, package = run.results()
    assert run.rc == 0, run.output
    assert ran["changed"] and ran["rc"] == 0 and ran["stdout"] == "labtool ran with /q /z\r\n"
    assert failing["failed"] and failing["rc"] == 5 and failing["stderr"] == "labtool failed"
    assert unknown["failed"] and unknown["msg"] == "lab: program notepad.exe is not simulated"
    assert package["changed"] and package["rc"] == 0


def test_win_powershell_scripts(playbook, state_dir):
    run = playbook([
        powershell("v2"),
        powershell("x", script_text="# sms.remediation:no_such_script v1\n", may_fail=True),
        powershell("boom", may_fail=True),
    ])
    ran, unknown, broken = run.results()
    assert run.rc == 0, run.output
    assert ran["changed"] and ran["result"] == {"value": "v2", "check_mode": False}
    assert host_json(state_dir)["registry"]["HKLM\\SOFTWARE\\LabTest"] == {"Value": "v2"}
    assert unknown["failed"] and unknown["msg"] == "lab: script not simulated: 'no_such_script'"
    assert broken["failed"] and broken["error"][0]["exception"]["message"] == "selftest exploded"
    logged = (state_dir / "requests" / f"{HOST}.jsonl").read_text()
    assert '"script": "lab_selftest"' in logged


# ---- faults on the link ---------------------------------------------------------------------------
def test_link_faults_on_three_hosts(playbook, lab, state_dir, tmp_path):
    """sms02 fails copies, sms03 drops the link after the script ran, sms04 is unreachable."""
    lab.state("sms02").data["faults"]["copy_fails"] = True
    lab.state("sms03").data["faults"]["drop_connection_after"] = ["lab_selftest"]
    lab.state("sms04").data["faults"]["unreachable"] = True
    source = tmp_path / "x.txt"
    source.write_bytes(b"x")
    run = playbook([
        task("ansible.windows.win_copy", may_fail=True, src=str(source), dest="C:\\SMS\\x.txt"),
        powershell("dropped", may_fail=True),
    ], hosts="sms02:sms03:sms04")

    copy_failed, script_ran = run.results("sms02")
    assert copy_failed["failed"] and "lab fault: copy failed" in copy_failed["msg"]
    assert not script_ran.get("failed")

    copied, dropped = run.results("sms03")
    assert copied["changed"] and not copied.get("failed")
    assert dropped["failed"] and "Connection aborted" in dropped["msg"]
    registry = json.loads((state_dir / "hosts" / "sms03" / "host.json").read_text())["registry"]
    assert registry["HKLM\\SOFTWARE\\LabTest"] == {"Value": "dropped"}, "the dropped script still ran and saved"

    unreachable, = run.results("sms04")
    assert unreachable["unreachable"] is True and run.rc == 4
