# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One authenticated SMB session per host and task, shared by every msrpc operation (private to this collection).

The session negotiates the dialect the host variables ask for (``auto``: SMB2/3 when the server offers
it, else NT LM 0.12, the only dialect NT 4.0 and Windows 2000 speak), logs on with NTLMv2, without extended
security too (``smb1_ntlmv2``; NTLMv1 only when ``q244405_msrpc_allow_ntlmv1`` is true and NTLMv2 was refused,
with a warning naming the host), keeps one tree per share and one bound DCE/RPC handle per named pipe (one SMB
transact per call: ``pipe_transport``), and counts
the SMB requests and bytes it exchanges (the benchmark prints them). Every failure becomes
``TransportError(host, operation, message)`` whose message names the NT status or Win32 error (``describe``)."""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

# impacket / pefile are imported guarded: ansible-test imports every file without them, and the transport says
# what is missing before anything is used (deps.missing()).
try:
    from impacket import nt_errors, smb, smb3, system_errors
    from impacket.dcerpc.v5.rpcrt import DCERPCException, rpc_status_codes
    from impacket.nmb import NetBIOSError, NetBIOSTimeout
    from impacket.smbconnection import SessionError, SMBConnection
except ImportError:
    nt_errors = smb = smb3 = system_errors = rpc_status_codes = SMBConnection = None
    DCERPCException = NetBIOSError = NetBIOSTimeout = SessionError = type("ImpacketMissing", (Exception,), {})

from ansible_collections.sms.remediation.plugins.plugin_utils._transport.base import TransportError
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.pipe_transport import TransceiveTransport
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.settings import MsrpcSettings
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.smb1_ntlmv2 import login_ntlmv2

SMB1_DIALECT = "NT LM 0.12"          # impacket.smb.SMB_DIALECT; SMB2 dialects are MS-SMB2 2.2.3 numbers
NETBIOS_SESSION_PORT = 139
DIALECT_CODES = {"auto": None, "smb1": SMB1_DIALECT, "smb2": 0x0202, "smb3": 0x0300}
DIALECT_NAMES = {SMB1_DIALECT: "NT LM 0.12 (SMB1)", 0x0202: "SMB 2.0.2", 0x0210: "SMB 2.1",
                 0x0300: "SMB 3.0", 0x0302: "SMB 3.0.2", 0x0311: "SMB 3.1.1"}

STATUS_LOGON_FAILURE = 0xC000006D        # MS-ERREF 2.3: also what NT 4.0 before SP4 answers an NTLMv2 response
NTLM_CHALLENGE_LENGTH = 8               # the EncryptionKey of a NEGOTIATE answer without extended security (MS-CIFS 2.2.4.52.2)
# A plain-text password travels in the server's OEM code page (MS-CIFS 2.2.4.53.1 OEMPassword): cp437 on a US NT 4.0.
PLAINTEXT_CODEPAGE = "cp437"

# NT status codes that mean "this path is not there" (a missing file is an answer, not an error).
# STATUS_NO_SUCH_FILE, STATUS_OBJECT_NAME_NOT_FOUND, STATUS_OBJECT_PATH_NOT_FOUND, STATUS_NOT_FOUND (MS-ERREF 2.3)
NOT_FOUND = {0xC000000F, 0xC0000034, 0xC000003A, 0xC0000225}


def status_code(exc: BaseException) -> int | None:
    """The NT status / Win32 / RPC code an impacket exception carries, if any."""
    if isinstance(exc, SessionError):
        return exc.getErrorCode()
    if isinstance(exc, (smb.SessionError, smb3.SessionError, DCERPCException)):
        return exc.get_error_code()
    return None


def code_name(code: int | None) -> str | None:
    """``STATUS_LOGON_FAILURE``, ``ERROR_ACCESS_DENIED``, ``rpc_s_access_denied`` ... for a code."""
    if code is None:
        return None
    for table in (nt_errors.ERROR_MESSAGES, system_errors.ERROR_MESSAGES):
        if code in table:
            return table[code][0]
    return rpc_status_codes.get(code)


def _smb1_challenge(conn) -> bytes | None:
    """The challenge an SMB1 server sent without extended security (b"": none, plain-text passwords), or None
    when it negotiated extended security (NTLMSSP: impacket's login_extended)."""
    return conn.getSMBServer().get_encryption_key()


def _unreadable(exc: BaseException) -> bool:
    """True for the errors impacket raises on an answer it cannot parse (it reads fields without checking lengths)."""
    return isinstance(exc, (struct.error, ValueError, IndexError, TypeError, KeyError)) \
        or "invalid or truncated server response" in str(exc)


def _names_no_dialect(exc: BaseException) -> bool:
    """True when impacket failed on the one-word NEGOTIATE answer of a server that accepts none of the dialects
    offered (MS-CIFS 2.2.4.52.2: WordCount 1, DialectIndex 0xFFFF): it reads SecurityMode past that word."""
    return isinstance(exc, struct.error) and "SecurityMode" in str(exc)


def describe(exc: BaseException) -> str:
    """One line naming the protocol error (name and hex code) or the socket error."""
    code = status_code(exc)
    if code is not None:
        name = code_name(code) or "unknown status"
        hint = _HINTS.get(name)
        return f"{name} (0x{code:08x})" + (f": {hint}" if hint else "")
    if isinstance(exc, (socket.timeout, NetBIOSTimeout, TimeoutError)):
        return f"timed out ({exc})" if str(exc) else "timed out"
    if isinstance(exc, (OSError, NetBIOSError)):
        return f"{type(exc).__name__}: {exc}"
    return f"{type(exc).__name__}: {exc}"


_HINTS = {
    "STATUS_LOGON_FAILURE": "wrong user, domain or password",
    "STATUS_ACCOUNT_DISABLED": "the account is disabled",
    "STATUS_PASSWORD_EXPIRED": "the account's password has expired",
    "STATUS_ACCESS_DENIED": "the account lacks the right (it must be a local administrator of the site server)",
    "ERROR_ACCESS_DENIED": "the account lacks the right (it must be a local administrator of the site server)",
    "rpc_s_access_denied": "the account lacks the right (it must be a local administrator of the site server)",
    "STATUS_BAD_NETWORK_NAME": "the share does not exist (administrative shares <drive>$ must be enabled)",
    "STATUS_NOT_SUPPORTED": "the server refused the request or dialect",
}


@dataclass
class WireStats:
    """SMB messages sent and bytes each way since the session was negotiated."""
    requests: int = 0
    bytes_out: int = 0
    bytes_in: int = 0

    def as_dict(self) -> dict:
        return {"requests": self.requests, "bytes_out": self.bytes_out, "bytes_in": self.bytes_in}


class _CountingSession:
    """Wraps impacket's NetBIOS session object to count what crosses the wire."""

    def __init__(self, inner, stats: WireStats):
        self._inner = inner
        self._stats = stats

    def send_packet(self, data):
        self._stats.requests += 1
        self._stats.bytes_out += len(data)
        return self._inner.send_packet(data)

    def recv_packet(self, timeout=None):
        packet = self._inner.recv_packet(timeout)
        self._stats.bytes_in += len(packet.get_trailer())
        return packet

    def __getattr__(self, name):
        return getattr(self._inner, name)


class MsrpcSession:
    """Lazily opened: nothing touches the network until the first operation needs it."""

    def __init__(self, settings: MsrpcSettings, warn=None):
        self.settings = settings
        self.host = settings.host
        self.stats = WireStats()
        self._warn = warn or (lambda message: None)
        self._smb: SMBConnection | None = None
        self._trees: dict[str, int] = {}
        self._pipes: dict[str, object] = {}
        self.dialect_name: str | None = None
        self.ntlm: str | None = None
        self.ntlm_server_name: str | None = None     # the NetBIOS name in the server's NTLMSSP challenge
        self.wmi_cache: dict = {}       # the task's one DCOM connection to WMI (wmi.connected), closed with us

    def error(self, operation: str, message: str) -> TransportError:
        return TransportError(self.host, operation, message)

    def failure(self, operation: str, exc: BaseException, what: str = "") -> TransportError:
        prefix = f"{what}: " if what else ""
        return TransportError(self.host, operation, prefix + describe(exc))

    # ---- the SMB session -------------------------------------------------------------------
    @property
    def smb(self) -> SMBConnection:
        if self._smb is None:
            self._smb = self._connect()
        return self._smb

    def _connect(self) -> SMBConnection:
        s = self.settings
        where = f"{s.address}:{s.port}"
        try:
            # NT 4.0 has no SMB on 445 ("direct hosting" came with Windows 2000): on 139 the NetBIOS session
            # request must call a name the server answers to; *SMBSERVER is the one every Windows accepts.
            called = "*SMBSERVER" if s.port == NETBIOS_SESSION_PORT else s.address
            conn = SMBConnection(called, s.address, sess_port=s.port, timeout=s.timeout,
                                 preferredDialect=DIALECT_CODES[s.dialect])
        except (ConnectionRefusedError, TimeoutError, socket.timeout, socket.gaierror, NetBIOSTimeout) as exc:
            raise self.failure("connect", exc, f"cannot reach {where}") from None
        except Exception as exc:  # impacket fails in several ways on a negotiation the server cuts short
            if _unreadable(exc) and not _names_no_dialect(exc):
                raise self.error("connect", f"the NEGOTIATE answer of {where} could not be read: "
                                 f"{type(exc).__name__}: {exc}") from None
            if s.dialect == "smb1":
                raise self.error("connect", f"{where} refused SMB1 (NT LM 0.12): {describe(exc)}; the server "
                                 "must allow SMB1, or set q244405_msrpc_dialect to auto") from None
            if isinstance(exc, OSError):
                raise self.failure("connect", exc, f"cannot reach {where}") from None
            raise self.failure("connect", exc, f"SMB negotiation with {where} failed") from None
        self._count(conn)
        self.dialect_name = DIALECT_NAMES.get(conn.getDialect(), str(conn.getDialect()))
        self._login(conn)
        return conn

    def _count(self, conn: SMBConnection) -> None:
        inner = conn.getSMBServer()
        attribute = "_sess" if conn.getDialect() == SMB1_DIALECT else "_NetBIOSSession"
        setattr(inner, attribute, _CountingSession(getattr(inner, attribute), self.stats))

    def _login(self, conn: SMBConnection) -> None:
        s = self.settings
        smb1 = conn.getDialect() == SMB1_DIALECT
        challenge = _smb1_challenge(conn) if smb1 else None
        if challenge is not None:
            self._check_standard_security(challenge)
        password = self._login_password(challenge)
        try:
            if challenge:
                self._login_standard_security(conn)
            else:
                # impacket falls back to NTLMv1 on SMB1 unless told not to: that is the opt-in. With no challenge
                # its login_standard sends the plain password.
                conn.login(s.user, password, s.domain, ntlmFallback=smb1 and (s.allow_ntlmv1 or challenge == b""))
        except (SessionError, smb.SessionError, smb3.SessionError) as exc:
            error = self.failure("login", exc, f"logon as {s.account} on {s.address}")
            if challenge and not s.allow_ntlmv1 and status_code(exc) == STATUS_LOGON_FAILURE:
                # NT 4.0 before SP4 refuses an NTLMv2 response exactly as it refuses a wrong password
                error = self.error("login", error.message + "; or the server does not accept NTLMv2 (NT 4.0 before "
                                   "SP4, no extended security): then set q244405_msrpc_allow_ntlmv1: true for this host")
            raise error from None
        except (OSError, NetBIOSError, NetBIOSTimeout) as exc:
            raise self.failure("login", exc, f"logon as {s.account} on {s.address}") from None
        except Exception as exc:  # impacket parses the server's answers without checking them: any error is its answer
            security = "without extended security" if challenge is not None else "with extended security"
            raise self.error("login", f"logon as {s.account} on {s.address} ({security}): the server's answer could not "
                             f"be read: {type(exc).__name__}: {exc}") from None
        if challenge == b"":
            self.ntlm = "plaintext"
            return
        if challenge is None:       # NTLMSSP: impacket read the name from the challenge's target info (MS-NLMP 2.2.2.1)
            self.ntlm_server_name = conn.getServerName() or None
        server = conn.getSMBServer()
        v2 = server.doesSupportNTLMv2() if smb1 else True
        self.ntlm = "NTLMv2" if v2 else "NTLMv1"
        if not v2:
            self._warn(f"{self.host}: logged on with NTLMv1 (q244405_msrpc_allow_ntlmv1 is true): NTLMv1 responses "
                       "can be cracked offline; enable NTLMv2 on the site server (NT 4.0 SP4 or later, "
                       "LMCompatibilityLevel) and turn the option off")

    def _check_standard_security(self, challenge: bytes) -> None:
        """A server without extended security (NT 4.0): refuse what the user did not allow, naming what is missing."""
        s = self.settings
        if challenge == b"":
            if not s.allow_plaintext_password:
                raise self.error("login", f"{s.address} offers no challenge: it asks for the password in plain text "
                                 "(no extended security, ChallengeLength 0); refused: set "
                                 "q244405_msrpc_allow_plaintext_password: true for this host to send it")
            self._warn(f"{self.host}: sending the password in plain text (q244405_msrpc_allow_plaintext_password is "
                       "true): anyone on the network path can read it; turn on encrypted passwords on the server")
        elif len(challenge) != NTLM_CHALLENGE_LENGTH:
            raise self.error("login", f"{s.address} answered NEGOTIATE without extended security and a "
                             f"{len(challenge)}-byte challenge (NTLM needs {NTLM_CHALLENGE_LENGTH}): not understood")

    def _login_standard_security(self, conn: SMBConnection) -> None:
        """NTLMv2 in a SESSION_SETUP_ANDX without extended security (NT 4.0 SP4+: smb1_ntlmv2); NTLMv1 (impacket's
        login_standard) only when the user allowed it and the server refused NTLMv2."""
        s = self.settings
        try:
            login_ntlmv2(conn.getSMBServer(), s.user, s.password, s.domain)
            return
        except smb.SessionError as exc:
            if not s.allow_ntlmv1 or status_code(exc) != STATUS_LOGON_FAILURE:
                raise
        conn.login(s.user, s.password, s.domain, ntlmFallback=True)

    def _login_password(self, challenge: bytes | None):
        """The password as impacket sends it: in plain text the server's OEM code page (bytes), else the text."""
        if challenge == b"":
            try:
                return self.settings.password.encode(PLAINTEXT_CODEPAGE)
            except UnicodeEncodeError:      # its message would quote the character: say which rule, not which character
                raise self.error("login", f"the password has a character that code page {PLAINTEXT_CODEPAGE[2:]} cannot "
                                 "carry: it cannot be sent in plain text") from None
        return self.settings.password

    # ---- shares and pipes ------------------------------------------------------------------
    def tree(self, share: str, operation: str) -> int:
        key = share.upper()
        if key not in self._trees:
            try:
                self._trees[key] = self.smb.connectTree(share)
            except (SessionError, smb.SessionError, smb3.SessionError, OSError, NetBIOSError) as exc:
                raise self.failure(operation, exc, f"share \\\\{self.settings.address}\\{share}") from None
        return self._trees[key]

    def has_share(self, share: str) -> bool:
        """True when the share exists (a tree connect answers), False on STATUS_BAD_NETWORK_NAME."""
        try:
            self.tree(share, "shares")
        except TransportError as exc:
            if "STATUS_BAD_NETWORK_NAME" in exc.message:
                return False
            raise
        return True

    def list_path(self, share: str, pattern: str, operation: str) -> list:
        """impacket's ``listPath`` on this session's tree of ``share``. impacket connects a tree for every listing
        and disconnects it afterwards: two round trips each time, for a tree the session keeps anyway."""
        tid = self.tree(share, operation)
        server = self.smb.getSMBServer()
        smb1 = self.smb.getDialect() == SMB1_DIALECT
        connect, disconnect = ("tree_connect_andx", "disconnect_tree") if smb1 else ("connectTree", "disconnectTree")
        # instance attributes shadow the class's methods for this one call only
        setattr(server, connect, lambda *args, **kwargs: tid)
        setattr(server, disconnect, lambda *args, **kwargs: None)
        try:
            return self.smb.listPath(share, pattern)
        finally:
            delattr(server, connect)
            delattr(server, disconnect)

    def pipe(self, name: str, interface_uuid, operation: str):
        """A DCE/RPC handle bound to ``interface_uuid`` over ``\\pipe\\<name>`` on this session."""
        if name not in self._pipes:
            try:
                rpc = TransceiveTransport(self.settings.address, self.settings.port, filename=f"\\{name}",
                                          smb_connection=self.smb, ipc_tree=self.tree("IPC$", operation))
                dce = rpc.get_dce_rpc()
                dce.connect()
                dce.bind(interface_uuid)
            except TransportError:
                raise
            except Exception as exc:  # impacket raises several families here; all mean "pipe unusable"
                raise self.failure(operation, exc, f"\\pipe\\{name} on {self.settings.address}") from None
            self._pipes[name] = dce
        return self._pipes[name]

    def close(self) -> None:
        """Close the connection without a LOGOFF, a tree disconnect or a pipe close: each would wait for its answer
        (a round trip each, 3 to 5 per probe), and the server frees the session, its trees and open files when the
        connection ends (MS-CIFS 3.3.7.1, MS-SMB2 3.3.7.1). Nothing is in flight: every request was answered."""
        from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.wmi import close_cached
        close_cached(self)
        self._pipes.clear()
        if self._smb is not None:
            try:
                self._smb.getSMBServer().close_session()
            except Exception:  # closing: the host may be gone already
                pass
        self._smb = None
        self._trees.clear()
