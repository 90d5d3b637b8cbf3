"""Issue 6, part 6: every file the quarantine moves comes back from its manifest, sha256-checked.

End to end with the module alone (sms.remediation.compressed_package), on the demo lab:
1. state=quarantined on every child: each confirmed leftover is moved, with a manifest entry whose
   sha256 and size are the original file's;
2. state=restored while one restore target already exists again and one quarantined copy was altered:
   both are refused (nothing overwritten, the quarantined copies and their entries stay), all the
   others come back byte-identical;
3. the obstacle is removed and the altered copy repaired: a second restore brings back the rest.
At the end every .PCK that existed before is back, byte for byte, and the manifests are empty.
(tests/integration/test_policies.py covers quarantine through the role and a repeated restore.)

test_restore_with_two_package_folders: a child site with package folders on D: and E:; each file
goes back to the folder it was quarantined from (its manifest entry's original_path).
"""

from __future__ import annotations

import hashlib
import json

import yaml

from lab_harness import SCENARIOS

QDIR = "D:\\SMSPKG-Q244405"
CHILDREN = ["sms610", "sms620", "sms630"]
EXPECTED = {"sms610": {"60000012", "60000014"}, "sms620": {"60000012", "60000015"}, "sms630": {"60000016"}}
OBSTACLE = ("sms610", "60000014")        # a file re-appears at the restore target
ALTERED = ("sms620", "60000015")         # the quarantined copy is altered


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def pck_files(lab, host) -> dict:
    return {p.name.upper(): sha256_bytes(p.read_bytes()) for p in lab.local(host, "D:\\SMSPKG").glob("*")
            if p.is_file()}


def manifest(lab, host) -> list:
    path = lab.local(host, QDIR + "\\manifest.json")
    text = path.read_text(encoding="utf-8-sig") if path.is_file() else "[]"
    return json.loads(text) if text.strip() else []


def playbook(tmp_path, name, tasks) -> str:
    plays = [{"hosts": "all", "gather_facts": False, "tasks": [
        {"name": "Facts of every site (the origin evidence)", "sms.remediation.site_facts": {}}]},
        {"hosts": ",".join(CHILDREN), "gather_facts": False, "tasks": tasks}]
    path = tmp_path / name
    path.write_text(yaml.safe_dump(plays, sort_keys=False), encoding="utf-8")
    return path


def outcomes_of(run) -> dict:
    """{host: result} of the registered compressed_package task, from the debug task's output."""
    found = {}
    for block in run.stdout.split("ok: [")[1:]:
        host, _sep, rest = block.partition("]")
        if "\"q\":" in rest:
            body = rest[rest.index("{"):]
            depth = 0
            for index, char in enumerate(body):
                depth += char == "{"
                depth -= char == "}"
                if depth == 0:
                    found[host] = json.loads(body[:index + 1])["q"]
                    break
    return found


def _task(state, packages=None):
    args = {"state": state, "quarantine_dir": QDIR}
    if packages is not None:
        args["packages"] = packages
    return [{"name": f"compressed_package state={state}", "sms.remediation.compressed_package": args,
             "register": "q"}, {"name": "Show", "ansible.builtin.debug": {"var": "q"}}]


def test_quarantine_then_restore_every_file_with_sha256(lab_factory, tmp_path):
    lab = lab_factory(SCENARIOS / "demo.yml", "quarantine")
    lab.env["ANSIBLE_STDOUT_CALLBACK"] = "default"
    lab.env["ANSIBLE_CALLBACK_RESULT_FORMAT"] = "json"
    before = {h: pck_files(lab, h) for h in CHILDREN}

    # 1. quarantine
    run = lab.playbook(playbook=playbook(tmp_path, "q.yml", _task("quarantined")), hotfix_files=False)
    assert run.rc == 0, run.stdout[-4000:]
    for host in CHILDREN:
        entries = {e["id"]: e for e in manifest(lab, host)}
        assert set(entries) == EXPECTED[host], (host, entries)
        for package_id, entry in entries.items():
            name = f"{package_id}.PCK"
            assert not lab.exists(host, f"D:\\SMSPKG\\{name}"), (host, name)
            moved = lab.local(host, f"{QDIR}\\{name}").read_bytes()
            assert sha256_bytes(moved) == entry["sha256"].lower() == before[host][name], (host, name)
            assert entry["size"] == len(moved) and entry["original_path"].upper() == f"D:\\SMSPKG\\{name}"

    # 2. obstacles: a file at one restore target, an altered quarantined copy
    lab.stop()
    obstacle = lab.local(OBSTACLE[0], f"D:\\SMSPKG\\{OBSTACLE[1]}.PCK")
    obstacle.write_bytes(b"a new file that must not be overwritten")
    altered = lab.local(ALTERED[0], f"{QDIR}\\{ALTERED[1]}.PCK")
    good_bytes = altered.read_bytes()
    altered.write_bytes(good_bytes[:-1] + bytes([good_bytes[-1] ^ 0xFF]))
    lab.start()
    ids = json.dumps({h: sorted(EXPECTED[h]) for h in CHILDREN})
    restore = _task("restored", packages="{{ (%s)[inventory_hostname] }}" % ids)
    run = lab.playbook(playbook=playbook(tmp_path, "r1.yml", restore), hotfix_files=False)
    assert run.rc == 0, run.stdout[-4000:]
    results = outcomes_of(run)
    assert set(results) == set(CHILDREN), run.stdout[-4000:]
    refused = {(h, r["id"]): r["reason"] for h, res in results.items() for r in res["refused"]}
    assert set(refused) == {OBSTACLE, ALTERED}, refused
    assert "already exists" in refused[OBSTACLE]
    assert "sha256" in refused[ALTERED] and "manifest" in refused[ALTERED]
    assert obstacle.read_bytes() == b"a new file that must not be overwritten"
    assert lab.exists(OBSTACLE[0], f"{QDIR}\\{OBSTACLE[1]}.PCK")
    assert {e["id"] for e in manifest(lab, OBSTACLE[0])} == {OBSTACLE[1]}
    assert {e["id"] for e in manifest(lab, ALTERED[0])} == {ALTERED[1]}
    for host in CHILDREN:
        for package_id in EXPECTED[host] - {OBSTACLE[1] if host == OBSTACLE[0] else "", ALTERED[1] if host == ALTERED[0] else ""}:
            name = f"{package_id}.PCK"
            assert pck_files(lab, host)[name] == before[host][name], (host, name)
            assert package_id in results[host]["restored"], (host, results[host])

    # 3. remove the obstacle, repair the copy: the rest comes back
    lab.stop()
    obstacle.unlink()
    altered.write_bytes(good_bytes)
    lab.start()
    run = lab.playbook(playbook=playbook(tmp_path, "r2.yml", restore), hotfix_files=False)
    assert run.rc == 0, run.stdout[-4000:]
    for host in CHILDREN:
        assert pck_files(lab, host) == before[host], host
        assert manifest(lab, host) == [], host
        assert not list(lab.local(host, QDIR).glob("*.PCK")), host


