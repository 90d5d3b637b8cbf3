"""Connection-oriented DCE/RPC (MS-RPCE) for one TCP connection: bind, alter-context, AUTH3, requests.

impacket's ``DCERPCServer`` is single-threaded and does no NTLM, so this module serves the PDUs itself with
impacket's structures (``MSRPCBindAck``, ``SEC_TRAILER``): presentation contexts (one per bound
interface), NTLM security contexts per ``auth_ctx_id`` (``NtlmServerContext``) at the CONNECT, PKT_INTEGRITY
or PKT_PRIVACY level, request fragments reassembled and checked, responses fragmented to the client's
``max_rfrag`` and signed or sealed like the request. A failed logon answers the next call with the fault
``rpc_s_access_denied`` (0x5), as Windows does.

``dispatch(iface, opnum, object_uuid, stub, caller) -> bytes`` does the work; it raises ``RpcFault`` for a
fault PDU. ``caller`` is the authenticated user name.
"""

from __future__ import annotations

import logging
import socket
import struct

from impacket.dcerpc.v5 import rpcrt
from impacket.dcerpc.v5.rpcrt import MSRPCBindAck, SEC_TRAILER

from smslab.dcom.ntlm_server import NtlmAuthError, NtlmServerContext

LOG = logging.getLogger(__name__)

RPC_S_ACCESS_DENIED = 0x00000005
NCA_S_OP_RNG_ERROR = 0x1C010002
NCA_S_UNKNOWN_IF = 0x1C010003
NCA_S_PROTO_ERROR = 0x1C01000B
E_FAIL = 0x80004005
_NDR_SYNTAX = rpcrt.uuidtup_to_bin(("8a885d04-1ceb-11c9-9fe8-08002b104860", "2.0"))
_HEADER = struct.Struct("<BBBBLHHL")            # common header, 16 bytes
_MAX_FRAGMENT = 4280


class RpcFault(Exception):
    def __init__(self, status: int, reason: str = ""):
        super().__init__(f"fault 0x{status:08x} {reason}".strip())
        self.status = status


