"""Issue 11 defect 6, end to end: a connection cut between ANY two steps of the hotfix transaction.

One affected SP1 i386 child per cut point (all three services running), with the SMS Executive's
process outliving its service by a few seconds (defect 5). Run 1 of remediate.yml: on each child the
script is killed after its step (the lab twin stops there: no catch, no finally, the connection
drops), leaving the host and its journal as Windows would. Nothing is edited between the runs (a cut
is one event). A --check run then predicts the recovery and sends nothing that changes a host.
Run 2 must recover every child from its journal (complete when the new Distmgr.dll was already in
place, else roll back and apply the hotfix again) and end with the verified new DLL, the original in
the backup, services in their original states, no journal and exactly one hotfix log line. Run 3
changes nothing.
"""

from __future__ import annotations

import hashlib
import json

import pytest

from lab_harness import HOTFIX_VERSION
from request_log import check_mode_violation, commands_by_host

SERVICES = ["SMS_SITE_COMPONENT_MANAGER", "SMS_EXECUTIVE", "SMS_SITE_BACKUP"]
CUTS = (["journal"] + [f"stop:{s}" for s in SERVICES] + ["backup", "swap", "verify"]
        + [f"start:{s}" for s in reversed(SERVICES)] + ["verify_running", "log"])
HOSTS = {f"sms8{index:02d}": cut for index, cut in enumerate(CUTS, start=1)}
JOURNAL = "C:\\SMS\\Logs\\Q244405.journal.json"
HOTFIX_LOG = "C:\\SMS\\Logs\\Q244405.log"


def scenario() -> dict:
    sites = [{"name": "sms800", "site_code": "800", "parent": None, "build": "sp2"}]
    for host, cut in sorted(HOSTS.items()):
        sites.append({"name": host, "site_code": host[3:], "parent": "800", "build": "sp1", "platform": "i386",
                      "services": {"SMS_SITE_BACKUP": "running"},
                      "faults": {"cut_after_step": cut, "process_exit_seconds": {"SMS_EXECUTIVE": 4}}})
    return {"seed": 11, "sites": sites}


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Runs:
    pass


@pytest.fixture(scope="module")
def runs(module_lab_factory):
    lab = module_lab_factory(scenario(), "hotfix-cuts")
    r = Runs()
    r.lab = lab
    r.before = {h: lab.host_json(h)["services"] for h in HOSTS}
    r.original_sha = {h: sha256(lab.local(h, lab.distmgr_path(h))) for h in HOSTS}
    r.hotfix_sha = sha256(lab.state_dir / "hotfix" / "i386" / "Distmgr.dll")
    r.first = lab.playbook()
    r.after_cut = {h: {"journal": lab.exists(h, JOURNAL), "dll": sha256(lab.local(h, lab.distmgr_path(h))),
                       "faults": lab.host_json(h).get("faults", {})} for h in HOSTS}
    sent_before = {h: len(entries) for h, entries in commands_by_host(lab.state_dir, HOSTS).items()}
    r.hash_before_check = lab.state_hash()
    r.check = lab.playbook("--check")
    r.hash_after_check = lab.state_hash()
    r.check_sent = {h: entries[sent_before[h]:] for h, entries in commands_by_host(lab.state_dir, HOSTS).items()}
    report = json.loads(lab.latest_report("check", "json").read_text(encoding="utf-8"))
    r.check_summary = {entry["host"]: entry["summary"] for entry in report["hosts"]}
    r.second = lab.playbook()
    report = json.loads(lab.latest_report("run", "json").read_text(encoding="utf-8"))
    r.second_summary = {entry["host"]: entry["summary"] for entry in report["hosts"]}
    r.third = lab.playbook()
    return r


@pytest.mark.parametrize("host", sorted(HOSTS))
def test_the_cut_run_left_a_journal_and_did_not_finish(runs, host):
    counts = runs.first.recap[host]
    assert counts["failed"] >= 1 or counts["unreachable"] >= 1, (host, counts, runs.first.stdout[-3000:])
    assert runs.after_cut[host]["journal"], host
    assert "cut_after_step" not in runs.after_cut[host]["faults"], host     # the cut happened, once


