"""Issue 6, part 3: the hotfix transaction under a fault at every step, against the lab.

One scenario: a parent SP2 site (900) and one affected SP1 i386 child per fault, all with
SMS_SITE_BACKUP running (so all three services are stopped and started). One ansible-playbook run of
remediate.yml with every fault in place, then every fault is removed (lab stopped, host.json edited,
lab restarted on the same state folder) and ONE re-run must complete the fix everywhere.

After the faulty run, on every child: the services are in their original states, Distmgr.dll is the
original or the verified new one (and then the backup holds the original), the failure message
names the host and the cause, the active package is still there, and no file was lost (every file
present before the run is still there, except the confirmed leftover the workaround removes).
When ``SMS_SAFETY_FIGURES`` names a file, the number of faults and of files lost are appended to it.
"""

from __future__ import annotations

import hashlib
import json
import os

import pytest

from lab_harness import HOTFIX_VERSION

SERVICES = ["SMS_SITE_COMPONENT_MANAGER", "SMS_EXECUTIVE", "SMS_SITE_BACKUP"]
ORIGINAL = "2.00.1380.1000"
LEFTOVER, ACTIVE = "90000009", "90000001"
# host -> (fault, words the final failure message must carry besides the host name)
FAULTS = {}
_steps = ([f"stop:{s}" for s in SERVICES] + ["backup", "swap", "verify"]
          + [f"start:{s}" for s in reversed(SERVICES)] + ["verify_running", "log"])
for _index, _step in enumerate(_steps, start=1):
    FAULTS[f"sms9{_index:02d}"] = ({"fail_step": _step}, [f"failed at step {_step}", "lab fault injected"])
FAULTS["sms950"] = ({"drop_connection_after": ["hotfix_transaction"]}, [])
FAULTS["sms951"] = ({"copy_fails": True}, ["staging", "distmgr.dll"])
CHILDREN = sorted(FAULTS)
BEFORE_SWAP = {f"stop:{s}" for s in SERVICES} | {"backup"}    # a failure here has nothing to restore


def scenario() -> dict:
    sites = [{"name": "sms900", "site_code": "900", "parent": None, "build": "sp2",
              "packages": {"active": [ACTIVE]}}]
    for host in CHILDREN:
        sites.append({"name": host, "site_code": host[3:], "parent": "900", "build": "sp1", "platform": "i386",
                      "services": {"SMS_SITE_BACKUP": "running"},
                      "packages": {"active": [ACTIVE], "leftovers": [LEFTOVER]},
                      "faults": FAULTS[host][0]})
    return {"seed": 6, "sites": sites}


def pck(package_id: str) -> str:
    return f"D:\\SMSPKG\\{package_id}.PCK"


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def files_of(lab, host) -> set:
    root = lab.hosts_dir / host / "fs"
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() or p.is_symlink()}


class Matrix:
    pass


@pytest.fixture(scope="module")
def matrix(module_lab_factory):
    lab = module_lab_factory(scenario(), "hotfix-matrix")
    m = Matrix()
    m.lab = lab
    m.before = {h: lab.host_json(h) for h in lab.host_names}
    m.files_before = {h: files_of(lab, h) for h in CHILDREN}
    m.dll_sha_before = {h: sha256(lab.local(h, lab.distmgr_path(h))) for h in CHILDREN}
    m.hotfix_sha = sha256(lab.state_dir / "hotfix" / "i386" / "Distmgr.dll")
    m.run = lab.playbook()
    m.files_after = {h: files_of(lab, h) for h in CHILDREN}
    leftover_rel = os.path.join("D", "SMSPKG", f"{LEFTOVER}.PCK")
    m.lost = {h: sorted(m.files_before[h] - m.files_after[h] - {leftover_rel}) for h in CHILDREN}
    report = json.loads(lab.latest_report("run", "json").read_text(encoding="utf-8"))
    m.by_host = {h["host"]: h for h in report["hosts"]}
    yield m
    target = os.environ.get("SMS_SAFETY_FIGURES")
    if target:
        with open(target, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"figure": "faults", "count": len(FAULTS),
                                     "files_lost": sum(len(v) for v in m.lost.values())}) + "\n")


def final_message(run, host) -> str:
    lines = [line for line in run.stdout.splitlines() if line.startswith(f"fatal: [{host}]")]
    assert lines, f"no fatal line for {host}:\n{run.stdout[-3000:]}"
    return json.loads(lines[-1].split("=> ", 1)[1])["msg"]


