"""The msrpc package actions keep sms_compressed_package.ps1's promises: only plain files directly inside a
package folder, named by the pattern and their ID, not active now; the same quarantine manifest; check mode
touches nothing."""

from __future__ import annotations

import hashlib
import json

import pytest

from ansible_collections.sms.remediation.plugins.module_utils import sms20
from ansible_collections.sms.remediation.plugins.module_utils.host_regex import to_dotnet
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc import packages as packages_module
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.files import (
    FILE_ATTRIBUTE_REPARSE_POINT)
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.packages import act_on_packages
from fake_host import HOST, FakeHost

FOLDER = "D:\\SMSPKG"
QUARANTINE = "D:\\SMSPKG-quarantine"
PCK = b"compressed package bytes" * 100
PATTERN = to_dotnet(sms20.DEFAULTS["package_file_pattern"])


class NoWmi:
    @staticmethod
    def active_packages(session, site_code, timeout):
        return {"available": False, "error": f"active packages unknown: no answer from site {site_code}",
                "namespace": None, "packages": None}


class ActiveWmi:
    @staticmethod
    def active_packages(session, site_code, timeout):
        return {"available": True, "error": None, "namespace": f"root\\SMS\\site_{site_code}",
                "packages": [{"PackageID": "61000013", "ActionInProgress": 3, "SourceSite": "600"}]}


@pytest.fixture
def host():
    host = FakeHost()
    for name in ("61000012.PCK", "61000013.PCK", "60000014.PCK"):
        host.files.add_file(f"{FOLDER}\\{name}", PCK)
    return host


def act(host, mode, items, check_mode=False, namespace=None, **extra):
    return act_on_packages(host, {"Mode": mode, "PackageFolders": [FOLDER], "Items": items,
                                  "QuarantineDir": QUARANTINE if mode != "absent" else None,
                                  "ActiveNamespace": namespace, "IdPattern": PATTERN, **extra}, check_mode)


def outcome(result, package_id):
    return next(i for i in result["items"] if i["id"] == package_id)


def test_remove_then_missing(host):
    result = act(host, "absent", [{"id": "61000012", "path": f"{FOLDER}\\61000012.PCK"}])
    item = outcome(result, "61000012")
    assert item["outcome"] == "removed" and item["sha256"] == hashlib.sha256(PCK).hexdigest() and item["size"] == len(PCK)
    assert result["changed"] and host.files.data(f"{FOLDER}\\61000012.PCK") is None
    again = act(host, "absent", [{"id": "61000012", "path": f"{FOLDER}\\61000012.PCK"}])
    assert outcome(again, "61000012")["outcome"] == "missing" and not again["changed"]


def test_check_mode_answers_would_and_touches_nothing(host):
    before = host.files.snapshot()
    for mode, verb in (("absent", "would_remove"), ("quarantined", "would_quarantine")):
        result = act(host, mode, [{"id": "61000012", "path": f"{FOLDER}\\61000012.PCK"}], check_mode=True)
        assert outcome(result, "61000012")["outcome"] == verb and result["changed"]
    assert host.files.snapshot() == before and host.files.writes == 0


@pytest.mark.parametrize("item, reason", [
    ({"id": "61000012", "path": f"{FOLDER}\\..\\SMS\\61000012.PCK"}, "is not directly inside a package folder"),
    ({"id": "61000012", "path": f"{FOLDER}\\sub\\61000012.PCK"}, "is not directly inside a package folder"),
    ({"id": "61000012", "path": f"{FOLDER}\\61000013.PCK"}, "does not carry the package ID 61000012"),
    ({"id": "61000012", "path": f"{FOLDER}\\61000012.PCK.bak"}, "does not match the package ID pattern"),
    ({"id": "61000012", "path": "\\\\server\\D$\\SMSPKG\\61000012.PCK"}, "needs an id and an absolute path"),
    ({"id": "", "path": f"{FOLDER}\\61000012.PCK"}, "needs an id and an absolute path"),
])
def test_refused_items_name_their_reason_and_nothing_changes(host, item, reason):
    before = host.files.snapshot()
    result = act(host, "absent", [item])
    assert result["items"][0]["outcome"] == "refused" and reason in result["items"][0]["reason"]
    assert host.files.snapshot() == before


