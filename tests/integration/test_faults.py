"""lab/scenarios/faults.yml: one injected fault per child site, one real run, then a re-run of sms801
after its fault is cleared (faults are permanent in host.json)."""

from __future__ import annotations

import json

import pytest

from lab_harness import HOTFIX_VERSION, SCENARIOS

HOSTS = [f"sms80{i}" for i in range(8)]
LEFTOVER, ACTIVE = "80000009", "80000001"
ORIGINAL_DLL = "2.00.1380.1000"
FAILS = {            # host -> words the failure message must carry (besides the host name)
    "sms801": ["SMS_EXECUTIVE", "did not stop"],
    "sms802": ["copy"],
    "sms807": ["console"],
}
SUCCEEDS = ["sms800", "sms804", "sms805", "sms806"]      # healthy or harmless faults
HOTFIX_FAILED = ["sms801", "sms802", "sms803", "sms807"]  # failed at "Apply the Q244405 hotfix"


def pck(package_id: str) -> str:
    return f"D:\\SMSPKG\\{package_id}.PCK"


class FaultRun:
    pass


@pytest.fixture(scope="module")
def faults(module_lab_factory):
    lab = module_lab_factory(SCENARIOS / "faults.yml", "faults")
    f = FaultRun()
    f.lab = lab
    f.before = {h: lab.host_json(h) for h in lab.host_names}
    f.run = lab.playbook()
    f.report = json.loads(lab.latest_report("run", "json").read_text(encoding="utf-8"))
    f.by_host = {h["host"]: h for h in f.report["hosts"]}
    return f


def fatal_lines(run, host):
    return [line for line in run.stdout.splitlines() if line.startswith(f"fatal: [{host}]")]


def final_message(run, host) -> str:
    """The message of the role's last word on the host (the rescue's fail task)."""
    lines = fatal_lines(run, host)
    assert lines, f"no fatal line for {host}"
    return json.loads(lines[-1].split("=> ", 1)[1])["msg"]


def test_all_hosts_recapped(faults):
    assert set(HOSTS) <= set(faults.run.recap), faults.run.stdout[-3000:]
    assert faults.run.rc != 0
    assert faults.run.recap["localhost"]["failed"] == 0, "the report play must run even when hosts failed"


@pytest.mark.parametrize("host", sorted(FAILS))
def test_faulty_host_fails_with_clear_message(faults, host):
    counts = faults.run.recap[host]
    assert counts["failed"] >= 1, counts
    message = final_message(faults.run, host)
    assert host in message
    for word in FAILS[host]:
        assert word.lower() in message.lower(), message
    assert word.lower() in (faults.by_host[host]["error"] or "").lower()
    assert faults.by_host[host]["status"] == "failed"


def test_dropped_connection_fails_or_unreachable(faults):
    counts = faults.run.recap["sms803"]
    assert counts["failed"] >= 1 or counts["unreachable"] >= 1, counts
    if counts["failed"]:
        message = final_message(faults.run, "sms803")
        assert "sms803" in message
        assert any(w in message.lower() for w in ("connection", "unreachable", "closed", "aborted")), message
    assert faults.by_host["sms803"]["status"] in ("failed", "unreachable")


@pytest.mark.parametrize("host", SUCCEEDS)
def test_harmless_faults_succeed(faults, host):
    counts = faults.run.recap[host]
    assert counts["failed"] == 0 and counts["unreachable"] == 0, (counts, fatal_lines(faults.run, host))
    # sms804's active list could not be read: the run did not fail there, but its record is not a clean ok
    if host == "sms804":
        entry = faults.by_host[host]
        assert entry["status"] == "incomplete" and entry["error"] is None, entry
        assert [item["source"] for item in entry["sources_failed"]] == ["active_packages"], entry["sources_failed"]
        assert entry["sources_failed"][0]["text"].endswith("; nothing removed"), entry["sources_failed"]
    else:
        assert faults.by_host[host]["status"] == "ok", faults.by_host[host]
    if host != "sms800":
        assert faults.lab.file_version(host, faults.lab.distmgr_path(host)) == HOTFIX_VERSION, host


def test_wmi_unavailable_leaves_leftover(faults):
    """Without the site's active list the copy is 'unknown': never removed."""
    assert faults.lab.exists("sms804", pck(LEFTOVER))
    entry = {l["package_id"]: l for l in faults.by_host["sms804"]["leftovers"]}[LEFTOVER]
    assert entry["status"] == "unknown" and entry["action"] != "removed", entry


def test_healthy_and_harmless_hosts_lose_their_leftover(faults):
    for host in ("sms805", "sms806"):
        assert not faults.lab.exists(host, pck(LEFTOVER)), host


@pytest.mark.parametrize("host", HOSTS)
def test_invariants_on_every_host(faults, host):
    lab = faults.lab
    assert lab.host_json(host)["services"] == faults.before[host]["services"], f"{host}: services changed"
    version = lab.file_version(host, lab.distmgr_path(host))
    original = faults.before[host]["lab"]["distmgr_version"]
    assert version in (original, HOTFIX_VERSION), (host, version)
    if version != original:
        assert lab.file_version(host, lab.distmgr_path(host) + ".pre-Q244405") == original
    assert lab.exists(host, pck(ACTIVE)), f"{host}: active {ACTIVE}.PCK removed"


def test_failed_hotfix_left_original_dll(faults):
    for host in ("sms801", "sms802", "sms807"):
        assert faults.lab.file_version(host, faults.lab.distmgr_path(host)) == ORIGINAL_DLL, host


def test_report_counts_failed_hotfixes(faults):
    assert faults.report["totals"]["hotfix_failed"] == len(HOTFIX_FAILED)


def test_failure_message_names_host_once(faults):
    for host in ("sms801", "sms807"):
        assert not final_message(faults.run, host).startswith(f"{host}: {host}:")


def test_copy_failure_says_staging(faults):
    message = final_message(faults.run, "sms802")
    assert "distmgr.dll" in message.lower() and "stag" in message.lower(), message


# ---- last: edits the lab -------------------------------------------------------------------------
def test_rerun_after_clearing_sms801_fault(faults):
    lab = faults.lab
    lab.stop()
    path = lab.hosts_dir / "sms801" / "host.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data.pop("faults")["service_wont_stop"] == ["SMS_EXECUTIVE"]
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    lab.start()
    run = lab.playbook("--limit", "sms801,localhost")
    assert run.rc == 0, run.stdout[-4000:]
    assert run.recap["sms801"]["failed"] == 0 and run.recap["sms801"]["changed"] >= 1, run.recap
    assert lab.file_version("sms801", lab.distmgr_path("sms801")) == HOTFIX_VERSION
    assert lab.file_version("sms801", lab.distmgr_path("sms801") + ".pre-Q244405") == ORIGINAL_DLL
    assert lab.host_json("sms801")["services"] == faults.before["sms801"]["services"]
    assert not lab.exists("sms801", pck(LEFTOVER)) and lab.exists("sms801", pck(ACTIVE))
    report = json.loads(lab.latest_report("run", "json").read_text(encoding="utf-8"))
    entry = {h["host"]: h for h in report["hosts"]}["sms801"]
    assert entry["status"] == "ok" and entry["error"] is None
