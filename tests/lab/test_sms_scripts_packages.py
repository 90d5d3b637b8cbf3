"""The lab's twin of sms_compressed_package.ps1: remove, quarantine, restore (by path and by package ID)
and its refusals, on a host built by hand (``sms_script_host``)."""

from __future__ import annotations

import hashlib
import json
import os

import pytest

from sms_script_host import ITEM_SCHEMA, check, host_digest, make_host, run_script


# ---- compressed_package -----------------------------------------------------------------------
def package_params(mode, items, **extra):
    params = {"Mode": mode, "PackageFolders": ["D:\\SMSPKG", "E:\\SMSPKG"], "Items": items,
              "QuarantineDir": "E:\\SMSQUARANTINE", "ActiveNamespace": "root\\SMS\\site_610",
              "IdPattern": r"^[A-Za-z0-9]{3}[0-9A-Fa-f]{5}\.PCK$"}
    params.update(extra)
    return params


def test_compressed_package_refusals(tmp_path):
    state = make_host(tmp_path)
    os.symlink(state.local_path("C:\\important.dat"), state.local_path("D:\\SMSPKG\\61000014.PCK"))
    state.write_bytes("D:\\SMSPKG\\evil.txt", b"x")
    items = [
        {"id": "61000012", "path": "D:\\SMSPKG\\evil.txt"},                      # bad name
        {"id": "61000012", "path": "D:\\SMSPKG\\..\\SMS_SITE\\61000012.PCK"},    # escapes the folder
        {"id": "61000012", "path": "D:\\SMS_SITE\\61000012.PCK"},                # Sender's folder
        {"id": "61000014", "path": "D:\\SMSPKG\\61000014.PCK"},                  # symlink
        {"id": "61000013", "path": "D:\\SMSPKG\\61000013.PCK"},                  # active now
        {"id": "61000099", "path": "D:\\SMSPKG\\61000012.PCK"},                  # id does not fit the name
        {"id": "61000012", "path": "SMSPKG\\61000012.PCK"},                      # relative
        {"id": "6100001F", "path": "D:\\SMSPKG\\6100001F.PCK"},                  # not there
    ]
    before = host_digest(state)
    result, changed = run_script(state, "compressed_package", package_params("absent", items))
    assert changed is False and host_digest(state) == before
    for item in result["items"]:
        check(item, ITEM_SCHEMA)
    outcomes = [(i["outcome"], i["reason"]) for i in result["items"]]
    assert [o for o, _unused in outcomes] == ["refused"] * 7 + ["missing"]
    assert "does not match the package ID pattern" in outcomes[0][1]
    assert "not directly inside a package folder" in outcomes[1][1] and "D:\\SMS_SITE\\61000012.PCK" in outcomes[1][1]
    assert "not directly inside" in outcomes[2][1]
    assert "reparse point" in outcomes[3][1]
    assert outcomes[4][1] == "package 61000013 is active in root\\SMS\\site_610 (ActionInProgress=0)"
    assert "does not carry the package ID" in outcomes[5][1]
    assert "absolute path" in outcomes[6][1]
    assert result["manifest"] is None
    assert state.exists("C:\\important.dat") and state.exists("D:\\SMS_SITE\\61000012.PCK")


def test_compressed_package_refuses_everything_when_wmi_cannot_answer(tmp_path):
    state = make_host(tmp_path, faults={"wmi_unavailable": True})
    result, changed = run_script(state, "compressed_package",
                                 package_params("absent", [{"id": "61000012", "path": "D:\\SMSPKG\\61000012.PCK"}]))
    assert changed is False and result["items"][0]["outcome"] == "refused"
    assert "cannot re-check active packages" in result["items"][0]["reason"]
    assert state.exists("D:\\SMSPKG\\61000012.PCK")