def test_reparse_points_and_directories_are_refused(host):
    host.files.add_file(f"{FOLDER}\\61000020.PCK", b"", attributes=FILE_ATTRIBUTE_REPARSE_POINT)
    host.files.add_dir(f"{FOLDER}\\61000021.PCK")
    result = act(host, "absent", [{"id": "61000020", "path": f"{FOLDER}\\61000020.PCK"},
                                  {"id": "61000021", "path": f"{FOLDER}\\61000021.PCK"}])
    assert [i["reason"] for i in result["items"]] == [f"{FOLDER}\\61000020.PCK is a reparse point", "not a file"]
    host.files.add_dir(FOLDER, attributes=FILE_ATTRIBUTE_REPARSE_POINT)
    result = act(host, "absent", [{"id": "61000012", "path": f"{FOLDER}\\61000012.PCK"}])
    assert result["items"][0]["reason"] == f"package folder {FOLDER} is a reparse point"
    assert host.files.data(f"{FOLDER}\\61000012.PCK") == PCK


def test_active_packages_are_rechecked_and_unknown_means_refuse_all(host, monkeypatch):
    items = [{"id": "61000012", "path": f"{FOLDER}\\61000012.PCK"}, {"id": "61000013", "path": f"{FOLDER}\\61000013.PCK"}]
    monkeypatch.setattr(packages_module.wmi_hook, "wmi_module", lambda: NoWmi)
    result = act(host, "absent", items, namespace="root\\SMS\\site_610")
    assert {i["outcome"] for i in result["items"]} == {"refused"}
    assert all(i["reason"].startswith("cannot re-check active packages: ") for i in result["items"])
    monkeypatch.setattr(packages_module.wmi_hook, "wmi_module", lambda: ActiveWmi)
    result = act(host, "absent", items, namespace="root\\SMS\\site_610")
    assert outcome(result, "61000012")["outcome"] == "removed"
    assert outcome(result, "61000013")["reason"] == "package 61000013 is active in root\\SMS\\site_610 (ActionInProgress=3)"


def test_quarantine_writes_the_scripts_manifest_and_restore_puts_it_back(host):
    result = act(host, "quarantined", [{"id": "61000012", "path": f"{FOLDER}\\61000012.PCK"}])
    assert outcome(result, "61000012")["outcome"] == "quarantined"
    assert result["manifest"] == f"{QUARANTINE}\\manifest.json"
    manifest = json.loads(host.files.data(f"{QUARANTINE}\\manifest.json"))
    assert manifest == [{"id": "61000012", "original_path": f"{FOLDER}\\61000012.PCK",
                         "quarantine_path": f"{QUARANTINE}\\61000012.PCK", "sha256": hashlib.sha256(PCK).hexdigest(),
                         "size": len(PCK), "origin_site": "610"}]
    assert list(manifest[0]) == ["id", "original_path", "quarantine_path", "sha256", "size", "origin_site"]
    again = act(host, "quarantined", [{"id": "61000012", "path": f"{FOLDER}\\61000012.PCK"}])
    assert outcome(again, "61000012")["outcome"] == "missing"
    restored = act(host, "restored", [{"id": "61000012", "path": ""}])
    item = outcome(restored, "61000012")
    assert item["outcome"] == "restored" and item["path"] == f"{FOLDER}\\61000012.PCK"
    assert host.files.data(f"{FOLDER}\\61000012.PCK") == PCK
    assert json.loads(host.files.data(f"{QUARANTINE}\\manifest.json")) == []


