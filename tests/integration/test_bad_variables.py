"""A wrong role variable on the command line fails remediate.yml before any host is touched, naming it."""

from __future__ import annotations

from lab_harness import SCENARIOS


def test_wrong_variable_fails_before_any_host_is_touched(lab_factory):
    lab = lab_factory(SCENARIOS / "demo.yml", "badvars")
    before = lab.state_hash()
    run = lab.playbook(extra_vars={"q244405_policy": "sometimes", "q244405_service_wait_seconds": "soon"})
    assert run.rc != 0
    out = run.stdout
    assert "value of q244405_policy must be one of: auto, report, workaround, hotfix, got: sometimes" in out, out[-3000:]
    assert "q244405_service_wait_seconds" in out
    assert "Probe each site server once" not in out, "the probe ran although the variables are wrong"
    assert all(lab.server.stats(host)["commands"] == 0 for host in lab.host_names)
    assert lab.state_hash() == before
