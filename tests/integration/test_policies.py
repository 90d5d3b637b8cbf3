"""Policies and variants on the demo hierarchy: report, workaround, hotfix, quarantine + restore, installer.

One fresh demo lab per variant; the variants' ansible-playbook runs go in parallel (one module fixture)."""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml

from lab_harness import HOTFIX_VERSION, SCENARIOS, assert_ok_run

HOSTS = ["sms600", "sms610", "sms620", "sms630"]
CONFIRMED = {"sms610": ["60000012", "60000014"], "sms620": ["60000012", "60000015"], "sms630": ["60000016"]}
QDIR = "D:\\SMSPKG-Q244405"
INSTALLER = "C:\\SMSHOTFIX\\Q244405\\Q244405.exe"

VARIANTS = {
    "report": {"q244405_policy": "report"},
    "workaround": {"q244405_policy": "workaround"},
    "hotfix": {"q244405_policy": "hotfix"},
    "quarantine": {"q244405_workaround_state": "quarantined", "q244405_quarantine_dir": QDIR},
    "installer": {"q244405_hotfix_method": "installer", "q244405_hotfix_installer_path": INSTALLER},
}


def pck(package_id: str) -> str:
    return f"D:\\SMSPKG\\{package_id}.PCK"


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Variant:
    def __init__(self, lab, extra_vars):
        self.lab = lab
        self.extra_vars = extra_vars
        self.hash_before = lab.state_hash()
        self.before = {h: lab.host_json(h) for h in lab.host_names}
        self.distmgr_before = {h: sha256(lab.local(h, lab.distmgr_path(h))) for h in lab.host_names}
        self.pck_before = {h: {p.name: sha256(p) for p in lab.local(h, "D:\\SMSPKG").glob("*.PCK")}
                           for h in lab.host_names}
        self.run = None

    def go(self):
        self.run = self.lab.playbook(extra_vars=self.extra_vars)
        return self


@pytest.fixture(scope="module")
def variants(module_lab_factory):
    made = {name: Variant(module_lab_factory(SCENARIOS / "demo.yml", name), extra) for name, extra in VARIANTS.items()}
    with ThreadPoolExecutor(max_workers=len(made)) as pool:
        list(pool.map(lambda v: v.go(), made.values()))
    return made


def assert_distmgr_untouched(v):
    for host in HOSTS:
        dll = v.lab.distmgr_path(host)
        assert sha256(v.lab.local(host, dll)) == v.distmgr_before[host], f"{host}: Distmgr.dll changed"
        assert not v.lab.exists(host, dll + ".pre-Q244405"), host


def assert_pck_untouched(v):
    for host in HOSTS:
        now = {p.name: sha256(p) for p in v.lab.local(host, "D:\\SMSPKG").glob("*.PCK")}
        assert now == v.pck_before[host], host


def assert_services_unchanged(v):
    for host in HOSTS:
        assert v.lab.host_json(host)["services"] == v.before[host]["services"], host


# ---- report --------------------------------------------------------------------------------------
def test_policy_report_changes_nothing_and_reports(variants):
    v = variants["report"]
    assert v.run.rc == 0, v.run.stdout[-4000:]
    assert_ok_run(v.run, HOSTS)
    assert v.lab.state_hash() == v.hash_before
    for host in HOSTS:
        assert v.run.recap[host]["changed"] == 0, host
    report = json.loads(v.lab.latest_report("run", "json").read_text(encoding="utf-8"))
    assert report["meta"]["policy"] == "report"
    assert {h["host"] for h in report["hosts"]} == set(HOSTS)
    assert report["totals"]["leftovers_removed"] == 0 and report["totals"]["hotfix_applied"] == 0


# ---- workaround ------------------------------------------------------------------------------------
def test_policy_workaround_removes_leftovers_only(variants):
    v = variants["workaround"]
    assert v.run.rc == 0, v.run.stdout[-4000:]
    assert_ok_run(v.run, HOSTS)
    assert_distmgr_untouched(v)
    for host, ids in CONFIRMED.items():
        for package_id in ids:
            assert not v.lab.exists(host, pck(package_id)), (host, package_id)
    assert_services_unchanged(v)


# ---- hotfix ------------------------------------------------------------------------------------------
def test_policy_hotfix_leaves_packages_alone(variants):
    v = variants["hotfix"]
    assert v.run.rc == 0, v.run.stdout[-4000:]
    assert_ok_run(v.run, HOSTS)
    assert_pck_untouched(v)
    for host in ("sms610", "sms620"):                  # the default method, manual: any platform (620 is Alpha)
        assert v.lab.file_version(host, v.lab.distmgr_path(host)) == HOTFIX_VERSION, host
        assert v.lab.file_version(host, v.lab.distmgr_path(host) + ".pre-Q244405") == "2.00.1380.1000", host
    assert_services_unchanged(v)