def test_compressed_package_remove(tmp_path):
    state = make_host(tmp_path)
    content = state.read_bytes("D:\\SMSPKG\\61000012.PCK")
    # the controller's pattern names its group the .NET way, as PowerShell reads it
    result, changed = run_script(state, "compressed_package",
                                 package_params("absent", [{"id": "61000012", "path": "d:\\smspkg\\61000012.pck"}],
                                                IdPattern=r"^(?<id>[A-Za-z0-9]{3}[0-9A-Fa-f]{5})\.PCK$"))
    (item,) = result["items"]
    assert changed is True and item["outcome"] == "removed" and item["reason"] is None
    assert item["sha256"] == hashlib.sha256(content).hexdigest() and item["size"] == len(content)
    assert not state.exists("D:\\SMSPKG\\61000012.PCK")


@pytest.mark.parametrize("mode,outcome", [("absent", "would_remove"), ("quarantined", "would_quarantine")])
def test_compressed_package_check_mode_changes_nothing(tmp_path, mode, outcome):
    state = make_host(tmp_path)
    before = host_digest(state)
    items = [{"id": "61000012", "path": "D:\\SMSPKG\\61000012.PCK"},
             {"id": "6100001A", "path": "E:\\SMSPKG\\6100001A.PCK"}]
    result, changed = run_script(state, "compressed_package", package_params(mode, items), check_mode=True)
    assert [i["outcome"] for i in result["items"]] == [outcome, outcome]
    assert all(i["sha256"] for i in result["items"])
    assert changed is True                              # check mode reports what would change
    assert host_digest(state) == before


def test_quarantine_and_restore_roundtrip(tmp_path):
    state = make_host(tmp_path)
    original = state.read_bytes("D:\\SMSPKG\\61000012.PCK")
    item = {"id": "61000012", "path": "D:\\SMSPKG\\61000012.PCK"}
    result, changed = run_script(state, "compressed_package", package_params("quarantined", [item]))
    assert changed is True and result["items"][0]["outcome"] == "quarantined"
    assert result["manifest"] == "E:\\SMSQUARANTINE\\manifest.json"
    assert not state.exists(item["path"]) and state.read_bytes("E:\\SMSQUARANTINE\\61000012.PCK") == original
    manifest = json.loads(state.read_bytes(result["manifest"]))
    assert manifest == [{"id": "61000012", "original_path": "D:\\SMSPKG\\61000012.PCK",
                         "quarantine_path": "E:\\SMSQUARANTINE\\61000012.PCK",
                         "sha256": hashlib.sha256(original).hexdigest(), "size": len(original), "origin_site": "610"}]

    before = host_digest(state)
    result, changed = run_script(state, "compressed_package", package_params("restored", [item]), check_mode=True)
    assert result["items"][0]["outcome"] == "would_restore" and host_digest(state) == before

    result, changed = run_script(state, "compressed_package", package_params("restored", [item]))
    assert changed is True and result["items"][0]["outcome"] == "restored"
    assert result["items"][0]["sha256"] == hashlib.sha256(original).hexdigest()
    assert state.read_bytes(item["path"]) == original and not state.exists("E:\\SMSQUARANTINE\\61000012.PCK")
    assert json.loads(state.read_bytes(result["manifest"])) == []


def test_restore_refuses_an_existing_target_and_a_changed_copy(tmp_path):
    state = make_host(tmp_path)
    item = {"id": "61000012", "path": "D:\\SMSPKG\\61000012.PCK"}
    run_script(state, "compressed_package", package_params("quarantined", [item]))
    state.write_bytes(item["path"], b"a new copy arrived meanwhile")
    result, changed = run_script(state, "compressed_package", package_params("restored", [item]))
    assert changed is False and result["items"][0]["outcome"] == "refused"
    assert result["items"][0]["reason"] == "restore target D:\\SMSPKG\\61000012.PCK already exists"
    assert state.read_bytes(item["path"]) == b"a new copy arrived meanwhile"
    assert state.exists("E:\\SMSQUARANTINE\\61000012.PCK")

    state.remove(item["path"])
    state.write_bytes("E:\\SMSQUARANTINE\\61000012.PCK", b"tampered")
    result, changed = run_script(state, "compressed_package", package_params("restored", [item]))
    assert result["items"][0]["outcome"] == "refused" and "manifest says" in result["items"][0]["reason"]
    assert not state.exists(item["path"])