class RpcConnection:
    """Serves one accepted socket until the client closes it or ``stop`` is set."""

    def __init__(self, sock: socket.socket, dispatch, interfaces: set, computer_name: str, password_for,
                 ntlm_versions: tuple[bool, bool], stop):
        self.sock = sock
        self.dispatch = dispatch
        self.interfaces = interfaces
        self.computer_name = computer_name
        self.password_for = password_for
        self.ntlm_versions = ntlm_versions          # (NTLMv1 accepted, NTLMv2 accepted)
        self.stop = stop
        self.contexts: dict[int, bytes] = {}                        # p_cont_id -> abstract syntax
        self.security: dict[int, tuple[NtlmServerContext, int]] = {}  # auth_ctx_id -> (ntlm, level)
        self.max_xmit = _MAX_FRAGMENT
        self._fragments: dict[int, bytearray] = {}

    # ---- socket ------------------------------------------------------------------------
    def _read_exact(self, count: int) -> bytes | None:
        data = bytearray()
        while len(data) < count:
            chunk = self.sock.recv(count - len(data))
            if not chunk:
                return None
            data += chunk
        return bytes(data)

    def serve(self) -> None:
        try:
            while not self.stop.is_set():
                head = self._read_exact(16)
                if head is None:
                    return
                frag_len = _HEADER.unpack(head)[5]
                rest = self._read_exact(frag_len - 16)
                if rest is None:
                    return
                self._handle(head + rest)
        except (OSError, ConnectionError):
            return
        finally:
            try:
                self.sock.close()
            except OSError:
                pass

    def _handle(self, pdu: bytes) -> None:
        _vers, _vers_minor, ptype, flags, _drep, _frag_len, auth_len, call_id = _HEADER.unpack(pdu[:16])
        if ptype in (rpcrt.MSRPC_BIND, rpcrt.MSRPC_ALTERCTX):
            self._bind(pdu, ptype, call_id, auth_len)
        elif ptype == rpcrt.MSRPC_AUTH3:
            self._auth3(pdu, auth_len)
        elif ptype == rpcrt.MSRPC_REQUEST:
            self._request(pdu, flags, call_id, auth_len)
        else:
            LOG.debug("ignoring PDU type %d", ptype)

    # ---- binding -----------------------------------------------------------------------
    @staticmethod
    def _trailer(pdu: bytes, auth_len: int) -> tuple[SEC_TRAILER, bytes, int]:
        start = len(pdu) - auth_len - 8
        return SEC_TRAILER(pdu[start:start + 8]), pdu[start + 8:], start

    def _bind(self, pdu: bytes, ptype: int, call_id: int, auth_len: int) -> None:
        body_end = len(pdu) - (auth_len + 8 if auth_len else 0)
        body = pdu[16:body_end]
        max_tfrag, max_rfrag, assoc_group, ctx_num = struct.unpack("<HHLB", body[:9])
        self.max_xmit = min(max_rfrag or _MAX_FRAGMENT, _MAX_FRAGMENT)
        results, offset = b"", 12
        for _context_item in range(ctx_num):
            ctx_id, n_transfer = struct.unpack("<HB", body[offset:offset + 3])
            abstract = body[offset + 4:offset + 24]
            transfers = [body[offset + 24 + 20 * i: offset + 44 + 20 * i] for i in range(n_transfer)]
            offset += 24 + 20 * n_transfer
            if abstract not in self.interfaces:
                results += struct.pack("<HH", 2, 1) + b"\x00" * 20        # provider rejection, abstract syntax
            elif _NDR_SYNTAX not in transfers:
                results += struct.pack("<HH", 2, 2) + b"\x00" * 20        # transfer syntax not supported
            else:
                self.contexts[ctx_id] = abstract
                results += struct.pack("<HH", 0, 0) + _NDR_SYNTAX
        ack = MSRPCBindAck()
        ack["type"] = rpcrt.MSRPC_BINDACK if ptype == rpcrt.MSRPC_BIND else rpcrt.MSRPC_ALTERCTX_R
        ack["flags"] = rpcrt.PFC_FIRST_FRAG | rpcrt.PFC_LAST_FRAG
        ack["call_id"] = call_id
        ack["max_tfrag"] = ack["max_rfrag"] = _MAX_FRAGMENT
        ack["assoc_group"] = assoc_group or 0x53F0
        ack["SecondaryAddr"] = "135"
        ack["SecondaryAddrLen"] = 4
        ack["Pad"] = b"\x00" * ((4 - ((4 + MSRPCBindAck._SIZE) % 4)) % 4)
        ack["ctx_num"] = ctx_num
        ack["ctx_items"] = results
        if auth_len:
            trailer, token, _trailer_start = self._trailer(pdu, auth_len)
            if trailer["auth_type"] != rpcrt.RPC_C_AUTHN_WINNT:
                self._send_fault(call_id, 0, RPC_S_ACCESS_DENIED)
                return
            ntlm = NtlmServerContext(self.computer_name, self.password_for, *self.ntlm_versions)
            self.security[trailer["auth_ctx_id"]] = (ntlm, trailer["auth_level"])
            answer = SEC_TRAILER()
            answer["auth_type"] = rpcrt.RPC_C_AUTHN_WINNT
            answer["auth_level"] = trailer["auth_level"]
            answer["auth_ctx_id"] = trailer["auth_ctx_id"]
            ack["sec_trailer"] = answer.getData()
            ack["auth_data"] = ntlm.challenge(token)
            ack["auth_len"] = len(ack["auth_data"])
        ack["frag_len"] = 0
        ack["frag_len"] = len(ack.getData())
        self.sock.sendall(ack.getData())

    def _auth3(self, pdu: bytes, auth_len: int) -> None:
        trailer, token, _trailer_start = self._trailer(pdu, auth_len)
        entry = self.security.get(trailer["auth_ctx_id"])
        if entry is None:
            return
        try:
            entry[0].authenticate(token)
        except NtlmAuthError as exc:
            LOG.info("%s: logon refused: %s", self.computer_name, exc)

    # ---- calls -------------------------------------------------------------------------
    def _request(self, pdu: bytes, flags: int, call_id: int, auth_len: int) -> None:
        alloc_hint, ctx_id, opnum = struct.unpack("<LHH", pdu[16:24])
        stub_start = 24
        object_uuid = None
        if flags & rpcrt.PFC_OBJECT_UUID:
            object_uuid = pdu[24:40]
            stub_start = 40
        security = None
        if auth_len:
            trailer, signature, stub_end = self._trailer(pdu, auth_len)
            entry = self.security.get(trailer["auth_ctx_id"])
            if entry is None or not entry[0].authenticated:
                self._send_fault(call_id, ctx_id, RPC_S_ACCESS_DENIED)
                return
            security = (entry[0], entry[1], trailer)
            stub = pdu[stub_start:stub_end]
            try:
                stub = self._unprotect(pdu, stub_start, stub_end, stub, signature, entry)
            except NtlmAuthError as exc:
                LOG.info("%s: %s", self.computer_name, exc)
                self._send_fault(call_id, ctx_id, RPC_S_ACCESS_DENIED)
                return
            if trailer["auth_pad_len"]:
                stub = stub[:-trailer["auth_pad_len"]]
        else:
            # RPC_C_AUTHN_LEVEL_CONNECT: the bind authenticated, the calls carry no verifier.
            connect = [entry for entry in self.security.values()
                       if entry[0].authenticated and entry[1] == rpcrt.RPC_C_AUTHN_LEVEL_CONNECT]
            if not connect:
                self._send_fault(call_id, ctx_id, RPC_S_ACCESS_DENIED)
                return
            security = (connect[-1][0], connect[-1][1], None)
            stub = pdu[stub_start:]
        buffer = self._fragments.setdefault(call_id, bytearray())
        buffer += stub
        if not flags & rpcrt.PFC_LAST_FRAG:
            return
        stub = bytes(self._fragments.pop(call_id))
        iface = self.contexts.get(ctx_id)
        if iface is None:
            self._send_fault(call_id, ctx_id, NCA_S_UNKNOWN_IF)
            return
        try:
            answer = self.dispatch(iface, opnum, object_uuid, stub, security[0].user)
        except RpcFault as fault:
            self._send_fault(call_id, ctx_id, fault.status)
            return
        except Exception:                           # noqa: BLE001 - a lab bug answers a fault, not a hang
            LOG.exception("%s: opnum %d failed", self.computer_name, opnum)
            self._send_fault(call_id, ctx_id, E_FAIL)
            return
        if answer is None:          # the call never answers (a fault injected by the host state)
            return
        self._send_response(call_id, ctx_id, answer, security)

    @staticmethod
    def _unprotect(pdu, stub_start, stub_end, stub, signature, entry) -> bytes:
        ntlm, level = entry
        if level >= rpcrt.RPC_C_AUTHN_LEVEL_PKT_PRIVACY:
            return ntlm.unseal(stub, lambda plain: pdu[:stub_start] + plain + pdu[stub_end:-len(signature)],
                               signature)
        if level >= rpcrt.RPC_C_AUTHN_LEVEL_PKT_INTEGRITY:
            ntlm.verify(pdu[:-len(signature)], signature)
        return stub

    def _send_response(self, call_id: int, ctx_id: int, answer: bytes, security) -> None:
        ntlm, level, trailer = security
        protected = level >= rpcrt.RPC_C_AUTHN_LEVEL_PKT_INTEGRITY
        room = (self.max_xmit - 24 - (8 + 16 if protected else 0)) & ~3
        chunks = [answer[i:i + room] for i in range(0, len(answer), room)] or [b""]
        for index, chunk in enumerate(chunks):
            last = index == len(chunks) - 1
            flags = (rpcrt.PFC_FIRST_FRAG if index == 0 else 0) | (rpcrt.PFC_LAST_FRAG if last else 0)
            body = struct.pack("<LHBB", len(answer) - index * room, ctx_id, 0, 0)
            if not protected:
                frag = _HEADER.pack(5, 0, rpcrt.MSRPC_RESPONSE, flags, 0x10, 24 + len(chunk), 0, call_id)
                self.sock.sendall(frag + body + chunk)
                continue
            pad = (4 - len(chunk) % 4) % 4
            plain = chunk + b"\x00" * pad
            sec = struct.pack("<BBBBL", rpcrt.RPC_C_AUTHN_WINNT, level, pad, 0, trailer["auth_ctx_id"])
            head = _HEADER.pack(5, 0, rpcrt.MSRPC_RESPONSE, flags, 0x10, 24 + len(plain) + 8 + 16, 16, call_id)
            if level >= rpcrt.RPC_C_AUTHN_LEVEL_PKT_PRIVACY:
                data, signature = ntlm.seal(plain, lambda clear: head + body + clear + sec)
            else:
                data, signature = plain, ntlm.sign(head + body + plain + sec)
            self.sock.sendall(head + body + data + sec + signature)

    def _send_fault(self, call_id: int, ctx_id: int, status: int) -> None:
        body = struct.pack("<LHBBLL", 0, ctx_id, 0, 0, status, 0)
        head = _HEADER.pack(5, 0, rpcrt.MSRPC_FAULT, rpcrt.PFC_FIRST_FRAG | rpcrt.PFC_LAST_FRAG
                            | rpcrt.PFC_DID_NOT_EXECUTE, 0x10, 16 + len(body), 0, call_id)
        self.sock.sendall(head + body)
