"""The quarantine manifest over msrpc survives a cut at every step of its update (issue 18, defect 3): the
connection drops before any one of the SMB operations that change the host (and every later one fails, as
on a dead session); the next run finds every entry, of the files quarantined before and of the one moved
when the cut came, and restores them all. On the in-memory host (fake_host.py)."""

from __future__ import annotations

import pytest

from ansible_collections.sms.remediation.plugins.module_utils import sms20
from ansible_collections.sms.remediation.plugins.module_utils.host_regex import to_dotnet
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.base import TransportError
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.packages import act_on_packages
from fake_host import HOST, FakeFiles, FakeHost, key

FOLDER = "D:\\SMSPKG"
QUARANTINE = "D:\\SMSPKG-quarantine"
MANIFEST = QUARANTINE + "\\manifest.json"
IDS = ("61000012", "61000014", "61000015")
PATTERN = to_dotnet(sms20.DEFAULTS["package_file_pattern"])
CHANGES = ("write_bytes", "append_bytes", "rename", "delete", "make_dirs")


class CutFiles(FakeFiles):
    """FakeFiles whose session drops before the ``cut_at``-th change (1-based): that call and every call
    after it fail as on a dead connection. ``changes`` counts the changes asked for."""

    def __init__(self, cut_at: int | None):
        super().__init__()
        self.cut_at, self.changes, self.dead = cut_at, 0, False

    def __getattribute__(self, name):
        attribute = super().__getattribute__(name)
        if name in CHANGES or name in ("stat", "read_all", "sha256", "exists", "list_dir"):
            def call(*args, **kwargs):
                if name in CHANGES:
                    self.changes += 1
                    if self.cut_at is not None and self.changes >= self.cut_at:
                        self.dead = True
                if self.dead:
                    raise TransportError(HOST, "compressed_package", f"{name}: the connection was reset")
                return attribute(*args, **kwargs)
            return call
        return attribute


def quarantine(host, package_id):
    return act_on_packages(host, {"Mode": "quarantined", "PackageFolders": [FOLDER], "QuarantineDir": QUARANTINE,
                                  "IdPattern": PATTERN, "Items": [{"id": package_id, "path": f"{FOLDER}\\{package_id}.PCK"}]},
                           False)["items"][0]


def restore_all(host):
    return act_on_packages(host, {"Mode": "restored", "PackageFolders": [FOLDER], "QuarantineDir": QUARANTINE,
                                  "IdPattern": PATTERN, "Items": [{"id": pid} for pid in IDS]}, False)["items"]


def host_with(files: FakeFiles) -> FakeHost:
    host = FakeHost()
    host.files = files
    for package_id in IDS:
        files.add_file(f"{FOLDER}\\{package_id}.PCK", package_id.encode() * 500)
    return host


def changes_of_a_second_quarantine() -> int:
    files = CutFiles(None)
    host = host_with(files)
    assert quarantine(host, IDS[0])["outcome"] == "quarantined"
    before = files.changes
    assert quarantine(host, IDS[1])["outcome"] == "quarantined"
    return files.changes - before


@pytest.mark.parametrize("cut_before", range(1, changes_of_a_second_quarantine() + 2))
def test_a_cut_before_any_change_of_the_manifest_update_loses_no_entry(cut_before):
    files = CutFiles(None)
    host = host_with(files)
    assert quarantine(host, IDS[0])["outcome"] == "quarantined"
    files.cut_at = files.changes + cut_before            # the second quarantine is cut there
    quarantine(host, IDS[1])
    files.cut_at, files.dead = None, False               # the next run: a new connection
    quarantined = {pid for pid in IDS if key(f"{QUARANTINE}\\{pid}.PCK") in files.entries}
    assert IDS[0] in quarantined
    assert quarantine(host, IDS[2])["outcome"] == "quarantined"
    results = restore_all(host)
    assert {r["id"]: r["outcome"] for r in results if r["id"] in quarantined | {IDS[2]}} == {
        pid: "restored" for pid in quarantined | {IDS[2]}}, results
    for package_id in IDS:
        assert files.data(f"{FOLDER}\\{package_id}.PCK") == package_id.encode() * 500
    leftovers = sorted(entry["path"] for k, entry in files.entries.items() if k.startswith(key(QUARANTINE) + "\\"))
    assert leftovers == [MANIFEST], leftovers            # no .tmp or .bak once an update went through


def test_a_tmp_cut_short_while_written_is_passed_over():
    files = CutFiles(None)
    host = host_with(files)
    assert quarantine(host, IDS[0])["outcome"] == "quarantined"
    files.add_file(MANIFEST + ".tmp", b'[{"id": "61000012", "original_')
    assert quarantine(host, IDS[1])["outcome"] == "quarantined"
    assert {r["id"]: r["outcome"] for r in restore_all(host)} == {
        IDS[0]: "restored", IDS[1]: "restored", IDS[2]: "missing"}
