"""Fixtures of the end-to-end tests; the harness itself is lab_harness.py (importable by the tests,
since a module named ``conftest`` would collide with the unit tests' conftest)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from lab_harness import demo_lab, demo_runs, lab_factory, module_lab_factory  # noqa: E402,F401 pylint: disable=unused-import
