# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reads of a file over SMB1 with several READ_ANDX requests in flight, as Windows' redirector reads ahead
(private to this collection).

NT 4.0 answers a READ_ANDX with at most ~16 KiB (no CAP_LARGE_READX; ``../shared/notes/legacy-hosts.md``), so
impacket, which waits for each answer before it asks again, needs one round trip per 16 KiB: 15 for a 230 KB
Distmgr.dll, 64 for a 1 MB log. SMB1 lets a client have up to the server's MaxMpxCount requests outstanding
(MS-CIFS 3.2.4.1.1; NT 4.0 and Samba: 50), each told apart by its MID. ``read`` asks once, learns how much
the server gives per read, then sends up to ``WINDOW`` reads of that size at the following offsets and collects
their answers by MID: one round trip per window instead of one per read.

Only on SMB1 without signing (a signed session numbers each request and answer in order; impacket's signing
does not allow requests in flight) and below 4 GiB; anywhere else, and whenever an answer is not what the
plan expected (a short read that is not the end of the file), the rest is read one request at a time by
``RemoteFile.read``, whose answer is the reference: the bytes returned are the same either way."""

from __future__ import annotations

import itertools
import struct

# impacket is imported guarded: ansible-test imports every file without it (deps.missing() says what is missing)
try:
    from impacket import smb
except ImportError:
    smb = None

from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc import smb1_raw
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.connection import SMB1_DIALECT

WINDOW = 16                         # reads in flight: 16 x ~16 KiB on NT 4.0
FIRST_READ = 60 * 1024              # the first read asks this much (files.CHUNK): the answer says the server's size
STATUS_END_OF_FILE = 0xC0000011
_mids = itertools.cycle(range(0x4000, 0x8000))      # MIDs of our own, apart from impacket's (it sends 0)


def _unsigned_smb1(session):
    """The SMB1 connection object when requests may be in flight, else None."""
    connection = session.smb
    if getattr(connection, "getDialect", lambda: None)() != SMB1_DIALECT:
        return None
    server = connection.getSMBServer()
    if getattr(server, "_SignatureEnabled", True):
        return None
    return server


def _window(server) -> int:
    try:
        mpx = int(server._dialects_parameters["MaxMpxCount"])  # pylint: disable=protected-access
    except (AttributeError, KeyError, TypeError, ValueError):
        mpx = 2
    return max(1, min(WINDOW, mpx - 1))            # one slot left for anything else of the session


def read(handle, offset: int, length: int) -> bytes:
    """What ``handle.read(offset, length)`` returns (``files.RemoteFile``): ``length`` bytes, fewer only at the end
    of the file; with reads in flight where the session allows them."""
    files = getattr(handle, "files", None)          # None: not an SMB file (an in-memory double): its own read
    server = _unsigned_smb1(files.session) if files is not None and length > 0 else None
    if server is None or offset + length >= 1 << 32:
        return handle.read(offset, length)
    step = getattr(handle, "readahead_step", None)
    data = bytearray()
    if step is None:                     # one read first: its answer is the server's read size
        data += _single(handle, offset, min(length, FIRST_READ))
        if not data or len(data) >= length:
            return bytes(data)           # nothing: the end of the file
        step = handle.readahead_step = len(data)
    window = _window(server)
    while len(data) < length:
        position = offset + len(data)
        left = length - len(data)
        plan = [(position + k * step, min(step, left - k * step)) for k in range(window) if k * step < left]
        blocks = _in_flight(server, handle, plan)
        for index, ((_at, want), block) in enumerate(zip(plan, blocks)):
            handle.files.bytes_read += len(block)
            data += block
            if len(block) < want:
                # The end of the file when the reads after it found nothing; otherwise (data after it, or no
                # read after it to tell) the rest is asked one read at a time, as RemoteFile.read does.
                later = blocks[index + 1:]
                if later and not any(later):
                    return bytes(data)
                return bytes(data) + handle.read(offset + len(data), length - len(data))
    return bytes(data)


def _single(handle, offset: int, want: int) -> bytes:
    """One READ_ANDX (``RemoteFile.read`` would ask on until it had ``want`` bytes)."""
    try:
        block = handle.files.session.smb.readFile(handle.tid, handle.fid, offset, want)
    except Exception as exc:
        raise handle.files._fail(handle.operation, exc, handle.path) from None  # pylint: disable=protected-access
    handle.files.bytes_read += len(block)
    return block


def read_request(tid: int, fid: int, mid: int, at: int, want: int):
    """One READ_ANDX as impacket's packet (MS-CIFS 2.2.4.42.1)."""
    packet = smb.NewSMBPacket()
    packet["Tid"], packet["Mid"] = tid, mid
    command = smb.SMBCommand(smb.SMB.SMB_COM_READ_ANDX)
    command["Parameters"] = smb.SMBReadAndX_Parameters()
    command["Parameters"]["Fid"], command["Parameters"]["Offset"] = fid, at
    command["Parameters"]["MaxCount"] = want
    packet.addCommand(command)
    return packet


