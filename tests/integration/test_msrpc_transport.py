"""The msrpc transport against real Samba servers (C1's lab): the probe answers what sms_probe.ps1 answers on
the same host (the lab's twin of the script is the oracle), logging, packages, the manual hotfix with a fault
and a cut at every step, check mode byte-identical, and each connection failure as one clear per-host error."""

from __future__ import annotations

import hashlib
import json
import os

import pytest
import yaml

from lab_harness import SCENARIOS
from msrpc_harness import folder_digest, probe_parameters, samba_site, transport
from smslab.handlers import HostContext
from smslab.handlers.sms_scripts import probe as twin_probe
from smslab.state import HostState

TRACING = "HKLM:\\SOFTWARE\\Microsoft\\SMS\\Tracing\\SMS_DISTRIBUTION_MANAGER"
EXTRA_KEYS = ("transport", "msrpc")


def twin_answer(state_dir, name):
    state = HostState.load(state_dir / "hosts" / name)
    return twin_probe.probe(HostContext(name, state), probe_parameters())[0]


def test_the_probe_answers_what_the_script_answers_on_sp2_sp1_rtm_and_hotfixed_sites(tmp_path):
    from ansible_collections.sms.remediation.plugins.module_utils import sms20
    from ansible_collections.sms.remediation.plugins.module_utils.probe_result import parse_probe

    scenario = yaml.safe_load((SCENARIOS / "demo.yml").read_text(encoding="utf-8"))
    next(site for site in scenario["sites"] if site["name"] == "sms620")["build"] = "rtm"     # the demo's is SP1
    with samba_site(tmp_path, scenario, wmi=True) as (state_dir, lab, wmi):
        for name in lab.names:
            host = transport(lab, name, tmp_path, wmi_addresses=wmi)
            try:
                answer = host.probe(probe_parameters())
            finally:
                host.close()
            assert answer["transport"] == "msrpc"
            expected = twin_answer(state_dir, name)
            mine = {k: v for k, v in answer.items() if k not in EXTRA_KEYS}
            if name == "sms620":
                # the lab's WMI imitates an RTM provider (no SMS_Package.ActionInProgress, issue 19): the msrpc
                # probe reads the action as unknown; the script twin still answers as an SP1 provider does
                assert mine["active_packages"].pop("action_in_progress_known") is False
                assert "has no ActionInProgress" in mine["active_packages"]["error"]
                expected["active_packages"] = {**expected["active_packages"], "error": mine["active_packages"]["error"],
                                               "packages": [{**row, "ActionInProgress": None}
                                                            for row in expected["active_packages"]["packages"]]}
            assert mine == expected, name
            site = parse_probe(name, answer, sms20.merge_overrides(None))
            facts = {"sms600": ("SP2", False), "sms610": ("SP1", True), "sms620": ("RTM", True),
                     "sms630": ("SP1", False)}[name]
            assert (site.service_pack, site.q244405.affected) == facts, name
        assert site.q244405.fixed_by == "hotfix"          # sms630: Distmgr.dll 2.00.1380.1083 read from its PE


def test_over_smb1_the_probe_answers_what_it_answers_over_smb3_in_half_the_messages(tmp_path):
    """NT 4.0 and Windows 2000 speak only NT LM 0.12: there each RPC call is one SMB_COM_TRANSACTION
    (TransactNmPipe) and a key's values come in one BaseRegQueryMultipleValues, as over SMB 2/3."""
    # a host that speaks both (modern); NT LM 0.12 with NT 4.0's small reads is the nt4 profile's (the demo's)
    with samba_site(tmp_path, hosts=["sms610"], wmi=True, options={"sms610": {"profile": "modern"}}) as (state_dir, lab, wmi):
        answers = {}
        for dialect in ("smb1", "smb3"):
            host = transport(lab, "sms610", tmp_path / dialect, wmi_addresses=wmi, dialect=dialect)
            try:
                answers[dialect] = host.probe(probe_parameters())
            finally:
                host.close()
        old, new = answers["smb1"].pop("msrpc"), answers["smb3"].pop("msrpc")
        assert old["dialect"] == "NT LM 0.12 (SMB1)" and new["dialect"].startswith("SMB 3")
        assert answers["smb1"] == answers["smb3"] == dict(twin_answer(state_dir, "sms610"), transport="msrpc")
        assert old["wire"]["requests"] <= 80, old["wire"]          # was about 150 with a write and a read per call


