"""Which failures of IRemoteSCMActivator make the msrpc transport try IActivation (NT 4.0), and which do not."""

from __future__ import annotations

import pytest
from impacket.dcerpc.v5.dcomrt import DCERPCSessionError
from impacket.dcerpc.v5.rpcrt import DCERPCException

from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc import activation


@pytest.mark.parametrize("exc", [
    DCERPCException("Bind context 1 rejected: provider_rejection; abstract_syntax_not_supported (this usually means "
                    "the interface isn't listening on the given endpoint)"),
    DCERPCException(error_code=0x1C010003),                   # nca_s_unk_if
    DCERPCException(error_code=0x000006B5),                   # RPC_S_UNKNOWN_IF
])
def test_an_unknown_interface_means_try_iactivation(exc):
    assert activation.bind_refused(exc)


@pytest.mark.parametrize("exc", [
    DCERPCSessionError(error_code=0x80070005),                # E_ACCESSDENIED: the activation itself was refused
    DCERPCException("rpc_s_access_denied"),
    ConnectionRefusedError(111, "Connection refused"),
])
def test_other_failures_are_not_a_reason_to_fall_back(exc):
    assert not activation.bind_refused(exc)


def test_levels_are_the_rpc_numbers():
    assert [activation.level_number(name) for name in ("connect", "PKT_INTEGRITY", "pkt_privacy")] == [2, 5, 6]
    with pytest.raises(KeyError):
        activation.level_number("none")