# restore with an empty path: the target is the manifest entry's original_path -------------------
QUARANTINE_MANIFEST = "E:\\SMSQUARANTINE\\manifest.json"
BY_ID = [{"id": "61000012", "path": ""}, {"id": "6100001A", "path": ""}]


def quarantine_both(state):
    """Quarantine D:\\SMSPKG\\61000012.PCK and E:\\SMSPKG\\6100001A.PCK (two package folders); their bytes."""
    originals = {"D:\\SMSPKG\\61000012.PCK": state.read_bytes("D:\\SMSPKG\\61000012.PCK"),
                 "E:\\SMSPKG\\6100001A.PCK": state.read_bytes("E:\\SMSPKG\\6100001A.PCK")}
    items = [{"id": "61000012", "path": "D:\\SMSPKG\\61000012.PCK"}, {"id": "6100001A", "path": "E:\\SMSPKG\\6100001A.PCK"}]
    result, _unused = run_script(state, "compressed_package", package_params("quarantined", items))
    assert [i["outcome"] for i in result["items"]] == ["quarantined", "quarantined"]
    assert not any(state.exists(path) for path in originals)
    return originals


def edit_manifest(state, package_id, **changes):
    entries = json.loads(state.read_bytes(QUARANTINE_MANIFEST))
    for entry in entries:
        if entry["id"] == package_id:
            entry.update(changes)
    state.write_bytes(QUARANTINE_MANIFEST, json.dumps(entries).encode("utf-8"))


def test_restore_by_id_puts_each_file_back_in_its_own_package_folder(tmp_path):
    state = make_host(tmp_path)
    originals = quarantine_both(state)
    params = package_params("restored", BY_ID)
    assert params["PackageFolders"] == ["D:\\SMSPKG", "E:\\SMSPKG"]

    before = host_digest(state)
    result, changed = run_script(state, "compressed_package", params, check_mode=True)
    assert changed is True and host_digest(state) == before
    assert [(i["outcome"], i["path"]) for i in result["items"]] == [
        ("would_restore", "D:\\SMSPKG\\61000012.PCK"), ("would_restore", "E:\\SMSPKG\\6100001A.PCK")]

    result, changed = run_script(state, "compressed_package", params)
    assert changed is True
    for item in result["items"]:
        check(item, ITEM_SCHEMA)
    assert [(i["id"], i["outcome"], i["path"], i["reason"]) for i in result["items"]] == [
        ("61000012", "restored", "D:\\SMSPKG\\61000012.PCK", None),
        ("6100001A", "restored", "E:\\SMSPKG\\6100001A.PCK", None)]
    for path, data in originals.items():
        assert state.read_bytes(path) == data
    assert [i["sha256"] for i in result["items"]] == [hashlib.sha256(d).hexdigest() for d in originals.values()]
    # each one in its own folder, not in the other one
    assert not state.exists("E:\\SMSPKG\\61000012.PCK") and not state.exists("D:\\SMSPKG\\6100001A.PCK")
    assert not state.exists("E:\\SMSQUARANTINE\\61000012.PCK") and not state.exists("E:\\SMSQUARANTINE\\6100001A.PCK")
    assert json.loads(state.read_bytes(QUARANTINE_MANIFEST)) == []

    # again: nothing left in quarantine, nothing changes
    before = host_digest(state)
    result, changed = run_script(state, "compressed_package", params)
    assert changed is False and host_digest(state) == before
    assert [(i["outcome"], i["reason"]) for i in result["items"]] == [
        ("missing", "E:\\SMSQUARANTINE\\61000012.PCK not found in quarantine"),
        ("missing", "E:\\SMSQUARANTINE\\6100001A.PCK not found in quarantine")]