def test_without_wmi_the_active_packages_are_unknown_and_say_why(tmp_path):
    with samba_site(tmp_path, hosts=["sms610"]) as (state_dir, lab, _addresses):
        host = transport(lab, "sms610", tmp_path, wmi_address="127.0.0.250", timeout=3)
        answer = host.probe(probe_parameters())
        host.close()
    assert answer["active_packages"]["available"] is False and answer["active_packages"]["packages"] is None
    assert "active packages unknown" in answer["active_packages"]["error"]
    assert answer["registry"]["identification"]["Site Code"] == "610"
    # The console cannot be checked either: unknown with the cause, as sms_probe.ps1 answers; the hotfix waits.
    causes = [error["message"] for error in answer["errors"] if error["source"] == "processes"]
    assert answer["console_open"] is None and causes, answer["errors"]
    from ansible_collections.sms.remediation.plugins.module_utils import sms20
    from ansible_collections.sms.remediation.plugins.module_utils.decision import HotfixFile, Request, plan
    from ansible_collections.sms.remediation.plugins.module_utils.probe_result import parse_probe
    site = parse_probe("sms610", answer, sms20.merge_overrides(None), transport="msrpc")
    hotfix = {"i386": HotfixFile("i386/Distmgr.dll", path="/controller/Distmgr.dll", sha256="ab" * 32)}
    decided = plan(site, [], Request(policy="hotfix", hotfix_files=hotfix), sms20.merge_overrides(None))
    assert decided.hotfix_refused and "cannot tell whether the SMS Administrator console" in decided.hotfix_reason
    assert causes[0] in decided.hotfix_reason, decided.hotfix_reason


def test_a_rerun_does_not_open_an_unchanged_log_and_reads_the_head_and_the_rest_of_a_grown_one(tmp_path):
    def distmgr_log(answer):
        return [r for r in answer["msrpc"]["log_reads"] if r["path"].endswith("Distmgr.log")][0]
    with samba_site(tmp_path, hosts=["sms610"]) as (state_dir, lab, _addresses):
        first = transport(lab, "sms610", tmp_path).probe(probe_parameters())
        again = transport(lab, "sms610", tmp_path).probe(probe_parameters())
        log = HostState.load(state_dir / "hosts" / "sms610").local_path(distmgr_log(first)["path"], must_exist=True)
        line = b"Successfully deleted the package 61000077 from C:\\SMSPKG\r\n"
        with log.open("ab") as handle:                  # SMS appends: a new size and last write time
            handle.write(line)
        grown = transport(lab, "sms610", tmp_path).probe(probe_parameters())
    assert distmgr_log(again)["cache"].startswith("unchanged") and distmgr_log(again)["bytes_read"] == 0
    assert again["distmgr_log"] == first["distmgr_log"]
    assert distmgr_log(grown)["cache"].startswith("resumed") and distmgr_log(grown)["bytes_read"] <= 4096 + len(line)


def test_logging_option_check_mode_diff_then_set_then_unchanged(tmp_path):
    with samba_site(tmp_path, hosts=["sms620"]) as (state_dir, lab, _addresses):
        checked = transport(lab, "sms620", tmp_path, check_mode=True).set_registry_value(TRACING, "Enabled", 1, "dword")
        assert checked["changed"] and checked["diff"]["before"].endswith('"Enabled"=dword:00000000\n')
        assert checked["diff"]["after"].endswith('"Enabled"=dword:00000001\n')
        assert transport(lab, "sms620", tmp_path).probe(probe_parameters())["distmgr_log"]["logging_enabled"] is False
        assert transport(lab, "sms620", tmp_path).set_registry_value(TRACING, "Enabled", 1, "dword")["changed"]
        assert transport(lab, "sms620", tmp_path).probe(probe_parameters())["distmgr_log"]["logging_enabled"] is True
        assert not transport(lab, "sms620", tmp_path).set_registry_value(TRACING, "Enabled", 1, "dword")["changed"]


def hotfix_parameters(answer, staged, sha, **extra):
    return {"InstallDir": answer["install_dir"], "Platform": "i386", "StagedPath": staged, "ExpectedSha256": sha,
            "StopOrder": ["SMS_SITE_COMPONENT_MANAGER", "SMS_EXECUTIVE", "SMS_SITE_BACKUP"], "WaitSeconds": 10,
            **extra}