# Where READ_ANDX's request fields sit (the header, WordCount 12, the AndX block): MID, Offset, MaxCount, MinCount,
# Remaining; and in its response (WordCount 12): DataCount, DataOffset, DataCount_Hi as impacket reads them
_MID_AT, _OFFSET_AT, _MAX_AT, _MIN_AT, _REMAINING_AT = 30, 39, 43, 45, 51
_READ_REPLY = struct.Struct("<HHL")            # DataCount, DataOffset, DataCount_Hi at byte 43


def raw_read_request(server, template_cache: dict, tid: int, fid: int, mid: int, at: int, want: int) -> bytes:
    """The bytes impacket's ``sendSMB`` sends for ``read_request(...)``, from a template it built once for this
    file and session (``smb1_raw``)."""
    key = (tid, fid) + smb1_raw.session_key(server)
    template = template_cache.get(key)
    if template is None:
        template = template_cache[key] = smb1_raw.as_sent(server, read_request(tid, fid, 0, 0, 0))
    raw = bytearray(template)
    struct.pack_into("<H", raw, _MID_AT, mid)
    struct.pack_into("<L", raw, _OFFSET_AT, at)
    for where in (_MAX_AT, _MIN_AT, _REMAINING_AT):     # MinCount and Remaining default to MaxCount in impacket
        struct.pack_into("<H", raw, where, want)
    return bytes(raw)


def plain_read_data(reply: bytes) -> bytes | None:
    """The data of a successful READ_ANDX response read straight from its bytes (as ``_data`` reads it), or None
    for anything else (an error or warning status, the end of the file, another command): impacket reads those."""
    if not smb1_raw.plain(reply, smb.SMB.SMB_COM_READ_ANDX, 12, 57):       # the header, 12 words, ByteCount
        return None
    count, offset, high = _READ_REPLY.unpack_from(reply, 43)
    count += 0x10000 * high
    return reply[offset:offset + count] if offset + count <= len(reply) else None


def _send_reads(server, handle, plan: list[tuple[int, int]], raw: bool) -> dict[int, int]:
    sent = {}
    cache = getattr(handle, "read_templates", None)
    if cache is None:
        cache = handle.read_templates = {}
    for at, want in plan:
        mid = next(_mids)
        if raw:
            smb1_raw.send(server, raw_read_request(server, cache, handle.tid, handle.fid, mid, at, want))
        else:
            server.sendSMB(read_request(handle.tid, handle.fid, mid, at, want))
        sent[mid] = len(sent)
    return sent


def _answer(server, raw: bool) -> tuple[int | None, bytes | None, object]:
    """(MID, the data of a plain success, else impacket's packet to read) of the next message."""
    if not raw:
        answer = server.recvSMB()
        return answer["Mid"], None, answer
    reply = smb1_raw.receive(server)
    mid = struct.unpack_from("<H", reply, _MID_AT)[0] if len(reply) >= smb1_raw.HEADER else None
    block = plain_read_data(reply)
    return mid, block, None if block is not None else smb.NewSMBPacket(data=reply)


def _in_flight(server, handle, plan: list[tuple[int, int]]) -> list[bytes]:
    """Send every READ_ANDX of ``plan`` ((offset, length), ...), then take the answers in any order by MID."""
    raw = smb1_raw.usable(server)
    sent = _send_reads(server, handle, plan, raw)
    blocks: list = [None] * len(plan)
    failure = None
    while any(block is None for block in blocks):       # every answer is taken, even after an error
        mid, block, answer = _answer(server, raw)
        index = sent.get(mid)
        if index is None or blocks[index] is not None:
            continue                                     # not one of ours (impacket sends MID 0)
        if block is not None:
            blocks[index] = block
            continue
        try:
            blocks[index] = _data(answer)
        except Exception as exc:  # impacket's SessionError: raised after the other answers are in
            blocks[index] = b""
            failure = failure or exc
    if failure is not None:
        raise handle.files._fail(handle.operation, failure, handle.path) from None  # pylint: disable=protected-access
    return blocks


def _data(answer) -> bytes:
    try:
        answer.isValidAnswer(smb.SMB.SMB_COM_READ_ANDX)
    except smb.SessionError as exc:
        if exc.get_error_code() == STATUS_END_OF_FILE:
            return b""
        raise
    response = smb.SMBCommand(answer["Data"][0])
    parameters = smb.SMBReadAndXResponse_Parameters(response["Parameters"])
    count = parameters["DataCount"] + 0x10000 * parameters["DataCount_Hi"]
    return answer.getData()[parameters["DataOffset"]:parameters["DataOffset"] + count]


def read_all(files, path: str, operation: str, limit: int, missing_ok: bool = False) -> bytes | None:
    """``SmbFiles.read_all`` with reads in flight: the whole file, refused when larger than ``limit`` bytes; with
    ``missing_ok``, None when no file is there."""
    handle = files.open_read(path, operation, missing_ok)
    if handle is None:
        return None
    with handle:
        data = read(handle, 0, limit + 1)
    if len(data) > limit:
        raise files.session.error(operation, f"{path} is larger than {limit} bytes")
    return data
