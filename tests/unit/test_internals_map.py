"""docs/internals.md opens with the map of the spine and the seam: it must match the code (every file
it names exists, every step kind and every operation of the seam is on it, each step's file holds it)."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from ansible_collections.sms.remediation.plugins.module_utils.decision import STEP_KINDS
from ansible_collections.sms.remediation.plugins.plugin_utils import _steps
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.base import HostTransport

REPO = Path(__file__).resolve().parents[2]
DOC = (REPO / "docs" / "internals.md").read_text(encoding="utf-8")
MAP = DOC[:DOC.index("## Layout")]


def test_the_map_comes_first():
    assert DOC.splitlines()[2] == "## Map: one spine for one host"


def test_every_file_the_map_names_exists():
    files = set(re.findall(r"`(plugins/[\w/.]+\.py)`", MAP))
    assert files, "the map names no file"
    assert [f for f in sorted(files) if not (REPO / f).is_file()] == []


def test_every_step_kind_is_on_the_map_in_the_file_that_holds_it():
    rows = {line for line in MAP.splitlines() if line.startswith("| ")}
    for kind in STEP_KINDS:
        row = next((r for r in rows if f"`{kind}`" in r), None)
        assert row is not None, f"step {kind} is not on the map"
        path = re.search(r"`(plugins/[\w/.]+\.py)`", row).group(1)
        if kind != "refuse":
            runner = _steps._RUNNERS[kind][1]  # pylint: disable=protected-access
            target = inspect.getsource(runner) if runner.__name__ == "<lambda>" else runner.__name__
            name = re.search(r"(\w+)\(transport", target).group(1) if runner.__name__ == "<lambda>" else target
            source = (REPO / path).read_text(encoding="utf-8")
            assert f"def {name}(" in source, f"{path} does not hold the step {kind} ({name})"


def test_every_operation_of_the_seam_is_on_the_map():
    operations = [name for name, member in inspect.getmembers(HostTransport, inspect.isfunction)
                  if not name.startswith("_") and name != "error"]
    assert [name for name in operations if name not in MAP] == []
