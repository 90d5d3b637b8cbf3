"""transport_for: the host variable q244405_transport picks the implementation of the host seam."""

from __future__ import annotations

import sys
from unittest.mock import MagicMock

import pytest

from ansible_collections.sms.remediation.plugins.plugin_utils import _transport
from ansible_collections.sms.remediation.plugins.plugin_utils._transport import TransportError, transport_for
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.base import HostTransport
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.winrm import WinrmTransport


def action(check_mode=False):
    plugin = MagicMock()
    plugin._task.check_mode = check_mode
    plugin._templar.template = lambda value: value
    return plugin


def test_winrm_is_the_default():
    transport = transport_for(action(check_mode=True), {"inventory_hostname": "sms610"})
    assert isinstance(transport, WinrmTransport) and transport.name == "winrm"
    assert transport.host == "sms610" and transport.check_mode is True


@pytest.mark.parametrize("value", ["winrm", "WinRM", ""])
def test_winrm_by_name(value):
    assert transport_for(action(), {"inventory_hostname": "h", "q244405_transport": value}).name == "winrm"


@pytest.mark.parametrize("value", ["ssh", "smb", 3, ["winrm"]])
def test_an_unknown_transport_names_the_host_and_the_choices(value):
    with pytest.raises(TransportError) as exc:
        transport_for(action(), {"inventory_hostname": "sms610", "q244405_transport": value})
    assert str(exc.value).startswith("sms610: transport: q244405_transport=")
    assert "expected one of winrm, msrpc" in str(exc.value)


def test_a_transport_that_is_not_installed_fails_per_host(monkeypatch):
    # As when the msrpc package is absent from an installation: the host fails with a clear message.
    monkeypatch.setitem(sys.modules, f"{_transport.__name__}.msrpc", None)
    with pytest.raises(TransportError, match=r"^sms700: transport: q244405_transport=msrpc is not available"):
        transport_for(action(), {"inventory_hostname": "sms700", "q244405_transport": "msrpc"})


def test_the_seam_cannot_be_half_implemented():
    class Half(HostTransport):
        name = "half"

        def probe(self, parameters):
            return {}
    with pytest.raises(TypeError, match="abstract"):
        Half("h")  # pylint: disable=abstract-class-instantiated  # instantiating it is what this test checks


def test_transport_error_text():
    error = TransportError("sms610", "probe", "connection reset")
    assert str(error) == "sms610: probe: connection reset" and error.result == {}
