"""The quarantine manifest over real SMB1 (Samba, the nt4 profile) survives a cut before each change of a
quarantine (issue 18, defect 3): the msrpc transport's own file operations run against smbd, and from the
cut on every one of them fails as on a dropped session; the next run, over a new session, finds every
entry: every file that reached the quarantine is restored byte for byte, and no .tmp or .bak is left."""

from __future__ import annotations

import json
import os

from msrpc_harness import samba_site, transport

from ansible_collections.sms.remediation.plugins.module_utils import sms20
from ansible_collections.sms.remediation.plugins.module_utils.host_regex import to_dotnet
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.base import TransportError
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.packages import act_on_packages

SITE = "sms610"                 # demo.yml: NT 4.0 (profile nt4)
FOLDER, QUARANTINE = "D:\\SMSPKG", "D:\\SMSPKG-quarantine"
PATTERN = to_dotnet(sms20.DEFAULTS["package_file_pattern"])
CHANGES = ("write_bytes", "append_bytes", "rename", "delete", "make_dirs")
CUT_POINTS = 7                  # a quarantine makes 6 changes (folder, .tmp, manifest -> .bak, .tmp -> manifest,
IDS = [f"6100A{k:03X}" for k in range(CUT_POINTS + 1)]  # .bak deleted, the move); cut before each, and after all


class CutFiles:
    """The transport's SmbFiles; from the ``cut_at``-th change on (1-based), every call fails as on a dropped
    session (the call that would have made that change too)."""

    def __init__(self, files, cut_at: int):
        self.files, self.cut_at, self.changes, self.dead = files, cut_at, 0, False

    def __getattr__(self, name):
        attribute = getattr(self.files, name)
        if not callable(attribute):
            return attribute

        def call(*args, **kwargs):
            if name in CHANGES:
                self.changes += 1
                self.dead = self.dead or self.changes >= self.cut_at
            if self.dead:
                raise TransportError(SITE, "compressed_package", f"{name}: ConnectionResetError: the connection was reset")
            return attribute(*args, **kwargs)
        return call


def act(host, mode, items):
    return act_on_packages(host.ops, {"Mode": mode, "PackageFolders": [FOLDER], "QuarantineDir": QUARANTINE,
                                      "IdPattern": PATTERN, "Items": items}, False)["items"]


def test_a_cut_before_each_change_of_a_quarantine_loses_no_entry(tmp_path):
    with samba_site(tmp_path, hosts=[SITE]) as (state_dir, lab, _addresses):
        drive = state_dir / "hosts" / SITE / "fs" / "D"
        originals = {pid: os.urandom(20000 + 977 * n) for n, pid in enumerate(IDS)}
        for pid, data in originals.items():
            (drive / "SMSPKG" / f"{pid}.PCK").write_bytes(data)
        first = transport(lab, SITE, tmp_path)
        assert act(first, "quarantined", [{"id": IDS[0], "path": f"{FOLDER}\\{IDS[0]}.PCK"}])[0]["outcome"] == "quarantined"
        first.close()
        for cut_at, pid in enumerate(IDS[1:], start=1):
            host = transport(lab, SITE, tmp_path)
            files = host.ops.files = CutFiles(host.ops.files, cut_at)
            outcome = act(host, "quarantined", [{"id": pid, "path": f"{FOLDER}\\{pid}.PCK"}])[0]["outcome"]
            assert (outcome == "quarantined") == (not files.dead), (cut_at, outcome)
            host.close()
        quarantined = sorted(p.stem for p in (drive / "SMSPKG-quarantine").glob("*.PCK"))
        assert IDS[0] in quarantined and IDS[-1] in quarantined
        manifest = json.loads((drive / "SMSPKG-quarantine" / "manifest.json").read_text(encoding="utf-8"))
        assert {entry["id"] for entry in manifest} >= set(quarantined)
        last = transport(lab, SITE, tmp_path)
        restored = {item["id"]: item["outcome"] for item in act(last, "restored", [{"id": pid} for pid in quarantined])}
        last.close()
        assert restored == {pid: "restored" for pid in quarantined}, restored
        for pid, data in originals.items():
            assert (drive / "SMSPKG" / f"{pid}.PCK").read_bytes() == data, pid
        left = sorted(p.name for p in (drive / "SMSPKG-quarantine").iterdir())
        assert left == ["manifest.json"], left
        profile = lab.hosts[SITE].profile.name
    if os.environ.get("SMS_SAFETY_FIGURES"):        # scripts/safety-figures.sh prints it
        with open(os.environ["SMS_SAFETY_FIGURES"], "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"figure": "msrpc_manifest_cuts", "profile": profile, "count": CUT_POINTS,
                                     "quarantined": len(quarantined), "entries_lost": 0}) + "\n")
