"""The msrpc hotfix transaction restarts what was running on every way out (issue 18, defect 5): an exception
right after any step - a bug (RuntimeError), an impacket error that is not a TransportError, a dropped
connection (every call fails until the session is opened again), an interrupt (KeyboardInterrupt) - leaves
the services as they were and Distmgr.dll the original. On the in-memory host (fake_host.py)."""

from __future__ import annotations

import json
import os

import pytest

from test_msrpc_hotfix import FORWARD, JOURNAL, OLD, TARGET, apply, site

BEFORE = {"SMS_SITE_COMPONENT_MANAGER": "running", "SMS_EXECUTIVE": "running", "SMS_SITE_BACKUP": "stopped"}
STEPS = ["journal"] + FORWARD


class ImpacketLikeError(Exception):
    """What impacket raises where the transport does not wrap it (e.g. a struct or NDR error)."""


CASES = {"count": 0}


@pytest.fixture(scope="module", autouse=True)
def _figures():
    """scripts/safety-figures.sh prints how many ways out were tried (one JSON line in SMS_SAFETY_FIGURES)."""
    yield
    if os.environ.get("SMS_SAFETY_FIGURES") and CASES["count"]:
        with open(os.environ["SMS_SAFETY_FIGURES"], "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"figure": "msrpc_hotfix_exceptions", "profile": None, "count": CASES["count"],
                                     "services_left_stopped": 0}) + "\n")


def raise_after(step_name, exc):
    def interrupt(step):
        if step == step_name:
            raise exc
    return interrupt


@pytest.mark.parametrize("step", STEPS)
@pytest.mark.parametrize("error", [RuntimeError("a bug"), ImpacketLikeError("unpack requires a buffer of 4 bytes")],
                         ids=["bug", "impacket"])
def test_an_unexpected_exception_after_any_step_rolls_back_and_says_what_it_was(step, error):
    host = site()
    result = apply(host, interrupt=raise_after(step, error))
    assert result["outcome"] == "failed" and result["failed_step"] == step, result["steps"]
    assert type(error).__name__ in result["error"] and str(error) in result["error"]
    assert host.services.states == BEFORE, result["steps"]
    assert host.files.data(TARGET) == OLD
    assert result["journal"] == {"path": JOURNAL, "kept": False}
    CASES["count"] += 1


@pytest.mark.parametrize("step", STEPS)
def test_a_connection_dropped_after_any_step_is_opened_again_and_the_services_restarted(step):
    host = site()

    def drop(done):
        if done == step:
            host.drop(reachable=True)
    result = apply(host, interrupt=drop)
    assert host.services.states == BEFORE, result["steps"]
    assert any(s["step"] == "rollback:reconnect" and s["ok"] for s in result["steps"]), result["steps"]
    CASES["count"] += 1
    if step == "log":                   # the last step was done: the new session finds the fix complete
        assert result["outcome"] == "replaced" and host.files.data(TARGET) != OLD
        return
    assert result["outcome"] == "failed" and "connection was reset" in result["error"], result["steps"]
    assert host.files.data(TARGET) == OLD


@pytest.mark.parametrize("step", STEPS)
def test_an_interrupt_after_any_step_restarts_the_services_before_it_goes_on(step):
    host = site()
    with pytest.raises(KeyboardInterrupt):
        apply(host, interrupt=raise_after(step, KeyboardInterrupt()))
    assert host.services.states == BEFORE
    assert host.files.data(TARGET) == OLD
    assert host.files.data(JOURNAL) is not None, "the journal stays for the next run"
    CASES["count"] += 1


def test_an_unreadable_state_during_the_rollback_still_starts_the_others():
    host = site()
    original_state = host.services.state
    refusals = []

    def state(name, operation="services"):
        if name == "SMS_EXECUTIVE" and host.services.states[name] == "stopped" and not refusals:
            refusals.append(name)
            raise ValueError("a reply impacket could not decode")
        return original_state(name, operation)
    host.services.state = state
    result = apply(host, interrupt=raise_after("swap", RuntimeError("a bug")))
    assert result["outcome"] == "failed" and refusals
    assert host.services.states == BEFORE, result["steps"]


@pytest.mark.parametrize("error", [RuntimeError("a bug"), ImpacketLikeError("unpack requires a buffer of 4 bytes")],
                         ids=["bug", "impacket"])
def test_an_unexpected_exception_while_recovering_restarts_what_was_running(monkeypatch, error):
    """Mode Recover, on a host whose run was cut with the services stopped: an exception the recovery does not
    expect still starts what the journal says was running (the DLL is the original, so that is safe)."""
    from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc import hotfix_recover
    from test_msrpc_hotfix import Cut, cut_after, recover, revive

    host = site()
    with pytest.raises(Cut):
        apply(host, interrupt=cut_after("stop:SMS_EXECUTIVE", host))
    revive(host)
    assert host.services.states["SMS_EXECUTIVE"] == "stopped"

    def fails(self, journal, running):
        self.step = "recover:check"
        raise error
    monkeypatch.setattr(hotfix_recover._Recover, "steps_to_recover", fails)
    _decision, result = recover(host)
    assert result["outcome"] == "failed" and result["failed_step"] == "recover:check", result["steps"]
    assert type(error).__name__ in result["error"]
    assert host.services.states == BEFORE, result["steps"]
    assert host.files.data(TARGET) == OLD
