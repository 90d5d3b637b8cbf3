"""NT 4.0's logon (issue 18, defect 7): NEGOTIATE without extended security, an 8-byte challenge, NTLMv1 through
impacket's ``login_standard``; no challenge at all (plain-text passwords) refused unless the user opted in; a
malformed answer a TransportError naming the host and the cause. The server is ``nt4_logon_server`` (packet level:
Samba can no longer switch extended security off); the extended-security case is a real Samba host."""

from __future__ import annotations

import pytest

from msrpc_harness import samba_site, transport
from nt4_logon_server import Nt4LogonServer
from impacket import ntlm

USER, PASSWORD = "smsadmin", "Nt4-Pass-1999"


def session(server: Nt4LogonServer, password: str = PASSWORD, **variables):
    from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.connection import MsrpcSession
    from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.settings import settings_from_vars

    warnings: list[str] = []
    values = {"ansible_host": "127.0.0.1", "q244405_msrpc_port": server.port, "q244405_msrpc_user": USER,
              "q244405_msrpc_password": password, "q244405_msrpc_domain": "SMSLAB", "q244405_msrpc_timeout": 10,
              "q244405_msrpc_dialect": "smb1"}
    values.update({f"q244405_msrpc_{k}": v for k, v in variables.items()})
    result = MsrpcSession(settings_from_vars("nt4host", values), warnings.append)
    return result, warnings


def logon_error(server: Nt4LogonServer, password: str = PASSWORD, **variables) -> str:
    from ansible_collections.sms.remediation.plugins.plugin_utils._transport.base import TransportError

    smb_session, _warnings = session(server, password, **variables)
    with pytest.raises(TransportError) as caught:
        smb_session.smb        # noqa: B018 - connects and logs on
    smb_session.close()
    return str(caught.value)


@pytest.mark.parametrize("dialect", ["smb1", "auto"])
def test_nt4_logs_on_with_ntlmv1_when_allowed_and_warns(tmp_path, dialect):
    with Nt4LogonServer(USER, PASSWORD) as server:
        smb_session, warnings = session(server, allow_ntlmv1=True, dialect=dialect)
        try:
            smb_session.smb        # noqa: B018
            assert smb_session.ntlm == "NTLMv1" and smb_session.dialect_name == "NT LM 0.12 (SMB1)"
        finally:
            smb_session.close()
    sent = server.received[-1]
    assert sent["unicode"] == ntlm.get_ntlmv1_response(ntlm.compute_nthash(PASSWORD), server.challenge)
    assert PASSWORD.encode() not in sent["ansi"] + sent["unicode"]
    assert len(warnings) == 1 and warnings[0].startswith("nt4host: logged on with NTLMv1")


def test_nt4_wrong_password_is_a_logon_failure_without_ntlmv1_advice():
    with Nt4LogonServer(USER, PASSWORD) as server:
        message = logon_error(server, "wrong", allow_ntlmv1=True)
    assert message.startswith("nt4host: login: logon as SMSLAB\\smsadmin on 127.0.0.1: STATUS_LOGON_FAILURE")
    assert "allow_ntlmv1" not in message


def test_nt4_without_the_ntlmv1_opt_in_is_refused_before_any_credential_is_sent():
    # Before: the raw impacket message "Cannot authenticate against target, enable ntlm_fallback" came through only
    # by matching its text; now the negotiate answer itself is read.
    with Nt4LogonServer(USER, PASSWORD) as server:
        message = logon_error(server)
    assert message.startswith("nt4host: login: 127.0.0.1 negotiates without extended security (NT 4.0)")
    assert "q244405_msrpc_allow_ntlmv1: true" in message and "plain" not in message
    assert server.received == []


def test_a_server_offering_no_challenge_is_refused_unless_plaintext_is_allowed():
    # Before: impacket's login_standard sent the password in clear text whenever NTLMv1 was allowed, and with
    # it not allowed the error advised NTLMv1, which was not what the server lacked.
    with Nt4LogonServer(USER, PASSWORD, challenge=b"") as server:
        for variables in ({}, {"allow_ntlmv1": True}):
            message = logon_error(server, **variables)
            assert message.startswith("nt4host: login: 127.0.0.1 offers no challenge")
            assert "q244405_msrpc_allow_plaintext_password: true" in message and "ntlmv1" not in message.lower()
        assert server.received == []
        smb_session, warnings = session(server, allow_plaintext_password=True)
        try:
            smb_session.smb        # noqa: B018
            assert smb_session.ntlm == "plaintext"
        finally:
            smb_session.close()
    assert server.received[-1]["ansi"].rstrip(b"\0") == PASSWORD.encode()
    assert len(warnings) == 1 and warnings[0].startswith("nt4host: sending the password in plain text")
    with Nt4LogonServer(USER, "Pass-\u20ac", challenge=b"") as server:
        message = logon_error(server, "Pass-\u20ac", allow_plaintext_password=True)
    assert message == "nt4host: login: the password has a character that code page 437 cannot carry: it cannot be sent in plain text"


@pytest.mark.parametrize("broken, expected", [
    ("short_challenge", "nt4host: login: 127.0.0.1 answered NEGOTIATE without extended security and a 3-byte challenge"),
    ("negotiate_words", "nt4host: connect: the NEGOTIATE answer of 127.0.0.1:{port} could not be read: "),
    ("session_setup", "nt4host: login: logon as SMSLAB\\smsadmin on 127.0.0.1 (without extended security): the "
                      "server's answer could not be read: "),
])
def test_a_malformed_answer_is_a_transport_error_naming_the_host_and_cause(broken, expected):
    # Before: the session setup answer cut short came out of impacket as a raw exception, not a TransportError.
    with Nt4LogonServer(USER, PASSWORD, broken=broken) as server:
        message = logon_error(server, allow_ntlmv1=True)
    assert message.startswith(expected.format(port=server.port)), message
    assert PASSWORD not in message


def test_with_extended_security_a_wrong_password_never_advises_ntlmv1(tmp_path):
    scenario = {"seed": 3, "credentials": {"user": "Administrator", "password": "Lab-Pass-1999"},
                "sites": [{"name": "sms600", "site_code": "600", "build": "sp1", "profile": "nt4"}]}
    from ansible_collections.sms.remediation.plugins.plugin_utils._transport.base import TransportError

    with samba_site(tmp_path, scenario) as (_state_dir, lab, _wmi):
        host = transport(lab, "sms600", tmp_path, password="wrong", allow_ntlmv1=True)
        with pytest.raises(TransportError) as caught:
            host.ops.services.state("SMS_EXECUTIVE")
        host.close()
    assert "STATUS_LOGON_FAILURE" in str(caught.value) and "ntlmv1" not in str(caught.value).lower()