# A child whose leftovers are spread over two package folders (the scenario puts a package on
# D: or E: by its ID): 60000014 and 60000015 on D:, 60000012 and 6000001A on E:.
TWO_FOLDERS = {
    "seed": 244405,
    "credentials": {"user": "Administrator", "password": "Lab-Pass-1999"},
    "sites": [
        {"name": "sms600", "site_code": "600", "build": "sp2", "logging": "on",
         "packages": {"active": ["60000001"]}},
        {"name": "sms610", "site_code": "610", "parent": "600", "build": "sp1", "logging": "on",
         "drives": ["D", "E"],
         "packages": {"active": ["61000001"],
                      "leftovers": [{"id": pid, "log_claim": True}
                                    for pid in ("60000012", "60000014", "60000015", "6000001A")]}},
    ],
}
TWO_FOLDER_IDS = {"60000012": "E", "60000014": "D", "60000015": "D", "6000001A": "E"}


def pck_files_on(lab, host, drives) -> dict:
    """{'<drive>:\\SMSPKG\\<NAME>': sha256} of every file in those package folders."""
    found = {}
    for drive in drives:
        folder = lab.local(host, f"{drive}:\\SMSPKG")
        for path in folder.glob("*") if folder.is_dir() else []:
            if path.is_file():
                found[f"{drive}:\\SMSPKG\\{path.name.upper()}"] = sha256_bytes(path.read_bytes())
    return found


def test_restore_with_two_package_folders(lab_factory, tmp_path):
    lab = lab_factory(TWO_FOLDERS, "two-folders")
    lab.env["ANSIBLE_STDOUT_CALLBACK"] = "default"
    lab.env["ANSIBLE_CALLBACK_RESULT_FORMAT"] = "json"
    before = pck_files_on(lab, "sms610", "DE")
    wanted = {f"{drive}:\\SMSPKG\\{pid}.PCK" for pid, drive in TWO_FOLDER_IDS.items()}
    assert wanted <= set(before), before        # both folders hold leftovers

    def plays(name, tasks):
        path = tmp_path / name
        path.write_text(yaml.safe_dump([
            {"hosts": "all", "gather_facts": False, "tasks": [
                {"name": "Facts of every site (the origin evidence)", "sms.remediation.site_facts": {}}]},
            {"hosts": "sms610", "gather_facts": False, "tasks": tasks}], sort_keys=False), encoding="utf-8")
        return path

    # 1. quarantine: the manifest records where each one came from, on both drives
    run = lab.playbook(playbook=plays("q.yml", _task("quarantined")), hotfix_files=False)
    assert run.rc == 0, run.stdout[-4000:]
    assert sorted(outcomes_of(run)["sms610"]["quarantined"]) == sorted(TWO_FOLDER_IDS), run.stdout[-4000:]
    entries = {e["id"]: e for e in manifest(lab, "sms610")}
    assert {pid: e["original_path"].upper() for pid, e in entries.items()} == {
        pid: f"{drive}:\\SMSPKG\\{pid}.PCK" for pid, drive in TWO_FOLDER_IDS.items()}
    assert not wanted & set(pck_files_on(lab, "sms610", "DE"))

    # 2. restore by ID: each file goes back to its own folder, byte for byte
    restore = _task("restored", packages=sorted(TWO_FOLDER_IDS))
    run = lab.playbook(playbook=plays("r.yml", restore), hotfix_files=False)
    assert run.rc == 0, run.stdout[-4000:]
    result = outcomes_of(run)["sms610"]
    assert sorted(result["restored"]) == sorted(TWO_FOLDER_IDS) and result["refused"] == [], result
    assert {o["id"]: o["path"].upper() for o in result["outcomes"]} == {
        pid: f"{drive}:\\SMSPKG\\{pid}.PCK" for pid, drive in TWO_FOLDER_IDS.items()}
    assert pck_files_on(lab, "sms610", "DE") == before
    assert manifest(lab, "sms610") == []
    assert not list(lab.local("sms610", QDIR).glob("*.PCK"))

    # 3. again: nothing left in quarantine, nothing changes, nothing fails
    run = lab.playbook(playbook=plays("r2.yml", restore), hotfix_files=False)
    assert run.rc == 0, run.stdout[-4000:]
    result = outcomes_of(run)["sms610"]
    assert result["changed"] is False and sorted(result["missing"]) == sorted(TWO_FOLDER_IDS), result
    assert pck_files_on(lab, "sms610", "DE") == before