def stage_hotfix(host, state_dir):
    source = state_dir / "hotfix" / "i386" / "Distmgr.dll"
    staged = host.stage_file(str(source), "C:\\SMS\\hotfix\\Q244405\\i386")
    return staged["dest"], staged["sha256"], source.read_bytes()


def test_manual_hotfix_replaces_once_then_changes_nothing(tmp_path):
    with samba_site(tmp_path, hosts=["sms610"]) as (state_dir, lab, _addresses):
        host = transport(lab, "sms610", tmp_path)
        answer = host.probe(probe_parameters())
        staged, sha, new = stage_hotfix(host, state_dir)
        assert not host.stage_file(str(state_dir / "hotfix" / "i386" / "Distmgr.dll"),
                                   "C:\\SMS\\hotfix\\Q244405\\i386")["changed"]
        result = host.hotfix_transaction(hotfix_parameters(answer, staged, sha))
        assert result["outcome"] == "replaced", result["steps"]
        assert result["services_after"] == result["services_before"]
        fs = state_dir / "hosts" / "sms610" / "fs" / "C" / "SMS"
        assert (fs / "bin" / "i386" / "Distmgr.dll").read_bytes() == new
        assert not (fs / "Logs" / "Q244405.journal.json").exists()
        after = transport(lab, "sms610", tmp_path).probe(probe_parameters())
        assert after["platforms"]["i386"]["file_version"] == "2.00.1380.1083" and after["hotfix_log"]["exists"]
        again = transport(lab, "sms610", tmp_path).hotfix_transaction(hotfix_parameters(answer, staged, sha))
        assert again["outcome"] == "unchanged" and not again["changed"]


@pytest.mark.parametrize("fault, step", [({"service_wont_stop": ["SMS_EXECUTIVE"]}, "stop:SMS_EXECUTIVE"),
                                         ({"service_wont_start": ["SMS_EXECUTIVE"]}, "start:SMS_EXECUTIVE")])
def test_a_service_fault_rolls_the_hotfix_back(tmp_path, fault, step):
    with samba_site(tmp_path, hosts=["sms610"]) as (state_dir, lab, _addresses):
        host = transport(lab, "sms610", tmp_path)
        answer = host.probe(probe_parameters())
        dll = state_dir / "hosts" / "sms610" / "fs" / "C" / "SMS" / "bin" / "i386" / "Distmgr.dll"
        original = dll.read_bytes()
        staged, sha, _new = stage_hotfix(host, state_dir)
        state = HostState.load(state_dir / "hosts" / "sms610")
        state.faults.update(fault)
        state.save()
        result = host.hotfix_transaction(hotfix_parameters(answer, staged, sha))
        assert (result["outcome"], result["failed_step"]) == ("failed", step), result["steps"]
        assert dll.read_bytes() == original
        if step.startswith("stop:"):
            assert result["services_after"] == result["services_before"]
            assert result["journal"] == {"path": "C:\\SMS\\Logs\\Q244405.journal.json", "kept": False}


@pytest.mark.parametrize("cut_after", ["journal", "stop:SMS_EXECUTIVE", "backup", "swap", "verify",
                                       "start:SMS_SITE_COMPONENT_MANAGER"])
