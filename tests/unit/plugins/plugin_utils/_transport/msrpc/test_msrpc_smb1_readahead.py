"""SMB1 reads in flight (smb1_readahead): the bytes are those RemoteFile.read gives one read at a time, whatever
order the answers come in, with a short read that is not the end of the file, at the end of the file, and on an
error; a signed session or SMB2/3 reads one request at a time."""

from __future__ import annotations

import os

import pytest
from impacket import smb

from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc import smb1_readahead

NT4_READ = 16 * 1024 + 100              # what an NT 4.0-like server gives per READ_ANDX, whatever was asked


class Server:
    """impacket's SMB1 object as far as reads go: answers READ_ANDX from ``content``, last request first."""

    def __init__(self, content: bytes, signed=False, short_at=None, fail_at=None):
        self.content, self._SignatureEnabled, self.short_at, self.fail_at = content, signed, short_at, fail_at
        self._dialects_parameters = {"MaxMpxCount": 50}
        self.pending, self.most_in_flight = [], 0
        # what the raw path reads of impacket's SMB object: the session, its flags, and its NetBIOS session
        self._uid, self._SMB__flags1, self._SMB__flags2, self._SMB__timeout = 0x800, 0x18, 0xC807, 30
        self._sess = Wire(self)

    def read(self, offset: int, want: int) -> bytes:
        size = min(want, NT4_READ, 100 if offset == self.short_at else NT4_READ)
        return self.content[offset:offset + size]

    def sendSMB(self, packet):  # noqa: N802 - impacket's name
        self.take(packet.getData())

    def take(self, raw: bytes):
        packet = smb.NewSMBPacket(data=raw)                     # as the server reads it off the wire
        parameters = smb.SMBReadAndX_Parameters(smb.SMBCommand(packet["Data"][0])["Parameters"])
        self.pending.append((packet["Mid"], parameters["Offset"], parameters["MaxCount"]))
        self.most_in_flight = max(self.most_in_flight, len(self.pending))

    def recvSMB(self):  # noqa: N802
        mid, offset, want = self.pending.pop()
        answer = smb.NewSMBPacket()
        answer["Command"], answer["Mid"], answer["Flags2"] = smb.SMB.SMB_COM_READ_ANDX, mid, smb.SMB.FLAGS2_NT_STATUS
        command = smb.SMBCommand(smb.SMB.SMB_COM_READ_ANDX)
        parameters = smb.SMBReadAndXResponse_Parameters()
        data = b""
        if offset == self.fail_at:
            answer["ErrorClass"], answer["_reserved"], answer["ErrorCode"] = 0x22, 0x00, 0xC000       # ACCESS_DENIED
        else:
            data = self.read(offset, want)
        parameters["DataCount"], parameters["DataCount_Hi"], parameters["DataOffset"] = len(data), 0, 32 + 1 + 24 + 2
        command["Parameters"], command["Data"] = parameters, data
        answer.addCommand(command)
        return smb.NewSMBPacket(data=answer.getData())


class Wire:
    """impacket's NetBIOS session of ``Server``: the bytes both ways (the raw path sends and reads these)."""

    def __init__(self, server):
        self.server = server

    def send_packet(self, data):
        self.server.take(bytes(data))

    def recv_packet(self, _timeout=None):
        data = self.server.recvSMB().getData()
        return type("Packet", (), {"get_trailer": lambda _self: data})()


class Connection:
    def __init__(self, server, dialect=smb1_readahead.SMB1_DIALECT):
        self.server, self.dialect, self.single_reads = server, dialect, 0

    def getDialect(self):  # noqa: N802
        return self.dialect

    def getSMBServer(self):  # noqa: N802
        return self.server

    def readFile(self, tid, fid, offset, want):  # noqa: N802
        self.single_reads += 1
        return self.server.read(offset, want)


class Files:
    def __init__(self, connection):
        self.session = type("Session", (), {"smb": connection})()
        self.bytes_read = 0

    def _fail(self, operation, exc, path):
        return RuntimeError(f"{operation}: {path}: {exc}")


class Handle:
    """files.RemoteFile's read: one request at a time until ``length`` bytes or an empty answer (the reference)."""

    def __init__(self, connection):
        self.files, self.tid, self.fid, self.path, self.operation = Files(connection), 1, 0x4001, "D:\\f", "test"

    def read(self, offset, length):
        data = b""
        while length > 0:
            block = self.files.session.smb.readFile(self.tid, self.fid, offset, min(length, 60 * 1024))
            if not block:
                break
            data, offset, length = data + block, offset + len(block), length - len(block)
        self.files.bytes_read += len(data)
        return data


CONTENT = os.urandom(300 * 1024 + 7)


@pytest.mark.parametrize("offset, length", [(0, len(CONTENT) + 1), (0, 1 << 25), (5000, 200000), (0, 10),
                                            (len(CONTENT) - 3, 100), (len(CONTENT), 100)])
def test_reads_in_flight_give_the_bytes_of_one_read_at_a_time(offset, length):
    server = Server(CONTENT)
    handle = Handle(Connection(server))
    assert smb1_readahead.read(handle, offset, length) == CONTENT[offset:offset + length]
    assert handle.files.bytes_read == len(CONTENT[offset:offset + length])
    if length > 100000:
        assert 1 < server.most_in_flight <= smb1_readahead.WINDOW
        assert handle.files.session.smb.single_reads <= 2


def test_a_short_read_that_is_not_the_end_reads_the_rest_one_at_a_time():
    server = Server(CONTENT, short_at=NT4_READ * 3)
    handle = Handle(Connection(server))
    assert smb1_readahead.read(handle, 0, len(CONTENT)) == CONTENT
    assert handle.files.session.smb.single_reads > 2


def test_an_error_answer_is_raised_after_every_answer_is_taken():
    server = Server(CONTENT, fail_at=NT4_READ * 2)
    handle = Handle(Connection(server))
    with pytest.raises(RuntimeError, match="test: D:.f: .*0xc0000022|STATUS_ACCESS_DENIED"):
        smb1_readahead.read(handle, 0, len(CONTENT))
    assert server.pending == []


@pytest.mark.parametrize("connection", [Connection(Server(CONTENT, signed=True)),
                                        Connection(Server(CONTENT), dialect=0x0300)])
def test_a_signed_session_or_smb2_reads_one_request_at_a_time(connection):
    handle = Handle(connection)
    assert smb1_readahead.read(handle, 0, len(CONTENT)) == CONTENT
    assert connection.server.most_in_flight == 0
