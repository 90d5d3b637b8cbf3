"""No tracked text file names an absolute path of the machine it was written on: notes are cited as
``../shared/notes/...`` and tests find files relative to the repository. The paths are this machine's own
(the folders above the repository, the home folder, the temporary folder), not a list written down here."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def machine_paths() -> list[str]:
    """Absolute folders of this machine a file must not mention, each ending with '/'."""
    candidates = [ROOT.parent, Path.home(), Path(tempfile.gettempdir()), Path(tempfile.gettempdir()).resolve()]
    found = []
    for path in candidates:
        text = str(path).rstrip("/") + "/"
        if text != "/" and text not in found:
            found.append(text)
    return found


def tracked_text_files() -> dict[str, str]:
    try:
        listing = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: no list of tracked files")
    texts = {}
    for name in filter(None, listing.decode("utf-8").split("\0")):
        path = ROOT / name
        if not path.is_file() or path.is_symlink():
            continue
        data = path.read_bytes()
        if b"\0" in data:
            continue
        try:
            texts[name] = data.decode("utf-8")
        except UnicodeDecodeError:
            continue
    return texts


def offending_lines(texts: dict[str, str], forbidden: list[str]) -> list[str]:
    return [f"{name}:{number}: {line.strip()[:160]}"
            for name, text in texts.items()
            for number, line in enumerate(text.splitlines(), 1)
            if any(path in line for path in forbidden)]


def test_no_tracked_file_contains_an_absolute_path_of_this_machine():
    forbidden = machine_paths()
    assert forbidden, "no machine path to look for"
    found = offending_lines(tracked_text_files(), forbidden)
    assert found == [], f"absolute paths of this machine ({', '.join(forbidden)}) in tracked files:\n" + "\n".join(found)


def test_the_check_finds_such_a_path():
    planted = {"docs/example.md": "see " + machine_paths()[0] + "shared/notes/style.md\n"}
    assert offending_lines(planted, machine_paths()) == [f"docs/example.md:1: {planted['docs/example.md'].strip()}"]