def test_a_run_cut_between_steps_is_recovered_by_the_next_run(tmp_path, cut_after):
    from ansible_collections.sms.remediation.plugins.module_utils import hotfix_journal
    from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.hotfix import hotfix_transaction

    class Cut(BaseException):
        pass

    def interrupt(step):
        if step == cut_after:
            raise Cut(step)

    with samba_site(tmp_path, hosts=["sms610"]) as (state_dir, lab, _addresses):
        host = transport(lab, "sms610", tmp_path)
        answer = host.probe(probe_parameters())
        original = (state_dir / "hosts" / "sms610" / "fs" / "C" / "SMS" / "bin" / "i386" / "Distmgr.dll").read_bytes()
        staged, sha, new = stage_hotfix(host, state_dir)
        with pytest.raises(Cut):
            hotfix_transaction(host.ops, hotfix_parameters(answer, staged, sha), False, interrupt=interrupt)
        host.close()                                     # the connection is gone with the run
        # the next run: the probe shows the journal, the controller decides, Mode Recover finishes it
        nxt = transport(lab, "sms610", tmp_path)
        seen = nxt.probe(probe_parameters())
        journal = hotfix_journal.parse(seen["transaction_journal"]["text"], seen["transaction_journal"]["path"])
        dll = seen["platforms"]["i386"]
        decision = hotfix_journal.decide(journal, {"dll_path": dll["path"], "dll_sha256": dll["sha256"],
                                                   "dll_version": dll["file_version"],
                                                   "services": {k: v["state"] for k, v in seen["services"].items()}})
        recovered = nxt.hotfix_transaction({"InstallDir": "C:\\SMS", "Platform": "i386", "Mode": "Recover",
                                            "Recovery": decision.action, "TransactionId": journal.transaction_id})
        assert recovered["outcome"] in ("completed", "rolled_back"), recovered["steps"]
        final = transport(lab, "sms610", tmp_path).hotfix_transaction(hotfix_parameters(answer, staged, sha))
        assert final["outcome"] in ("replaced", "unchanged"), final["steps"]
        assert final["services_after"]["SMS_EXECUTIVE"] == "running"
        fs = state_dir / "hosts" / "sms610" / "fs" / "C" / "SMS"
        assert (fs / "bin" / "i386" / "Distmgr.dll").read_bytes() == new
        assert not (fs / "Logs" / "Q244405.journal.json").exists()
        assert (fs / "Logs" / "Q244405.log").read_text().count("replaced:") == 1
        # the backup of the replaced DLL survived the cut, the recovery and the final run (issue 18, defect 4)
        assert (fs / "bin" / "i386" / "Distmgr.dll.pre-Q244405").read_bytes() == original
        profile = lab.hosts["sms610"].profile.name
    if os.environ.get("SMS_SAFETY_FIGURES"):        # scripts/safety-figures.sh counts the cuts and the profile
        with open(os.environ["SMS_SAFETY_FIGURES"], "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"figure": "msrpc_hotfix_cuts", "profile": profile, "count": 1,
                                     "backups_lost": 0}) + "\n")


def test_check_mode_leaves_every_hosts_state_folder_byte_identical(tmp_path):
    with samba_site(tmp_path) as (state_dir, lab, _addresses):
        before = {name: folder_digest(state_dir / "hosts" / name) for name in lab.names}
        for name in lab.names:
            host = transport(lab, name, tmp_path, check_mode=True)
            answer = host.probe(probe_parameters())
            folders = [f["path"] for f in answer["package_folders"] if f["exists"]]
            items = [{"id": f["name"][:8], "path": f"{folder}\\{f['name']}"} for folder in folders
                     for f in next(x for x in answer["package_folders"] if x["path"] == folder)["files"]]
            for mode in ("absent", "quarantined"):
                host.act_on_packages({"Mode": mode, "PackageFolders": folders, "Items": items,
                                      "QuarantineDir": "D:\\SMSPKG-quarantine"})
            host.set_registry_value(TRACING, "Enabled", 1, "dword")
            host.restart_service("SMS_EXECUTIVE")
            platform = "alpha" if answer["processor_architecture"] == "ALPHA" else "i386"
            dll = answer["platforms"][platform]["path"]
            result = host.hotfix_transaction({"InstallDir": answer["install_dir"], "Platform": platform,
                                              "StagedPath": dll, "ExpectedSha256": "0" * 64})
            assert result["outcome"] in ("failed", "unchanged")
            host.close()
        after = {name: folder_digest(state_dir / "hosts" / name) for name in lab.names}
        assert after == before
        answer = transport(lab, "sms620", tmp_path).probe(probe_parameters())
        assert answer["distmgr_log"]["logging_enabled"] is False


