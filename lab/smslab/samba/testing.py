"""pytest fixtures for tests that need Samba hosts; import them into a conftest.py::

    from smslab.samba.testing import samba_lab, samba_scenario  # noqa: F401

``samba_lab`` builds ``samba_scenario`` (default: lab/scenarios/demo.yml; override the fixture to
use another scenario file or dict) into a fresh state folder, starts a SambaLab on all its hosts,
yields it and stops it, then checks that no process of it is left.

What happens when a test cannot run its servers (``scripts/test.sh`` installs Samba first, so none of
these is a silent gap):
- Samba is not installed: the test FAILS with the command that installs it (a missing package never
  turns the msrpc tests into skips by itself);
- the user left the Samba tests out on purpose (``SMS_WITHOUT_SAMBA=1``, ``scripts/test.sh
  --without-samba``): skipped, with that reason;
- not root (smbd runs as root; the WMI responder binds port 135): skipped with a reason that starts
  with ``needs root:``; ``scripts/test.sh`` names these tests at its start and counts them at its end.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from smslab.samba import SambaLab, samba_available
from smslab.scenario import build_state_dir

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


WITHOUT_SAMBA = "SMS_WITHOUT_SAMBA"
NEEDS_ROOT = "needs root: "


def require_root(why: str) -> None:
    """Skip, saying ``needs root: <why>``, unless this process is root."""
    if os.geteuid() != 0:
        pytest.skip(NEEDS_ROOT + why)


def require_samba() -> None:
    """Samba hosts can run here, or the test is left out for a stated reason (see the module's docstring)."""
    if os.environ.get(WITHOUT_SAMBA, "") == "1":
        pytest.skip(f"Samba tests left out on request ({WITHOUT_SAMBA}=1, scripts/test.sh --without-samba)")
    require_root("smbd of the Samba lab runs as root (it switches to the account's user for each session)")
    reason = samba_available()
    if reason is not None:
        pytest.fail(f"{reason} (scripts/os-packages.sh samba installs it; to leave these tests out on purpose: "
                    f"{WITHOUT_SAMBA}=1 or scripts/test.sh --without-samba)", pytrace=False)


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
