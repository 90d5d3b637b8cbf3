"""A packet-level SMB1 server for the logon of NT 4.0 (tests only): NEGOTIATE answered without extended security.

Samba cannot turn extended security off any more, and impacket's ``smbserver`` answers without it only when the
client does not ask for it (impacket's client always asks) and then grants every standard-security logon
unchecked. So this server answers the two requests of a logon itself, from impacket's own SMB1 structures:

- NEGOTIATE: dialect NT LM 0.12, no CAP_EXTENDED_SECURITY, flags2 without FLAGS2_EXTENDED_SECURITY, and
  ``challenge`` as the EncryptionKey (8 bytes as NT 4.0 sends; b"" = ChallengeLength 0, plain-text passwords);
- SESSION_SETUP_ANDX (WordCount 13): checks the response to the challenge (or the plain password) against the one
  account, answers STATUS_SUCCESS or STATUS_LOGON_FAILURE. ``accept`` says which responses it knows: ``"v2"``
  (NTLMv2: NTProofStr recomputed from the blob the client sent, MS-NLMP 3.3.2, as a server with
  LMCompatibilityLevel 5), ``"v1"`` (24-byte NTLMv1 only: NT 4.0 before SP4, which answers an NTLMv2 response as
  a wrong password) or ``"both"`` (NT 4.0 SP4+ by default);
- anything else: STATUS_NOT_SUPPORTED.

``broken`` makes an answer malformed on purpose: ``"short_challenge"`` (fewer challenge bytes than ChallengeLength
says), ``"negotiate_words"`` (NEGOTIATE's parameter block cut after 4 bytes), ``"session_setup"`` (a success
whose parameter block is cut short). Listens on 127.0.0.1, a port of its own;
``received`` keeps what each session setup carried.
"""

from __future__ import annotations

import socket
import socketserver
import struct
import threading

from impacket import ntlm, smb

STATUS_SUCCESS, STATUS_LOGON_FAILURE, STATUS_NOT_SUPPORTED = 0, 0xC000006D, 0xC00000BB
NT_CHALLENGE = bytes.fromhex("0123456789abcdef")
# NT 4.0 SP6a offers raw mode, large files, NT SMBs, RPC APIs, NT status codes (and Unicode, left out: impacket drops
# it for this logon anyway); never CAP_EXTENDED_SECURITY or the large read/write of Windows 2000
NT4_CAPABILITIES = (smb.SMB.CAP_RAW_MODE | smb.SMB.CAP_LARGE_FILES | smb.SMB.CAP_NT_SMBS | smb.SMB.CAP_RPC_REMOTE_APIS
                    | smb.SMB.CAP_USE_NT_ERRORS)
NT4_MAX_BUFFER = 16644
NTLMV1_RESPONSE_LENGTH = 24     # also the length of an LMv2 response


class Nt4LogonServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, user: str, password: str, challenge: bytes = NT_CHALLENGE, broken: str | None = None,
                 accept: str = "both"):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.user, self.password, self.challenge, self.broken = user, password, challenge, broken
        self.accept = accept
        self.received: list[dict] = []
        self._thread = threading.Thread(target=self.serve_forever, name="nt4-logon", daemon=True)

    @property
    def port(self) -> int:
        return self.server_address[1]

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.shutdown()
        self.server_close()
        self._thread.join(timeout=5)

    def accepts(self, ansi: bytes, unicode: bytes, domain: str) -> bool:
        if not self.challenge:
            return ansi.rstrip(b"\0") == self.password.encode("cp437")
        if len(unicode) == NTLMV1_RESPONSE_LENGTH:
            expected = ntlm.get_ntlmv1_response(ntlm.compute_nthash(self.password), self.challenge)
            return self.accept != "v2" and unicode == expected
        return self.accept != "v1" and self._ntlmv2_matches(ansi, unicode, domain)

    def _ntlmv2_matches(self, lm_response: bytes, nt_response: bytes, domain: str) -> bool:
        """MS-NLMP 3.3.2 from the server's side: the key from the account (user, password, the domain the client
        named), the NTProofStr over the challenge and the client's blob, the LMv2 over both challenges."""
        key = ntlm.NTOWFv2(self.user, self.password, domain)
        blob, client_challenge = nt_response[16:], lm_response[16:]
        return (len(lm_response) == NTLMV1_RESPONSE_LENGTH and blob[:2] == b"\x01\x01"
                and nt_response[:16] == ntlm.hmac_md5(key, self.challenge + blob)
                and lm_response[:16] == ntlm.hmac_md5(key, self.challenge + client_challenge)
                and blob[16:24] == client_challenge)


