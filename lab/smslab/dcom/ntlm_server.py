"""The server half of NTLM (MS-NLMP) for the responder's RPC binds: challenge, verify, sign and seal.

One ``NtlmServerContext`` per RPC security context (``auth_ctx_id``): the bind (or alter-context) carries
the client's NEGOTIATE, the bind-ack our CHALLENGE, AUTH3 the AUTHENTICATE. Verification recomputes the
client's response from the scenario's password with impacket's own NTLM functions: NTLMv2 unless the host
predates it, NTLMv1 (with NTLM2 session security, what NT 4.0 before SP4 speaks) only when the host allows it.

After authentication, ``unseal``/``verify`` check a request's verifier (the client's signing key and
sequence number) and ``seal``/``sign`` protect a response with the server keys, in the order MS-NLMP
3.4.3 uses and impacket's client follows (RC4 over the data, then over the checksum).
"""

from __future__ import annotations

import calendar
import hmac
import os
import struct
import time

from Cryptodome.Cipher import ARC4
from impacket import ntlm


class NtlmAuthError(Exception):
    """The AUTHENTICATE message does not prove the password (or uses a refused NTLM version)."""


_CHALLENGE_FLAGS = (ntlm.NTLMSSP_NEGOTIATE_UNICODE | ntlm.NTLMSSP_REQUEST_TARGET | ntlm.NTLMSSP_NEGOTIATE_SIGN
                    | ntlm.NTLMSSP_NEGOTIATE_SEAL | ntlm.NTLMSSP_NEGOTIATE_NTLM | ntlm.NTLMSSP_NEGOTIATE_ALWAYS_SIGN
                    | ntlm.NTLMSSP_TARGET_TYPE_SERVER | ntlm.NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY
                    | ntlm.NTLMSSP_NEGOTIATE_TARGET_INFO | ntlm.NTLMSSP_NEGOTIATE_128 | ntlm.NTLMSSP_NEGOTIATE_56
                    | ntlm.NTLMSSP_NEGOTIATE_KEY_EXCH)


