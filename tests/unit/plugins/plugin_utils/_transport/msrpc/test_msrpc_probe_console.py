"""The msrpc probe's console check: when WMI cannot say whether the SMS Administrator console is open, the answer
is ``console_open: null`` with a ``processes`` error naming the cause, as sms_probe.ps1's Test-ConsoleOpen answers
(decision.plan then refuses the hotfix unless allow_console_open)."""

from __future__ import annotations

import pytest

from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc import probe as probe_module
from fake_host import FakeHost


def with_console_check(answer):
    class Wmi:
        @staticmethod
        def console_check(session, process, snap_in, timeout):
            assert (process, snap_in) == ("mmc.exe", "sms.msc")
            return answer
    return Wmi


@pytest.mark.parametrize("answer, errors", [
    ({"open": None, "command_line_visible": False, "error": "sms01: wmi: RPC_S_SERVER_UNAVAILABLE"},
     [{"source": "processes", "message": "sms01: wmi: RPC_S_SERVER_UNAVAILABLE"}]),
    ({"open": None, "command_line_visible": False, "error": None},
     [{"source": "processes", "message": "Win32_Process gave no answer"}]),
    ({"open": False, "command_line_visible": True, "error": None}, []),
    ({"open": True, "command_line_visible": False, "error": None}, []),
])
def test_an_unknown_console_is_reported_with_its_cause(monkeypatch, answer, errors):
    monkeypatch.setattr(probe_module.wmi_hook, "wmi_module", lambda: with_console_check(answer))
    probe = probe_module._Probe(FakeHost(), {})
    assert probe.console_open() is answer["open"]
    assert probe.errors == errors
