"""NT 4.0's logon (issue 18, defect 7): NEGOTIATE without extended security, an 8-byte challenge, NTLMv2 in the
non-extended SESSION_SETUP_ANDX (``smb1_ntlmv2``), NTLMv1 through impacket's ``login_standard`` only when allowed
and NTLMv2 was refused; no challenge at all (plain-text passwords) refused unless the user opted in; a
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
@pytest.mark.parametrize("accept", ["v2", "both"])
def test_nt4_sp4_logs_on_with_ntlmv2_without_any_opt_in(dialect, accept):
    # Before: refused unless q244405_msrpc_allow_ntlmv1 was true (impacket's login_standard sends only NTLMv1).
    with Nt4LogonServer(USER, PASSWORD, accept=accept) as server:
        smb_session, warnings = session(server, dialect=dialect)
        try:
            smb_session.smb        # noqa: B018
            assert smb_session.ntlm == "NTLMv2" and smb_session.dialect_name == "NT LM 0.12 (SMB1)"
            assert smb_session.smb.getCredentials()[:3] == (USER, PASSWORD, "SMSLAB")    # DCE/RPC on pipes reads them
        finally:
            smb_session.close()
    assert len(server.received) == 1 and warnings == []
    sent = server.received[0]
    assert len(sent["ansi"]) == 24 and len(sent["unicode"]) > 24 and sent["domain"] == "SMSLAB"
    assert PASSWORD.encode() not in sent["ansi"] + sent["unicode"]


def test_the_ntlmv2_responses_follow_ms_nlmp():
    # MS-NLMP 4.2.4 test vectors (NTLMv2 authentication): User "User", Domain "Domain", Password "Password"; the
    # blob's AvPairs here are the domain's alone, so the NTProofStr is recomputed, the LMv2 response is the spec's.
    from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.smb1_ntlmv2 import ntlmv2_responses

    server_challenge, client_challenge = bytes.fromhex("0123456789abcdef"), bytes([0xAA] * 8)
    lm_response, nt_response = ntlmv2_responses("User", "Password", "Domain", server_challenge, client_challenge, b"\0" * 8)
    assert lm_response == bytes.fromhex("86c35097ac9cec102554764a57cccc19aaaaaaaaaaaaaaaa")
    key = ntlm.NTOWFv2("User", "Password", "Domain")
    assert key == bytes.fromhex("0c868a403bfd7a93a3001ef22ef02e3f")
    blob = nt_response[16:]
    assert blob == (b"\x01\x01" + b"\0" * 6 + b"\0" * 8 + client_challenge + b"\0" * 4
                    + b"\x02\x00\x0c\x00" + "Domain".encode("utf-16le") + b"\0" * 4 + b"\0" * 4)
    assert nt_response[:16] == ntlm.hmac_md5(key, server_challenge + blob)


def test_a_v1_only_server_is_refused_with_the_ntlmv1_advice():
    # NT 4.0 before SP4 answers the NTLMv2 response STATUS_LOGON_FAILURE; no NTLMv1 response is sent unless allowed.
    with Nt4LogonServer(USER, PASSWORD, accept="v1") as server:
        message = logon_error(server)
    assert message.startswith("nt4host: login: logon as SMSLAB\\smsadmin on 127.0.0.1: STATUS_LOGON_FAILURE"), message
    assert "does not accept NTLMv2" in message and "q244405_msrpc_allow_ntlmv1: true" in message
    assert len(server.received) == 1 and len(server.received[0]["unicode"]) > 24


@pytest.mark.parametrize("dialect", ["smb1", "auto"])
def test_nt4_logs_on_with_ntlmv1_when_allowed_and_ntlmv2_refused_and_warns(dialect):
    with Nt4LogonServer(USER, PASSWORD, accept="v1") as server:
        smb_session, warnings = session(server, allow_ntlmv1=True, dialect=dialect)
        try:
            smb_session.smb        # noqa: B018
            assert smb_session.ntlm == "NTLMv1" and smb_session.dialect_name == "NT LM 0.12 (SMB1)"
        finally:
            smb_session.close()
    assert [len(seen["unicode"]) > 24 for seen in server.received] == [True, False]     # NTLMv2 first
    sent = server.received[-1]
    assert sent["unicode"] == ntlm.get_ntlmv1_response(ntlm.compute_nthash(PASSWORD), server.challenge)
    assert PASSWORD.encode() not in sent["ansi"] + sent["unicode"]
    assert len(warnings) == 1 and warnings[0].startswith("nt4host: logged on with NTLMv1")


@pytest.mark.parametrize("accept", ["v2", "v1", "both"])
def test_nt4_wrong_password_is_a_logon_failure_without_ntlmv1_advice(accept):
    # With NTLMv1 allowed and tried, it is not what is missing: no advice about it.
    with Nt4LogonServer(USER, PASSWORD, accept=accept) as server:
        message = logon_error(server, "wrong", allow_ntlmv1=True)
    assert message == ("nt4host: login: logon as SMSLAB\\smsadmin on 127.0.0.1: STATUS_LOGON_FAILURE (0xc000006d): "
                       "wrong user, domain or password")
    assert len(server.received) == 2


def test_nt4_wrong_password_without_the_opt_in_sends_only_ntlmv2():
    with Nt4LogonServer(USER, PASSWORD) as server:
        message = logon_error(server, "wrong")
    assert message.startswith("nt4host: login: logon as SMSLAB\\smsadmin on 127.0.0.1: STATUS_LOGON_FAILURE")
    assert len(server.received) == 1 and len(server.received[0]["unicode"]) > 24


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