def test_packages_are_removed_over_smb_and_a_second_run_changes_nothing(tmp_path):
    with samba_site(tmp_path, hosts=["sms620"]) as (state_dir, lab, _addresses):
        host = transport(lab, "sms620", tmp_path)
        answer = host.probe(probe_parameters())
        folder = next(f for f in answer["package_folders"] if f["exists"])
        names = [f["name"] for f in folder["files"] if f["name"].upper().startswith("60000012")]
        items = [{"id": "60000012", "path": f"{folder['path']}\\{names[0]}"}]
        first = host.act_on_packages({"Mode": "quarantined", "PackageFolders": [folder["path"]], "Items": items,
                                      "QuarantineDir": folder["path"] + "-quarantine"})
        assert first["items"][0]["outcome"] == "quarantined" and first["changed"]
        manifest = state_dir / "hosts" / "sms620" / "fs" / "D" / "SMSPKG-quarantine" / "manifest.json"
        assert json.loads(manifest.read_text())[0]["original_path"] == items[0]["path"]
        second = transport(lab, "sms620", tmp_path).act_on_packages(
            {"Mode": "quarantined", "PackageFolders": [folder["path"]], "Items": items,
             "QuarantineDir": folder["path"] + "-quarantine"})
        assert second["items"][0]["outcome"] == "missing" and not second["changed"]
        back = transport(lab, "sms620", tmp_path).act_on_packages(
            {"Mode": "restored", "PackageFolders": [folder["path"]], "Items": [{"id": "60000012", "path": ""}],
             "QuarantineDir": folder["path"] + "-quarantine"})
        assert back["items"][0]["outcome"] == "restored"
        assert hashlib.sha256((state_dir / "hosts" / "sms620" / "fs" / "D" / "SMSPKG" / names[0]).read_bytes()
                              ).hexdigest() == first["items"][0]["sha256"]


@pytest.mark.parametrize("options, overrides, operation, expected", [
    ({}, {"password": "wrong"}, "login", "STATUS_LOGON_FAILURE"),
    ({"smb1": False, "profile": "modern"}, {"dialect": "smb1"}, "connect", "refused SMB1 (NT LM 0.12)"),
    ({"ntlmv1": True}, {}, "login", None),
])
def test_connection_failures_are_one_clear_error_naming_host_operation_and_status(
        tmp_path, options, overrides, operation, expected):
    from ansible_collections.sms.remediation.plugins.plugin_utils._transport.base import TransportError

    with samba_site(tmp_path, hosts=["sms610"], options={"sms610": options}) as (state_dir, lab, _addresses):
        before = folder_digest(state_dir / "hosts" / "sms610")
        host = transport(lab, "sms610", tmp_path, **overrides)
        if expected is None:                             # a server that also takes NTLMv1 still gets NTLMv2
            assert host.probe(probe_parameters())["msrpc"]["ntlm"] == "NTLMv2" and not host.warnings
            return
        with pytest.raises(TransportError) as caught:
            host.probe(probe_parameters())
        assert str(caught.value).startswith(f"sms610: {operation}: ") and expected in str(caught.value)
        assert lab.inventory_vars("sms610")["q244405_msrpc_password"] not in str(caught.value)
        assert folder_digest(state_dir / "hosts" / "sms610") == before


def test_a_missing_share_and_a_plain_user_are_refused_with_their_status(tmp_path):
    from ansible_collections.sms.remediation.plugins.plugin_utils._transport.base import TransportError

    options = {"sms610": {"missing_shares": ["D$"]}, "sms620": {"admin": False}}
    with samba_site(tmp_path, hosts=["sms610", "sms620"], options=options) as (state_dir, lab, _addresses):
        before = {n: folder_digest(state_dir / "hosts" / n) for n in lab.names}
        host = transport(lab, "sms610", tmp_path)
        answer = host.probe(probe_parameters())
        assert not any(f["path"].startswith("D:") for f in answer["package_folders"])
        removed = host.act_on_packages({"Mode": "absent", "PackageFolders": ["D:\\SMSPKG"],
                                        "Items": [{"id": "60000012", "path": "D:\\SMSPKG\\60000012.PCK"}]})
        assert removed["items"][0]["outcome"] == "refused" and "STATUS_BAD_NETWORK_NAME" in removed["items"][0]["reason"]
        plain = transport(lab, "sms620", tmp_path)
        with pytest.raises(TransportError) as caught:
            plain.restart_service("SMS_EXECUTIVE")
        assert str(caught.value).startswith("sms620: restart_service: ") and "ACCESS_DENIED" in str(caught.value)
        facts = transport(lab, "sms620", tmp_path).probe(probe_parameters())
        assert any("ACCESS_DENIED" in e["message"] for e in facts["errors"]), facts["errors"]
        assert {n: folder_digest(state_dir / "hosts" / n) for n in lab.names} == before