def test_restore_by_id_refuses_an_existing_target_and_a_changed_copy(tmp_path):
    state = make_host(tmp_path)
    quarantine_both(state)
    state.write_bytes("E:\\SMSPKG\\6100001A.PCK", b"a new copy arrived meanwhile")
    state.write_bytes("E:\\SMSQUARANTINE\\61000012.PCK", b"tampered")
    before = host_digest(state)
    result, changed = run_script(state, "compressed_package", package_params("restored", BY_ID))
    assert changed is False and host_digest(state) == before
    (tampered, obstacle) = result["items"]
    assert tampered["outcome"] == "refused" and tampered["path"] == "D:\\SMSPKG\\61000012.PCK"
    assert tampered["reason"].startswith("sha256 of E:\\SMSQUARANTINE\\61000012.PCK is "
                                         + hashlib.sha256(b"tampered").hexdigest() + ", manifest says ")
    assert obstacle == {"id": "6100001A", "path": "E:\\SMSPKG\\6100001A.PCK", "outcome": "refused",
                        "reason": "restore target E:\\SMSPKG\\6100001A.PCK already exists", "sha256": None, "size": None}
    assert {e["id"] for e in json.loads(state.read_bytes(QUARANTINE_MANIFEST))} == {"61000012", "6100001A"}


@pytest.mark.parametrize("original_path,reason", [
    # a tampered manifest: the checks of a given path apply to the one the manifest names
    ("D:\\SMS_SITE\\61000012.PCK",
     "resolved path D:\\SMS_SITE\\61000012.PCK is not directly inside a package folder (D:\\SMSPKG, E:\\SMSPKG)"),
    ("D:\\SMSPKG\\..\\SMS_SITE\\61000012.PCK",
     "resolved path D:\\SMS_SITE\\61000012.PCK is not directly inside a package folder (D:\\SMSPKG, E:\\SMSPKG)"),
    ("C:\\WINNT\\61000012.PCK",
     "resolved path C:\\WINNT\\61000012.PCK is not directly inside a package folder (D:\\SMSPKG, E:\\SMSPKG)"),
    ("C:\\important.dat", "file name 'important.dat' does not match the package ID pattern"),
    ("E:\\SMSPKG\\6100001B.PCK", "file name '6100001B.PCK' does not carry the package ID 61000012"),
    ("\\\\EVIL\\SMSPKG\\61000012.PCK", "item needs an id and an absolute path (X:\\...)"),
    ("SMSPKG\\61000012.PCK", "item needs an id and an absolute path (X:\\...)"),
    ("", "item needs an id and an absolute path (X:\\...)"),
    (None, "item needs an id and an absolute path (X:\\...)"),
])
def test_restore_by_id_refuses_a_target_outside_the_package_folders(tmp_path, original_path, reason):
    state = make_host(tmp_path)
    quarantine_both(state)
    edit_manifest(state, "61000012", original_path=original_path)
    before = host_digest(state)
    result, changed = run_script(state, "compressed_package", package_params("restored", BY_ID[:1]))
    assert changed is False and host_digest(state) == before
    (item,) = result["items"]
    assert (item["outcome"], item["reason"]) == ("refused", reason)
    assert item["path"] == (original_path or "")
    assert state.exists("E:\\SMSQUARANTINE\\61000012.PCK")
    assert state.read_bytes("D:\\SMS_SITE\\61000012.PCK") == b"sender copy, never touch"


def test_restore_by_id_refuses_an_active_package_and_when_wmi_cannot_answer(tmp_path):
    state = make_host(tmp_path)
    quarantine_both(state)
    # 61000013 is active: an entry naming it (and its own file as target) is refused for that first
    state.write_bytes("E:\\SMSQUARANTINE\\61000013.PCK", b"PCK-61000013")
    entries = json.loads(state.read_bytes(QUARANTINE_MANIFEST))
    entries.append({"id": "61000013", "original_path": "D:\\SMSPKG\\61000013.PCK",
                    "quarantine_path": "E:\\SMSQUARANTINE\\61000013.PCK",
                    "sha256": hashlib.sha256(b"PCK-61000013").hexdigest(), "size": 12, "origin_site": "610"})
    state.write_bytes(QUARANTINE_MANIFEST, json.dumps(entries).encode("utf-8"))
    before = host_digest(state)
    result, changed = run_script(state, "compressed_package",
                                 package_params("restored", [{"id": "61000013", "path": ""}]))
    assert changed is False and host_digest(state) == before
    assert result["items"][0]["reason"] == "package 61000013 is active in root\\SMS\\site_610 (ActionInProgress=0)"

    state.faults["wmi_unavailable"] = True
    before = host_digest(state)
    result, changed = run_script(state, "compressed_package", package_params("restored", BY_ID))
    assert changed is False and host_digest(state) == before
    assert [i["outcome"] for i in result["items"]] == ["refused", "refused"]
    assert all(i["reason"].startswith("cannot re-check active packages: ") for i in result["items"])