# ---- quarantine and restore ------------------------------------------------------------------------
def test_quarantine_moves_files_with_manifest(variants):
    v = variants["quarantine"]
    assert v.run.rc == 0, v.run.stdout[-4000:]
    assert_ok_run(v.run, HOSTS)
    for host, ids in CONFIRMED.items():
        manifest_path = v.lab.local(host, QDIR + "\\manifest.json")
        assert manifest_path.is_file(), f"{host}: no manifest.json"
        manifest = json.loads(manifest_path.read_text(encoding="utf-8-sig"))
        entries = {e["id"]: e for e in manifest}
        assert set(entries) == set(ids), host
        for package_id in ids:
            assert not v.lab.exists(host, pck(package_id)), (host, package_id)
            moved = v.lab.local(host, f"{QDIR}\\{package_id}.PCK")
            assert moved.is_file(), (host, package_id)
            assert sha256(moved) == entries[package_id]["sha256"].lower() == v.pck_before[host][f"{package_id}.PCK"]
    # active packages stay
    assert v.lab.exists("sms610", pck("60000013")) and v.lab.exists("sms610", pck("61000001"))


def _restore_play(tmp_path, name):
    play = [{"hosts": "sms610", "gather_facts": False, "tasks": [{
        "name": "Restore one quarantined package",
        "sms.remediation.compressed_package": {"state": "restored", "quarantine_dir": QDIR,
                                               "packages": ["60000012"]},
        "register": "restore"}, {
        "name": "Show",
        "ansible.builtin.debug": {"var": "restore"}}]}]
    path = tmp_path / name
    path.write_text(yaml.safe_dump(play, sort_keys=False), encoding="utf-8")
    return path


def test_restore_from_quarantine_then_refuse_second(variants, tmp_path):
    v = variants["quarantine"]
    assert v.run.rc == 0
    original = v.pck_before["sms610"]["60000012.PCK"]
    first = v.lab.playbook(playbook=_restore_play(tmp_path, "restore.yml"), hotfix_files=False)
    assert first.rc == 0, first.stdout[-4000:]
    assert first.recap["sms610"]["changed"] >= 1, first.stdout[-4000:]
    restored = v.lab.local("sms610", pck("60000012"))
    assert restored.is_file()
    assert sha256(restored) == original
    assert not v.lab.exists("sms610", f"{QDIR}\\60000012.PCK")
    manifest = json.loads(v.lab.local("sms610", QDIR + "\\manifest.json").read_text(encoding="utf-8-sig"))
    assert "60000012" not in {e["id"] for e in manifest}

    hash_before = v.lab.state_hash()
    second = v.lab.playbook(playbook=_restore_play(tmp_path, "restore2.yml"), hotfix_files=False)
    counts = second.recap["sms610"]
    assert counts["changed"] == 0, second.stdout[-4000:]
    assert v.lab.state_hash() == hash_before
    assert sha256(restored) == original
    assert counts["failed"] == 1 or "missing" in second.stdout or "refused" in second.stdout, second.stdout[-4000:]


# ---- hotfix installer -------------------------------------------------------------------------------
def test_installer_fixes_i386_others_carry_on(variants):
    v = variants["installer"]
    run = v.run
    # the i386 child is fixed by the installer, the alpha child keeps its DLL
    assert v.lab.file_version("sms610", v.lab.distmgr_path("sms610")) == HOTFIX_VERSION
    assert v.lab.exists("sms610", "C:\\SMS\\Logs\\Q244405.log")
    assert v.lab.file_version("sms620", v.lab.distmgr_path("sms620")) == "2.00.1380.1000"
    assert not v.lab.exists("sms620", v.lab.distmgr_path("sms620") + ".pre-Q244405")
    for host in ("sms600", "sms610", "sms630"):
        assert run.recap[host]["failed"] == 0 and run.recap[host]["unreachable"] == 0, host
    assert run.recap["localhost"]["failed"] == 0
    report = json.loads(v.lab.latest_report("run", "json").read_text(encoding="utf-8"))
    by_host = {h["host"]: h for h in report["hosts"]}
    assert by_host["sms620"]["q244405"]["affected"] is True
    assert "i386" in json.dumps(by_host["sms620"]).lower()      # the reason is recorded somewhere
    for host, ids in CONFIRMED.items():
        for package_id in ids:
            assert not v.lab.exists(host, pck(package_id)), (host, package_id)
    assert_services_unchanged(v)


def test_installer_fails_alpha_host_with_i386_message(variants):
    v = variants["installer"]
    run = v.run
    assert run.rc != 0
    assert run.recap["sms620"]["failed"] >= 1
    fail_lines = [line for line in run.stdout.splitlines() if line.startswith("fatal: [sms620]")]
    assert any("i386" in line.lower() and "sms620" in line for line in fail_lines), fail_lines
    report = json.loads(v.lab.latest_report("run", "json").read_text(encoding="utf-8"))
    by_host = {h["host"]: h for h in report["hosts"]}
    assert by_host["sms620"]["status"] == "failed"
    assert "i386" in (by_host["sms620"]["error"] or "").lower()