class NtlmServerContext:
    def __init__(self, computer_name: str, password_for, allow_ntlmv1: bool = False, allow_ntlmv2: bool = True):
        """``password_for(user) -> str | None``: the account's password, None when there is no such user."""
        self.computer_name = computer_name.upper()
        self.password_for = password_for
        self.allow_ntlmv1 = allow_ntlmv1
        self.allow_ntlmv2 = allow_ntlmv2
        self.server_challenge = os.urandom(8)
        self.flags = 0
        self.user = None
        self.authenticated = False
        self._client_sign = self._server_sign = b""
        self._client_rc4 = self._server_rc4 = None
        self._recv_seq = self._send_seq = 0

    # ---- handshake ---------------------------------------------------------------------
    def challenge(self, negotiate: bytes) -> bytes:
        client_flags = struct.unpack("<L", negotiate[12:16])[0] if len(negotiate) >= 16 else 0
        self.flags = _CHALLENGE_FLAGS & (client_flags | ntlm.NTLMSSP_TARGET_TYPE_SERVER
                                         | ntlm.NTLMSSP_NEGOTIATE_TARGET_INFO)
        name = self.computer_name.encode("utf-16le")
        info = ntlm.AV_PAIRS()
        info[ntlm.NTLMSSP_AV_HOSTNAME] = name
        info[ntlm.NTLMSSP_AV_DOMAINNAME] = name
        info[ntlm.NTLMSSP_AV_DNS_HOSTNAME] = self.computer_name.lower().encode("utf-16le")
        info[ntlm.NTLMSSP_AV_DNS_DOMAINNAME] = self.computer_name.lower().encode("utf-16le")
        info[ntlm.NTLMSSP_AV_TIME] = struct.pack("<q", 116444736000000000 + calendar.timegm(time.gmtime()) * 10000000)
        message = ntlm.NTLMAuthChallenge()
        message["flags"] = self.flags
        message["challenge"] = self.server_challenge
        message["domain_name"] = name
        message["domain_offset"] = 48 + 8 * bool(self.flags & ntlm.NTLMSSP_NEGOTIATE_VERSION)
        message["TargetInfoFields"] = info.getData()
        message["TargetInfoFields_offset"] = message["domain_offset"] + len(name)
        message["Version"] = b""
        return message.getData()

    def authenticate(self, blob: bytes) -> None:
        message = ntlm.NTLMAuthChallengeResponse()
        message.fromString(blob)
        user = message["user_name"].decode("utf-16le")
        domain = message["domain_name"].decode("utf-16le")
        password = self.password_for(user)
        if password is None:
            raise NtlmAuthError(f"unknown user {user!r}")
        nt_response = message["ntlm"]
        if len(nt_response) > 24 and not self.allow_ntlmv2:
            raise NtlmAuthError("NTLMv2 refused (the host predates NT 4.0 SP4)")
        if len(nt_response) > 24:
            key_exchange_key = self._verify_v2(user, domain, password, nt_response)
        elif len(nt_response) == 24 and self.allow_ntlmv1:
            key_exchange_key = self._verify_v1(password, nt_response, message["lanman"])
        elif len(nt_response) == 24:
            raise NtlmAuthError("NTLMv1 refused (the host requires NTLMv2)")
        else:
            raise NtlmAuthError("anonymous logon refused")
        self.flags = message["flags"]
        if self.flags & ntlm.NTLMSSP_NEGOTIATE_KEY_EXCH and message["session_key"]:
            session_key = ARC4.new(key_exchange_key).decrypt(message["session_key"])
        else:
            session_key = key_exchange_key
        if not self.flags & ntlm.NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY:
            raise NtlmAuthError("the client refused NTLM2 session security")
        self._client_sign = ntlm.SIGNKEY(self.flags, session_key, "Client")
        self._server_sign = ntlm.SIGNKEY(self.flags, session_key, "Server")
        self._client_rc4 = ARC4.new(ntlm.SEALKEY(self.flags, session_key, "Client"))
        self._server_rc4 = ARC4.new(ntlm.SEALKEY(self.flags, session_key, "Server"))
        self.user = user
        self.authenticated = True

    def _verify_v2(self, user: str, domain: str, password: str, nt_response: bytes) -> bytes:
        response_key = ntlm.NTOWFv2(user, password, domain)
        proof = ntlm.hmac_md5(response_key, self.server_challenge + nt_response[16:])
        if not hmac.compare_digest(proof, nt_response[:16]):
            raise NtlmAuthError(f"wrong password for {user!r}")
        return ntlm.hmac_md5(response_key, proof)

    def _verify_v1(self, password: str, nt_response: bytes, lm_response: bytes) -> bytes:
        expected, _lm_expected, base_key = ntlm.computeResponseNTLMv1(
            ntlm.NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY, self.server_challenge, lm_response[:8], b"", "", "x",
            password, use_ntlmv2=False)
        if not hmac.compare_digest(expected, nt_response):
            raise NtlmAuthError("wrong password")
        return ntlm.hmac_md5(base_key, self.server_challenge + lm_response[:8])

    # ---- per-message security ----------------------------------------------------------
    def _checksum(self, key: bytes, rc4, seq: int, message: bytes) -> bytes:
        digest = ntlm.hmac_md5(key, struct.pack("<i", seq) + message)[:8]
        if self.flags & ntlm.NTLMSSP_NEGOTIATE_KEY_EXCH:
            digest = rc4.encrypt(digest)
        return struct.pack("<L", 1) + digest + struct.pack("<L", seq)

    def unseal(self, sealed: bytes, signed_with_plain, signature: bytes) -> bytes:
        """Decrypt a request's stub; ``signed_with_plain(plain)`` rebuilds the bytes the client signed."""
        plain = self._client_rc4.decrypt(sealed)
        self.verify(signed_with_plain(plain), signature)
        return plain

    def verify(self, message: bytes, signature: bytes) -> None:
        expected = self._checksum(self._client_sign, self._client_rc4, self._recv_seq, message)
        self._recv_seq += 1
        if not hmac.compare_digest(expected, signature[:16]):
            raise NtlmAuthError("request verifier does not match (bad signature or sequence number)")

    def seal(self, plain: bytes, signed_with_sealed_length) -> tuple[bytes, bytes]:
        sealed = self._server_rc4.encrypt(plain)
        return sealed, self.sign(signed_with_sealed_length(plain))

    def sign(self, message: bytes) -> bytes:
        signature = self._checksum(self._server_sign, self._server_rc4, self._send_seq, message)
        self._send_seq += 1
        return signature
