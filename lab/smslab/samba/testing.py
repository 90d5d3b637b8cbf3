"""pytest fixtures for tests that need Samba hosts; import them into a conftest.py::

    from smslab.samba.testing import samba_lab, samba_scenario  # noqa: F401

``samba_lab`` builds ``samba_scenario`` (default: lab/scenarios/demo.yml; override the fixture to
use another scenario file or dict) into a fresh state folder, starts a SambaLab on all its hosts,
yields it and stops it, then checks that no process of it is left. Without Samba the test is
skipped, except under CI (CI=true), where that is a failure: .ci/run installs Samba.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from smslab.samba import SambaLab, samba_available
from smslab.scenario import build_state_dir

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def require_samba() -> None:
    reason = samba_available()
    if reason is None:
        return
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture
def samba_scenario():
    """The scenario the ``samba_lab`` fixture builds (a path or a dict)."""
    return SCENARIOS / "demo.yml"


@pytest.fixture
def samba_lab(samba_scenario, tmp_path):
    require_samba()
    state_dir = tmp_path / "samba-state"
    build_state_dir(samba_scenario, state_dir)
    lab = SambaLab(state_dir)
    lab.start()
    try:
        yield lab
    finally:
        lab.stop()
    left = lab.pids()
    assert not left, f"Samba processes left after stop: {left}"