class _Handler(socketserver.BaseRequestHandler):
    server: Nt4LogonServer

    def handle(self) -> None:
        try:
            while True:
                header = _read(self.request, 4)
                (length,) = struct.unpack(">I", b"\0" + header[1:])
                request = smb.NewSMBPacket(data=_read(self.request, length))
                answer = self._answer(request)
                self.request.sendall(struct.pack(">I", len(answer)) + answer)
        except (ConnectionError, OSError):
            return

    def _answer(self, request) -> bytes:
        command = smb.SMBCommand(request["Data"][0])
        if request["Command"] == smb.SMB.SMB_COM_NEGOTIATE:
            return self._negotiate(request, command)
        if request["Command"] == smb.SMB.SMB_COM_SESSION_SETUP_ANDX and command["WordCount"] == 13:
            return self._session_setup(request, command)
        return _packet(request, STATUS_NOT_SUPPORTED, b"\0\0\0")

    def _negotiate(self, request, command) -> bytes:
        dialects = command["Data"].split(b"\x02")[1:]
        params = smb.SMBNTLMDialect_Parameters()
        params["DialectIndex"] = [d.rstrip(b"\0") for d in dialects].index(b"NT LM 0.12")
        params["SecurityMode"] = smb.SMB.SECURITY_SHARE_USER | (smb.SMB.SECURITY_AUTH_ENCRYPTED if self.server.challenge else 0)
        params["MaxMpxCount"], params["MaxNumberVcs"] = 50, 1
        params["MaxBufferSize"], params["MaxRawSize"], params["SessionKey"] = NT4_MAX_BUFFER, 65536, 0
        params["Capabilities"] = NT4_CAPABILITIES
        params["LowDateTime"] = params["HighDateTime"] = params["ServerTimeZone"] = 0
        params["ChallengeLength"] = len(self.server.challenge)
        words = params.getData()
        data = self.server.challenge + b"SMSLAB\0"
        if self.server.broken == "short_challenge":
            data = self.server.challenge[:3]
        if self.server.broken == "negotiate_words":
            return _packet(request, STATUS_SUCCESS, bytes([len(words) // 2]) + words[:4])
        return _packet(request, STATUS_SUCCESS, bytes([len(words) // 2]) + words + struct.pack("<H", len(data)) + data)

    def _session_setup(self, request, command) -> bytes:
        params = smb.SMBSessionSetupAndX_Parameters(command["Parameters"])
        data = smb.SMBSessionSetupAndX_Data(flags=request["Flags2"])
        data["AnsiPwdLength"], data["UnicodePwdLength"] = params["AnsiPwdLength"], params["UnicodePwdLength"]
        data.fromString(command["Data"])
        seen = {"account": data["Account"], "domain": data["PrimaryDomain"], "ansi": data["AnsiPwd"],
                "unicode": data["UnicodePwd"], "flags2": request["Flags2"]}
        self.server.received.append(seen)
        known = seen["account"].lower() == self.server.user.lower()
        if not known or not self.server.accepts(seen["ansi"], seen["unicode"], seen["domain"]):
            return _packet(request, STATUS_LOGON_FAILURE, b"\0\0\0")
        if self.server.broken == "session_setup":
            return _packet(request, STATUS_SUCCESS, b"\x03\xff\x00", uid=100)      # 3 words announced, 1 byte sent
        words = struct.pack("<BBHH", 0xFF, 0, 0, 0)                                  # no AndX, Action 0
        strings = b"Windows NT 4.0\0NT LAN Manager 4.0\0SMSLAB\0"
        return _packet(request, STATUS_SUCCESS, bytes([len(words) // 2]) + words + struct.pack("<H", len(strings)) + strings,
                       uid=100)


def _packet(request, status: int, body: bytes, uid: int = 0) -> bytes:
    """An SMB1 answer to ``request``: its command, tree, process and multiplex ids, an NT status, ``body``
    (word count, words, byte count, bytes). Flags2 without FLAGS2_EXTENDED_SECURITY or FLAGS2_UNICODE, as NT 4.0
    answers a client that negotiated no Unicode."""
    header = smb.NewSMBPacket()
    header["Command"] = request["Command"]
    header["ErrorClass"], header["_reserved"], header["ErrorCode"] = status & 0xFF, (status >> 8) & 0xFF, status >> 16
    header["Flags1"] = smb.SMB.FLAGS1_REPLY | smb.SMB.FLAGS1_PATHCASELESS
    header["Flags2"] = smb.SMB.FLAGS2_NT_STATUS | smb.SMB.FLAGS2_LONG_NAMES
    header["Tid"], header["Pid"], header["Mid"] = request["Tid"], request["Pid"], request["Mid"]
    header["Uid"] = uid or request["Uid"]
    return header.getData() + body


def _read(sock: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise ConnectionError("client closed")
        data += chunk
    return data