def test_restore_refuses_a_changed_copy_an_existing_target_and_no_entry(host):
    act(host, "quarantined", [{"id": "61000012", "path": f"{FOLDER}\\61000012.PCK"},
                              {"id": "61000013", "path": f"{FOLDER}\\61000013.PCK"}])
    host.files.add_file(f"{QUARANTINE}\\61000012.PCK", PCK + b"tampered")
    host.files.add_file(f"{FOLDER}\\61000013.PCK", b"a new copy")
    host.files.add_file(f"{QUARANTINE}\\61000099.PCK", PCK)
    result = act(host, "restored", [{"id": "61000012", "path": ""}, {"id": "61000013", "path": ""},
                                    {"id": "61000099", "path": f"{FOLDER}\\61000099.PCK"}])
    assert "manifest says" in outcome(result, "61000012")["reason"]
    assert outcome(result, "61000013")["reason"] == f"restore target {FOLDER}\\61000013.PCK already exists"
    assert outcome(result, "61000099")["reason"].startswith("no manifest entry for 61000099")
    assert not result["changed"]


@pytest.mark.parametrize("check_mode", [False, True])
def test_a_quarantine_on_another_drive_refuses_the_item_naming_host_and_cause(host, check_mode):
    before = host.files.snapshot()
    result = act_on_packages(host, {"Mode": "quarantined", "PackageFolders": [FOLDER], "IdPattern": PATTERN,
                                    "Items": [{"id": "61000012", "path": f"{FOLDER}\\61000012.PCK"}],
                                    "QuarantineDir": "C:\\Quarantine"}, check_mode)
    item = result["items"][0]
    assert item["outcome"] == "refused" and not result["changed"], item      # check mode predicts the refusal
    assert item["reason"].startswith(f"{HOST}: {FOLDER}\\61000012.PCK is on drive D: and the quarantine folder "
                                     "C:\\Quarantine on drive C:: over msrpc a move is an SMB rename, which cannot "
                                     "cross drives"), item["reason"]
    assert "use a quarantine_dir on drive D:" in item["reason"]
    assert host.files.snapshot() == before                  # nothing read into, created or moved (no C:\\Quarantine)


def test_a_restore_from_a_quarantine_on_another_drive_is_refused_naming_host_and_cause(host):
    host.files.add_file("C:\\Quarantine\\61000099.PCK", PCK)
    host.files.add_file("C:\\Quarantine\\manifest.json", json.dumps([{
        "id": "61000099", "original_path": f"{FOLDER}\\61000099.PCK", "quarantine_path": "C:\\Quarantine\\61000099.PCK",
        "sha256": hashlib.sha256(PCK).hexdigest(), "size": len(PCK), "origin_site": "610"}]).encode())
    result = act_on_packages(host, {"Mode": "restored", "PackageFolders": [FOLDER], "IdPattern": PATTERN,
                                    "Items": [{"id": "61000099", "path": ""}], "QuarantineDir": "C:\\Quarantine"}, False)
    item = result["items"][0]
    assert item["outcome"] == "refused" and item["reason"].startswith(f"{HOST}: {FOLDER}\\61000099.PCK is on drive D:")
    assert host.files.data(f"{FOLDER}\\61000099.PCK") is None and host.files.data("C:\\Quarantine\\61000099.PCK") == PCK


def test_a_manifest_write_failure_puts_the_file_back(host):
    host.files.fail[("write", f"{QUARANTINE}\\manifest.json.tmp".lower())] = "STATUS_DISK_FULL"
    result = act(host, "quarantined", [{"id": "61000012", "path": f"{FOLDER}\\61000012.PCK"}])
    assert result["items"][0]["outcome"] == "refused" and "STATUS_DISK_FULL" in result["items"][0]["reason"]
    assert host.files.data(f"{FOLDER}\\61000012.PCK") == PCK and host.files.data(f"{QUARANTINE}\\61000012.PCK") is None


def test_bad_parameters_fail_the_call():
    host = FakeHost()
    with pytest.raises(Exception, match="QuarantineDir is required for Mode quarantined"):
        act_on_packages(host, {"Mode": "quarantined", "PackageFolders": [FOLDER], "Items": []}, False)
    with pytest.raises(Exception, match="invalid IdPattern"):
        act_on_packages(host, {"Mode": "absent", "PackageFolders": [FOLDER], "Items": [], "IdPattern": "("}, False)
