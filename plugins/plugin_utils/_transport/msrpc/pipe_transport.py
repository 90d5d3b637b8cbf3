# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""DCE/RPC over a named pipe with one SMB message per call, as Windows' own RPC runtime does (private to
this collection).

impacket's ``SMBTransport`` writes a request to the pipe and then reads the reply: two SMB messages (and
two round trips) per call. A named pipe in message mode also answers ``TransactNmPipe`` (SMB1
``SMB_COM_TRANSACTION``, MS-CIFS 2.2.5.5) and ``FSCTL_PIPE_TRANSCEIVE`` (SMB2 ``IOCTL``, MS-SMB2 3.3.5.15.3):
the request is written and the reply's first fragment comes back in one exchange. NT 4.0's and Windows 2000's
RPC clients call the winreg and svcctl pipes that way.

``send`` keeps the request until ``recv`` asks for the reply, then transacts it. A request sent in several
fragments writes all but the last one; reply fragments after the first are read as before. A request whose
reply is never asked for (an ``auth3`` PDU) is written when the next one is sent or the pipe is closed.

Over SMB1 the transaction is built here, not by impacket 0.13.1's ``SMB.TransactNamedPipe``: that one sends
the transaction's Name (``\\PIPE\\``) in OEM characters even on a session that negotiated Unicode, which
a server reads as UTF-16 (MS-CIFS 2.2.4.33.1: Name is SMB_STRING, Unicode when FLAGS2_UNICODE is set):
Samba answers STATUS_NOT_SUPPORTED ("unknown trans name"). It also asks for up to 65,504 bytes of reply
data, more than NT 4.0's MaxBufferSize (16,644) carries in one message, and reads one response message
only; here MaxDataCount fits one message. A reply fragment is at most the bind's max_recv_frag (impacket:
4,280 bytes), so it always fits; the further fragments of a longer reply are read with READ_ANDX as before."""

from __future__ import annotations

import struct

from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc import smb1_raw

# impacket is imported guarded: ansible-test imports every file without it (deps.missing() says what is missing)
try:
    from impacket import smb
    from impacket.dcerpc.v5.transport import SMBTransport
except ImportError:
    smb = None
    SMBTransport = object

TRANSACT_NMPIPE = 0x0026                 # MS-CIFS 2.2.5.5 subcommand
NT4_MAX_BUFFER_SIZE = 16644             # NT 4.0's default MaxBufferSize (../shared/notes/legacy-hosts.md)
_HEADER, _WORDS = smb1_raw.HEADER, 16     # SMB header bytes; SMB_COM_TRANSACTION words with a 2-word setup
_BYTES_AT = _HEADER + 1 + 2 * _WORDS + 2  # where the transaction's SMB_Data starts (odd: 67)


def smb1_transaction(tid: int, fid: int, data: bytes, unicode: bool, max_data: int):
    """The SMB_COM_TRANSACTION of one TransactNmPipe call (MS-CIFS 2.2.4.33.1), as a packet to send."""
    name = "\\PIPE\\\x00".encode("utf-16le") if unicode else b"\\PIPE\\\x00"
    pad = b"\x00" if unicode and _BYTES_AT % 2 else b""       # Unicode strings start 2-aligned
    parameter_offset = _BYTES_AT + len(pad) + len(name)
    data_pad = b"\x00" * (-parameter_offset % 4)
    packet = smb.NewSMBPacket()
    packet["Tid"] = tid
    command = smb.SMBCommand(smb.SMB.SMB_COM_TRANSACTION)
    command["Parameters"] = smb.SMBTransaction_Parameters()
    parameters = command["Parameters"]
    parameters["Setup"] = struct.pack("<HH", TRANSACT_NMPIPE, fid)
    parameters["TotalParameterCount"] = parameters["ParameterCount"] = 0
    parameters["TotalDataCount"] = parameters["DataCount"] = len(data)
    parameters["MaxDataCount"] = max_data
    parameters["ParameterOffset"] = parameter_offset
    parameters["DataOffset"] = parameter_offset + len(data_pad)
    command["Data"] = pad + name + data_pad + data
    packet.addCommand(command)
    return packet


# Where SMB_COM_TRANSACTION's counts sit in the request (MS-CIFS 2.2.4.33.1: the header, WordCount, the words)
_TOTAL_DATA_AT, _DATA_COUNT_AT, _BYTE_COUNT_AT = _HEADER + 3, _HEADER + 23, _HEADER + 1 + 2 * _WORDS
_REPLY_WORDS = struct.Struct("<HHHHHHHHHBB")        # MS-CIFS 2.2.4.33.2, no setup words: WordCount 10


def plain_reply_data(reply: bytes) -> bytes | None:
    """The data of a successful TransactNmPipe response read straight from its bytes, or None for anything
    else (an error or warning status, another command, setup words, a short message): impacket reads those."""
    if not smb1_raw.plain(reply, smb.SMB.SMB_COM_TRANSACTION, 10, _HEADER + 1 + _REPLY_WORDS.size):
        return None
    words = _REPLY_WORDS.unpack_from(reply, _HEADER + 1)
    data_count, data_offset, setup_count = words[6], words[7], words[9]
    if setup_count or data_offset + data_count > len(reply):
        return None
    return reply[data_offset:data_offset + data_count]


class RawTransaction:
    """TransactNmPipe requests as the bytes impacket's ``sendSMB`` sends (``smb1_raw``): the request impacket
    builds for one pipe is kept as a template whose three counts and data change per call, one per (tid, fid,
    session, MaxDataCount)."""

    def __init__(self):
        self._templates: dict[tuple, bytes] = {}

    def request(self, server, tid: int, fid: int, data: bytes, unicode: bool, max_data: int) -> bytes:
        key = (tid, fid, unicode, max_data) + smb1_raw.session_key(server)
        template = self._templates.get(key)
        if template is None:
            template = self._templates[key] = smb1_raw.as_sent(server, smb1_transaction(tid, fid, b"", unicode, max_data))
        raw = bytearray(template)
        struct.pack_into("<H", raw, _TOTAL_DATA_AT, len(data))
        struct.pack_into("<H", raw, _DATA_COUNT_AT, len(data))
        struct.pack_into("<H", raw, _BYTE_COUNT_AT, struct.unpack_from("<H", raw, _BYTE_COUNT_AT)[0] + len(data))
        return bytes(raw) + data


def smb1_reply_data(packet) -> bytes:
    """The reply's data from a TransactNmPipe response (impacket's SessionError for an error status)."""
    packet.isValidAnswer(smb.SMB.SMB_COM_TRANSACTION)
    response = smb.SMBCommand(packet["Data"][0])
    parameters = smb.SMBTransactionResponse_Parameters(response["Parameters"])
    start = parameters["DataOffset"] - (_HEADER + 1 + len(response["Parameters"]) + 2)
    return response["Data"][start:start + parameters["DataCount"]]


class TransceiveTransport(SMBTransport):
    """``ncacn_np`` over the session's SMB connection; a call is one transact instead of a write and a read."""

    def __init__(self, *args, ipc_tree: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self._request = None
        self.transacts = 0
        self._ipc_tree = ipc_tree          # the session's IPC$ tree: impacket would connect one per pipe
        self._raw = RawTransaction()

    def connect(self):
        if self._ipc_tree is None:
            return super().connect()
        # what SMBTransport.connect does after its own tree connect (impacket keeps these name-mangled)
        connection = self.get_smb_connection()
        self._SMBTransport__tid = self._ipc_tree
        self._SMBTransport__handle = connection.openFile(self._ipc_tree, self._SMBTransport__filename)
        self._SMBTransport__socket = connection.getSMBServer().get_socket()
        return 1

    def send(self, data, forceWriteAndx=0, forceRecv=0):  # noqa: N803 - impacket's signature
        self._write_held()
        self._request = data

    def recv(self, forceRecv=0, count=0):  # noqa: N803 - impacket's signature
        if self._request is None:            # a further fragment of the reply
            return super().recv(forceRecv, count)
        data, self._request = self._request, None
        self.transacts += 1
        connection = self.get_smb_connection()
        # impacket keeps the pipe's tree and file id in name-mangled attributes of SMBTransport
        tid, fid = self._SMBTransport__tid, self._SMBTransport__handle
        dialect = getattr(connection, "getDialect", lambda: None)()      # a recording double has none
        if dialect != smb.SMB_DIALECT:          # connection.SMB1_DIALECT (connection imports this module)
            return connection.transactNamedPipe(tid, fid, data)
        return self._smb1_transact(connection.getSMBServer(), tid, fid, data)

    def _smb1_transact(self, server, tid: int, fid: int, data: bytes) -> bytes:
        unicode = bool(server.get_flags()[1] & smb.SMB.FLAGS2_UNICODE)
        try:        # the server's MaxBufferSize, from its NEGOTIATE response
            room = int(server._dialects_parameters["MaxBufferSize"])  # pylint: disable=protected-access
        except (AttributeError, KeyError, TypeError, ValueError):
            room = NT4_MAX_BUFFER_SIZE
        max_data = max(1024, min(65504, room - 64))
        if not smb1_raw.usable(server):
            server.sendSMB(smb1_transaction(tid, fid, data, unicode, max_data))
            return smb1_reply_data(server.recvSMB())
        # the same bytes as above, sent and read by impacket's NetBIOS session without its packet classes
        smb1_raw.send(server, self._raw.request(server, tid, fid, data, unicode, max_data))
        reply = smb1_raw.receive(server)
        found = plain_reply_data(reply)
        return found if found is not None else smb1_reply_data(smb.NewSMBPacket(data=reply))

    def disconnect(self):
        try:
            self._write_held()
        finally:
            if self._ipc_tree is None:
                super().disconnect()
            else:                        # the tree is the session's: close only the pipe
                self.get_smb_connection().closeFile(self._ipc_tree, self._SMBTransport__handle)

    def _write_held(self) -> None:
        if self._request is not None:
            data, self._request = self._request, None
            super().send(data, forceWriteAndx=1)