def test_every_host_recapped_and_every_child_failed(matrix):
    run = matrix.run
    assert set(CHILDREN) | {"sms900", "localhost"} <= set(run.recap), run.stdout[-3000:]
    assert run.recap["sms900"]["failed"] == 0 and run.recap["localhost"]["failed"] == 0
    for host in CHILDREN:
        counts = run.recap[host]
        assert counts["failed"] >= 1 or counts["unreachable"] >= 1, (host, counts)


@pytest.mark.parametrize("host", CHILDREN)
def test_services_back_in_their_original_states(matrix, host):
    assert matrix.lab.host_json(host)["services"] == matrix.before[host]["services"], host
    for name in SERVICES:
        assert matrix.lab.services(host)[name] == "running", (host, name)


@pytest.mark.parametrize("host", CHILDREN)
def test_distmgr_is_original_or_verified_new(matrix, host):
    lab = matrix.lab
    dll = lab.local(host, lab.distmgr_path(host))
    digest = sha256(dll)
    assert digest in (matrix.dll_sha_before[host], matrix.hotfix_sha), host
    if digest == matrix.hotfix_sha:
        assert lab.file_version(host, lab.distmgr_path(host)) == HOTFIX_VERSION
        assert sha256(lab.local(host, lab.distmgr_path(host) + ".pre-Q244405")) == matrix.dll_sha_before[host]
    else:
        assert lab.file_version(host, lab.distmgr_path(host)) == ORIGINAL


@pytest.mark.parametrize("host", [h for h in CHILDREN if "fail_step" in FAULTS[h][0]])
def test_failed_step_rolled_back_to_the_original(matrix, host):
    assert sha256(matrix.lab.local(host, matrix.lab.distmgr_path(host))) == matrix.dll_sha_before[host], host


@pytest.mark.parametrize("host", CHILDREN)
def test_clear_failure_message_names_host_and_cause(matrix, host):
    counts = matrix.run.recap[host]
    entry = matrix.by_host[host]
    if "drop_connection_after" in FAULTS[host][0]:
        assert entry["status"] in ("failed", "unreachable"), entry
        if counts["failed"]:
            message = final_message(matrix.run, host)
            assert host in message
            assert any(w in message.lower() for w in ("connection", "unreachable", "closed", "aborted", "reset")), message
        return
    message = final_message(matrix.run, host)
    assert message.startswith(f"{host}: ") and not message.startswith(f"{host}: {host}:"), message
    for word in FAULTS[host][1]:
        assert word.lower() in message.lower(), (word, message)
    step = FAULTS[host][0].get("fail_step")
    if step is not None:
        expected = "Distmgr.dll was not changed" if step in BEFORE_SWAP else "the original Distmgr.dll was restored"
        assert expected in message, message
    assert entry["status"] == "failed" and entry["error"], entry


@pytest.mark.parametrize("host", CHILDREN)
def test_no_file_lost_and_active_package_kept(matrix, host):
    assert matrix.lost[host] == [], (host, matrix.lost[host])
    assert matrix.lab.exists(host, pck(ACTIVE)), host


# ---- last: remove every fault, restart the lab on the same state folder, run once more -------------
def test_rerun_without_faults_completes_the_fix(matrix):
    lab = matrix.lab
    lab.stop()
    for host in CHILDREN:
        path = lab.hosts_dir / host / "host.json"
        data = json.loads(path.read_text(encoding="utf-8"))
        data["faults"] = {}
        path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    lab.start()
    run = lab.playbook()
    assert run.rc == 0, run.stdout[-5000:]
    for host in CHILDREN:
        assert run.recap[host]["failed"] == 0 and run.recap[host]["unreachable"] == 0, (host, run.recap[host])
        assert lab.file_version(host, lab.distmgr_path(host)) == HOTFIX_VERSION, host
        assert sha256(lab.local(host, lab.distmgr_path(host))) == matrix.hotfix_sha, host
        assert sha256(lab.local(host, lab.distmgr_path(host) + ".pre-Q244405")) == matrix.dll_sha_before[host], host
        assert lab.host_json(host)["services"] == matrix.before[host]["services"], host
        assert not lab.exists(host, pck(LEFTOVER)) and lab.exists(host, pck(ACTIVE)), host
    report = json.loads(lab.latest_report("run", "json").read_text(encoding="utf-8"))
    statuses = {h["host"]: h["status"] for h in report["hosts"]}
    assert all(statuses[h] == "ok" for h in CHILDREN), statuses