def test_restore_by_id_without_a_manifest_entry(tmp_path):
    state = make_host(tmp_path)
    quarantine_both(state)
    # a copy in quarantine that the manifest does not list: refused, no target to check
    state.write_bytes("E:\\SMSQUARANTINE\\6100001F.PCK", b"PCK-6100001F")
    before = host_digest(state)
    items = [{"id": "6100001F", "path": ""}, {"id": "6100001E", "path": ""}, {"id": "", "path": ""}]
    result, changed = run_script(state, "compressed_package", package_params("restored", items))
    assert changed is False and host_digest(state) == before
    for item in result["items"]:
        check(item, ITEM_SCHEMA)
    assert [(i["outcome"], i["path"], i["reason"]) for i in result["items"]] == [
        ("refused", "", f"no manifest entry for 6100001F in {QUARANTINE_MANIFEST}"),
        ("missing", "", "E:\\SMSQUARANTINE\\6100001E.PCK not found in quarantine"),
        ("refused", "", "item needs an id and an absolute path (X:\\...)")]
    assert not state.exists("D:\\SMSPKG\\6100001F.PCK") and not state.exists("E:\\SMSPKG\\6100001F.PCK")

    # no manifest at all
    state.remove(QUARANTINE_MANIFEST)
    result, changed = run_script(state, "compressed_package", package_params("restored", BY_ID))
    assert changed is False
    assert [(i["outcome"], i["reason"]) for i in result["items"]] == [
        ("refused", f"no manifest entry for 61000012 in {QUARANTINE_MANIFEST}"),
        ("refused", f"no manifest entry for 6100001A in {QUARANTINE_MANIFEST}")]
    assert state.exists("E:\\SMSQUARANTINE\\61000012.PCK") and not state.exists("D:\\SMSPKG\\61000012.PCK")


def test_unreadable_manifest_refuses_each_item_and_moves_nothing(tmp_path):
    state = make_host(tmp_path)
    quarantine_both(state)
    state.write_bytes(QUARANTINE_MANIFEST, b"{not json")
    before = host_digest(state)
    result, changed = run_script(state, "compressed_package", package_params("restored", BY_ID))
    assert changed is False and host_digest(state) == before
    assert [i["outcome"] for i in result["items"]] == ["refused", "refused"]
    assert all(i["reason"].startswith("error: ") for i in result["items"])
    assert state.exists("E:\\SMSQUARANTINE\\61000012.PCK") and not state.exists("D:\\SMSPKG\\61000012.PCK")


def test_restore_with_a_path_is_unchanged_by_the_manifest_target(tmp_path):
    """A given path is the target, as before, even when the manifest names another folder."""
    state = make_host(tmp_path)
    originals = quarantine_both(state)
    result, changed = run_script(state, "compressed_package", package_params(
        "restored", [{"id": "61000012", "path": "E:\\SMSPKG\\61000012.PCK"}]))
    assert changed is True and result["items"][0]["outcome"] == "restored"
    assert result["items"][0]["path"] == "E:\\SMSPKG\\61000012.PCK"
    assert state.read_bytes("E:\\SMSPKG\\61000012.PCK") == originals["D:\\SMSPKG\\61000012.PCK"]
    assert not state.exists("D:\\SMSPKG\\61000012.PCK")
