"""Issue 20: a missing Samba never turns the msrpc tests into skips by itself.

``require_samba`` (``smslab.samba.testing``) fails, naming the package, when Samba is missing; it skips only when
the user left the Samba tests out on purpose (``SMS_WITHOUT_SAMBA=1``) or the process is not root, each with a
reason that ``scripts/test.sh`` counts in its closing summary.
"""

from __future__ import annotations

import pytest

from smslab.samba import testing

MISSING = "smslab.samba: smbd not found; install Samba: apt-get install samba"


def outcome(monkeypatch, *, available, euid=0, without=None):
    monkeypatch.setattr(testing, "samba_available", lambda: available)
    monkeypatch.setattr(testing.os, "geteuid", lambda: euid)
    monkeypatch.delenv(testing.WITHOUT_SAMBA, raising=False)
    monkeypatch.delenv("CI", raising=False)
    if without is not None:
        monkeypatch.setenv(testing.WITHOUT_SAMBA, without)
    try:
        testing.require_samba()
    except pytest.fail.Exception as failed:
        return "failed", str(failed)
    except pytest.skip.Exception as skipped:
        return "skipped", str(skipped)
    return "runs", ""


def test_samba_missing_fails_with_the_install_command_outside_ci_too(monkeypatch):
    kind, message = outcome(monkeypatch, available=MISSING)
    assert kind == "failed"
    assert "apt-get install samba" in message and "SMS_WITHOUT_SAMBA=1" in message


def test_left_out_on_request_is_a_skip_with_that_reason(monkeypatch):
    kind, message = outcome(monkeypatch, available=MISSING, without="1")
    assert (kind, message) == ("skipped", "Samba tests left out on request (SMS_WITHOUT_SAMBA=1, scripts/test.sh "
                                          "--without-samba)")


def test_only_the_value_1_leaves_them_out(monkeypatch):
    assert outcome(monkeypatch, available=MISSING, without="0")[0] == "failed"


def test_not_root_is_a_skip_that_says_needs_root(monkeypatch):
    kind, message = outcome(monkeypatch, available=None, euid=1000)
    assert kind == "skipped" and message.startswith("needs root: ")


def test_root_with_samba_runs(monkeypatch):
    assert outcome(monkeypatch, available=None) == ("runs", "")
