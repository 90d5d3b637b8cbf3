"""One inventory, two transports (issue 13 item 4): the demo hierarchy with its central site 600 and the
hotfixed 630 over WinRM (the lab's WinRM server) and the children 610 / 620 over msrpc (Samba, and the lab's
WMI responder). remediate.yml removes the children's leftovers on the origin evidence of 600 across
transports, check mode changes nothing, a second run changes nothing, the report names each host's transport."""

from __future__ import annotations

import json
import os

import pytest
import yaml

from lab_harness import make_lab
from msrpc_harness import folder_digest, probe_parameters, require_samba, transport
from smslab.samba import SambaLab

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: the WMI responder listens on port 135")

MSRPC = ["sms610", "sms620"]


@pytest.fixture
def mixed(tmp_path):
    require_samba()
    from smslab.dcom import WmiResponder, free_loopback_addresses

    lab = make_lab(__import__("lab_harness").SCENARIOS / "demo.yml", tmp_path / "mixed")
    samba = SambaLab(lab.state_dir, MSRPC)
    responder = None
    try:
        samba.start()
        addresses = free_loopback_addresses(MSRPC)
        responder = WmiResponder(lab.state_dir, MSRPC, addresses.__getitem__).start()
        inventory = yaml.safe_load(lab.inventory.read_text(encoding="utf-8"))
        hosts = _hosts(inventory)
        for name in MSRPC:
            variables = hosts[name]
            winrm_only = [k for k in variables
                          if k.startswith("ansible_winrm") or k in ("ansible_port", "ansible_user", "ansible_password")]
            for key in winrm_only:
                del variables[key]
            variables.update(samba.inventory_vars(name), q244405_msrpc_wmi_address=addresses[name],
                             q244405_msrpc_cache_dir=str(tmp_path / "msrpc-cache"))
        lab.inventory.write_text(yaml.safe_dump(inventory), encoding="utf-8")
        lab.samba = samba
        yield lab
    finally:
        if responder is not None:
            responder.stop()
        samba.stop()
        lab.stop()
    assert not samba.pids()


def _hosts(inventory: dict) -> dict:
    found = {}

    def walk(group):
        for name, variables in (group.get("hosts") or {}).items():
            if variables is None:
                variables = group["hosts"][name] = {}
            found[name] = variables
        for child in (group.get("children") or {}).values():
            walk(child or {})
    walk(inventory["all"])
    return found


def pck(lab, host, package_id):
    return [p for p in (lab.hosts_dir / host / "fs").rglob("*.PCK") if p.name.upper().startswith(package_id)]


def logging_on(lab, name):
    host = transport(lab.samba, name, lab.tmp)
    try:
        return host.probe(probe_parameters())["distmgr_log"]["logging_enabled"]
    finally:
        host.close()


def test_one_run_over_both_transports(mixed):
    lab = mixed
    options = {"q244405_policy": "workaround", "q244405_enable_distmgr_logging": True}
    before = lab.state_hash()
    check = lab.playbook("--check", "--diff", extra_vars=options)
    assert check.rc == 0 and not check.failed_hosts(), check.stdout[-3000:]
    assert lab.state_hash() == before, "check mode changed a host"
    assert logging_on(lab, "sms620") is False, "check mode set the registry value over msrpc"

    run = lab.playbook(extra_vars=options)
    assert run.rc == 0 and not run.failed_hosts(), run.stdout[-4000:]
    for host, gone in (("sms610", ["60000012", "60000014"]), ("sms620", ["60000012", "60000015"])):
        for package_id in gone:
            assert not pck(lab, host, package_id), f"{host}: {package_id}.PCK is still there"
    assert pck(lab, "sms610", "60000013") and pck(lab, "sms610", "6100001G"), "active and odd files are kept"
    assert not pck(lab, "sms630", "60000016"), "the winrm child's leftover goes on the same evidence"

    assert logging_on(lab, "sms620") is True, "the logging option over msrpc"
    report = json.loads(lab.latest_report("run").read_text(encoding="utf-8"))
    assert {record["host"]: record["status"] for record in report["hosts"]} == {
        "sms600": "ok", "sms610": "ok", "sms620": "ok", "sms630": "ok"}
    transports = {record["host"]: record["site"].get("transport") for record in report["hosts"]}
    assert transports == {"sms600": "winrm", "sms610": "msrpc", "sms620": "msrpc", "sms630": "winrm"}
    markdown = lab.latest_report("run", "md").read_text(encoding="utf-8")
    assert "msrpc" in markdown and "winrm" in markdown, "the Markdown report names each host's transport"

    again = lab.playbook(extra_vars=options)
    assert again.rc == 0 and all(counts["changed"] == 0 for counts in again.recap.values()), again.stdout[-3000:]


def test_the_manual_hotfix_over_msrpc_then_nothing_to_do(mixed):
    lab = mixed
    dll = lab.hosts_dir / "sms610" / "fs" / "C" / "SMS" / "bin" / "i386" / "Distmgr.dll"
    new = (lab.state_dir / "hotfix" / "i386" / "Distmgr.dll").read_bytes()
    limit = ["--limit", "sms600,sms610"]
    run = lab.playbook(*limit, extra_vars={"q244405_policy": "hotfix"})
    assert run.rc == 0 and not run.failed_hosts(), run.stdout[-4000:]
    assert dll.read_bytes() == new
    assert not (lab.hosts_dir / "sms610" / "fs" / "C" / "SMS" / "Logs" / "Q244405.journal.json").exists()
    assert lab.services("sms610")["SMS_EXECUTIVE"] == "running"
    record = next(r for r in json.loads(lab.latest_report("run").read_text(encoding="utf-8"))["hosts"]
                  if r["host"] == "sms610")
    assert record["hotfix"]["applied"] and record["q244405"]["fixed_by"] == "hotfix", record["hotfix"]
    again = lab.playbook(*limit, extra_vars={"q244405_policy": "hotfix"})
    assert again.rc == 0 and again.recap["sms610"]["changed"] == 0, again.stdout[-3000:]


def test_a_wrong_password_fails_that_host_only_with_the_nt_status(mixed):
    lab = mixed
    inventory = yaml.safe_load(lab.inventory.read_text(encoding="utf-8"))
    _hosts(inventory)["sms620"]["q244405_msrpc_password"] = "not-the-password"
    lab.inventory.write_text(yaml.safe_dump(inventory), encoding="utf-8")
    before = folder_digest(lab.hosts_dir / "sms620")
    run = lab.playbook(extra_vars={"q244405_policy": "workaround"})
    assert run.failed_hosts() == {"sms620"}, run.stdout[-3000:]
    assert ("sms620: login: logon as SMS620\\Administrator on 127.0.0.1: STATUS_LOGON_FAILURE (0xc000006d): "
            "wrong user, domain or password") in run.stdout
    assert "not-the-password" not in run.stdout
    assert not pck(lab, "sms610", "60000012"), "the other hosts went on"
    assert folder_digest(lab.hosts_dir / "sms620") == before
