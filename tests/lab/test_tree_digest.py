"""smslab.state.tree_digest: the hash the check-mode tests compare before and after a run, so every kind
of change to a host's folder must change it (a link swapped for a copy of its target included)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "lab"))

from smslab.state import tree_digest  # noqa: E402


def make_host(root: Path) -> Path:
    (root / "fs" / "D" / "SMSPKG").mkdir(parents=True)
    (root / "fs" / "C" / "empty").mkdir(parents=True)
    (root / "fs" / "C" / "a.dat").write_bytes(b"payload")
    (root / "fs" / "C" / "b.dat").write_bytes(b"payload")
    os.symlink("../../C/a.dat", root / "fs" / "D" / "SMSPKG" / "61000014.PCK")
    return root


def link_to_copy(root: Path) -> None:
    link = root / "fs" / "D" / "SMSPKG" / "61000014.PCK"
    link.unlink()
    link.write_bytes(b"payload")


CHANGES = {
    "content rewritten, same size": lambda root: (root / "fs" / "C" / "a.dat").write_bytes(b"PAYLOAD"),
    "empty folder removed": lambda root: (root / "fs" / "C" / "empty").rmdir(),
    "file added": lambda root: (root / "fs" / "C" / "new.dat").write_bytes(b""),
    "file renamed": lambda root: (root / "fs" / "C" / "b.dat").rename(root / "fs" / "C" / "c.dat"),
    "link retargeted to an equal file": lambda root: (
        (root / "fs" / "D" / "SMSPKG" / "61000014.PCK").unlink(),
        os.symlink("../../C/b.dat", root / "fs" / "D" / "SMSPKG" / "61000014.PCK")),
    "link replaced by a copy of its target": link_to_copy,
}


def test_an_untouched_copy_hashes_the_same(tmp_path):
    original = make_host(tmp_path / "one")
    copy = tmp_path / "two"
    shutil.copytree(original, copy, symlinks=True)
    assert tree_digest(original) == tree_digest(copy)


def test_every_kind_of_change_changes_the_digest(tmp_path):
    unchanged = tree_digest(make_host(tmp_path / "base"))
    for name, change in CHANGES.items():
        root = make_host(tmp_path / name.replace(" ", "-").replace(",", ""))
        change(root)
        assert tree_digest(root) != unchanged, name