def swapped(host) -> bool:
    """The new Distmgr.dll was in place when the cut came (after the swap): the file decides."""
    return CUTS.index(HOSTS[host]) >= CUTS.index("swap")


def test_check_mode_predicts_the_recovery_and_changes_nothing(runs):
    assert runs.hash_after_check == runs.hash_before_check
    for host in HOSTS:
        assert runs.check_sent[host], host                 # the probe at least
        sent = [e for e in runs.check_sent[host] if check_mode_violation(e)]
        assert sent == [], (host, sent)
        done = "would complete" if swapped(host) else "would roll back"
        assert f"cut by a lost connection: {done}" in runs.check_summary[host], runs.check_summary[host]


@pytest.mark.parametrize("host", sorted(HOSTS))
def test_the_next_run_recovers_and_completes_the_fix(runs, host):
    lab = runs.lab
    counts = runs.second.recap[host]
    assert counts["failed"] == 0 and counts["unreachable"] == 0, (host, counts, runs.second.stdout[-5000:])
    assert not lab.exists(host, JOURNAL), host
    assert sha256(lab.local(host, lab.distmgr_path(host))) == runs.hotfix_sha, host
    assert lab.file_version(host, lab.distmgr_path(host)) == HOTFIX_VERSION, host
    assert sha256(lab.local(host, lab.distmgr_path(host) + ".pre-Q244405")) == runs.original_sha[host], host
    assert lab.host_json(host)["services"] == runs.before[host], host
    assert "exiting_processes" not in lab.host_json(host), host
    done = "completed" if swapped(host) else "rolled back"
    assert f"cut by a lost connection: {done}" in runs.second_summary[host], runs.second_summary[host]
    log = lab.local(host, HOTFIX_LOG).read_text(encoding="utf-8")
    assert log.count("\n") == 1, (host, log)          # one transaction's line: recovered, not repeated


def test_the_run_after_that_changes_nothing(runs):
    assert runs.third.rc == 0, runs.third.stdout[-3000:]
    for host in HOSTS:
        assert runs.third.recap[host]["changed"] == 0, (host, runs.third.recap[host])


def test_a_tmp_journal_left_by_a_cut_msrpc_swap_is_recovered_over_winrm(lab_factory):
    """The msrpc transport swaps its journal in from ``<name>.tmp`` (old one deleted, then the rename): a cut in
    between leaves only the .tmp. A host whose next run comes over winrm must still be recovered from it."""
    site = {"name": "sms899", "site_code": "899", "parent": "800", "build": "sp1", "platform": "i386",
            "services": {"SMS_SITE_BACKUP": "running"}, "faults": {"cut_after_step": "swap"}}
    lab = lab_factory({"seed": 11, "sites": [scenario()["sites"][0], site]}, "hotfix-tmp-journal")
    before = lab.host_json("sms899")["services"]
    cut = lab.playbook()
    assert cut.recap["sms899"]["failed"] >= 1 or cut.recap["sms899"]["unreachable"] >= 1, cut.stdout[-3000:]
    journal = lab.local("sms899", JOURNAL)
    journal.rename(journal.with_name(journal.name + ".tmp"))            # where the msrpc swap was cut
    run = lab.playbook()
    assert run.recap["sms899"]["failed"] == 0 and run.recap["sms899"]["unreachable"] == 0, run.stdout[-5000:]
    assert not lab.exists("sms899", JOURNAL) and not lab.exists("sms899", JOURNAL + ".tmp")
    assert lab.file_version("sms899", lab.distmgr_path("sms899")) == HOTFIX_VERSION
    assert lab.host_json("sms899")["services"] == before
    report = json.loads(lab.latest_report("run", "json").read_text(encoding="utf-8"))
    summary = {entry["host"]: entry["summary"] for entry in report["hosts"]}["sms899"]
    assert "cut by a lost connection: completed" in summary, summary
    assert lab.local("sms899", HOTFIX_LOG).read_text(encoding="utf-8").count("\n") == 1
