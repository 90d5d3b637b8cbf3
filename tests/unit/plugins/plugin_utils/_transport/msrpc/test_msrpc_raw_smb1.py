"""The raw SMB1 paths (TransactNmPipe for pipe calls, READ_ANDX for reads in flight) send, byte for byte, what
impacket's ``sendSMB`` sends for the same request (any data length, offset, MID, Unicode or not, another process
id or session), and read a reply's data as impacket's classes read it; an error or warning status, the end of a
file, another command or a short message is left to impacket (which raises what it raised before)."""

from __future__ import annotations

import os
import struct

import pytest
from hypothesis import given, settings, strategies as st
from impacket import smb

from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc import smb1_readahead
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.pipe_transport import (
    RawTransaction, plain_reply_data, smb1_reply_data, smb1_transaction)


class Capture:
    def __init__(self):
        self.sent = []

    def send_packet(self, data):
        self.sent.append(bytes(data))


def server(uid=0x0800, unicode=True):
    """An impacket SMB object in the state a logged-on session has (what sendSMB reads)."""
    made = smb.SMB.__new__(smb.SMB)
    made._uid = uid
    made._SMB__flags1 = smb.SMB.FLAGS1_PATHCASELESS | smb.SMB.FLAGS1_CANONICALIZED_PATHS
    made._SMB__flags2 = smb.SMB.FLAGS2_EXTENDED_SECURITY | smb.SMB.FLAGS2_NT_STATUS | smb.SMB.FLAGS2_LONG_NAMES \
        | (smb.SMB.FLAGS2_UNICODE if unicode else 0)
    made._SignatureEnabled = False
    made._sess = Capture()
    return made


def impacket_bytes(host, tid, fid, data, unicode, max_data) -> bytes:
    host.sendSMB(smb1_transaction(tid, fid, data, unicode, max_data))
    return host._sess.sent.pop()


@settings(max_examples=80, deadline=None)
@given(data=st.binary(max_size=5000), unicode=st.booleans(), tid=st.integers(0, 0xFFFF), fid=st.integers(0, 0xFFFF),
       max_data=st.integers(1024, 65504))
def test_the_request_is_the_bytes_impacket_sends(data, unicode, tid, fid, max_data):
    host, raw = server(unicode=unicode), RawTransaction()
    expected = impacket_bytes(host, tid, fid, data, unicode, max_data)
    assert raw.request(host, tid, fid, data, unicode, max_data) == expected
    assert raw.request(host, tid, fid, data[::-1], unicode, max_data) == \
        impacket_bytes(host, tid, fid, data[::-1], unicode, max_data)          # the template again, other data


def test_a_template_is_not_reused_for_another_session_or_process(monkeypatch):
    raw, first = RawTransaction(), server(uid=1)
    raw.request(first, 1, 2, b"x", True, 4096)
    second = server(uid=2)
    assert raw.request(second, 1, 2, b"x", True, 4096) == impacket_bytes(second, 1, 2, b"x", True, 4096)
    monkeypatch.setattr(os, "getpid", lambda: 4242)                              # a forked worker
    assert raw.request(second, 1, 2, b"x", True, 4096) == impacket_bytes(second, 1, 2, b"x", True, 4096)


def reply(data: bytes, status: int = 0, command: int = smb.SMB.SMB_COM_TRANSACTION) -> bytes:
    """A TransactNmPipe response as a server sends it (MS-CIFS 2.2.4.33.2), data 4-aligned after the words."""
    data_offset = 32 + 1 + 20 + 2 + 1                                             # header, words, ByteCount, pad
    words = struct.pack("<HHHHHHHHHBB", 0, len(data), 0, 0, data_offset, 0, len(data), data_offset, 0, 0, 0)
    header = b"\xffSMB" + bytes([command]) + struct.pack("<L", status) + bytes([0x98]) \
        + struct.pack("<H", smb.SMB.FLAGS2_NT_STATUS | smb.SMB.FLAGS2_UNICODE) + bytes(12) + struct.pack("<HHHH", 1, 2, 3, 0)
    return header + bytes([10]) + words + struct.pack("<H", len(data) + 1) + b"\x00" + data


@pytest.mark.parametrize("data", [b"", b"\x05\x00\x02\x03" + bytes(60), bytes(range(256)) * 16])
def test_a_reply_s_data_is_what_impacket_reads(data):
    raw = reply(data)
    assert plain_reply_data(raw) == data == smb1_reply_data(smb.NewSMBPacket(data=raw))


@pytest.mark.parametrize("raw", [
    reply(b"abc", status=0xC000014B),          # STATUS_PIPE_BROKEN: impacket raises it
    reply(b"abc", status=0x80000005),          # STATUS_BUFFER_OVERFLOW: a warning impacket decides on
    reply(b"abc", command=smb.SMB.SMB_COM_READ_ANDX),
    reply(b"abcdef")[:-3],                     # shorter than its DataCount says
    b"\xffSMB\x25",
])
def test_anything_but_a_plain_success_is_left_to_impacket(raw):
    assert plain_reply_data(raw) is None


@settings(max_examples=80, deadline=None)
@given(tid=st.integers(0, 0xFFFF), fid=st.integers(0, 0xFFFF), mid=st.integers(0, 0xFFFF),
       at=st.integers(0, 0xFFFFFFFF), want=st.integers(0, 0xFFFF), unicode=st.booleans())
def test_a_read_is_the_bytes_impacket_sends(tid, fid, mid, at, want, unicode):
    host, cache = server(unicode=unicode), {}
    host.sendSMB(smb1_readahead.read_request(tid, fid, mid, at, want))
    assert smb1_readahead.raw_read_request(host, cache, tid, fid, mid, at, want) == host._sess.sent.pop()
    host.sendSMB(smb1_readahead.read_request(tid, fid, mid ^ 1, at // 2, want // 3))        # from the template
    assert smb1_readahead.raw_read_request(host, cache, tid, fid, mid ^ 1, at // 2, want // 3) == host._sess.sent.pop()


def read_reply(data: bytes, status: int = 0, command: int = smb.SMB.SMB_COM_READ_ANDX, mid: int = 0x4001) -> bytes:
    """A READ_ANDX response (MS-CIFS 2.2.4.42.2): the data right after the words and ByteCount, plus a pad."""
    data_offset = 32 + 1 + 24 + 2 + 1
    words = struct.pack("<BBHHHHHHL6s", 0xFF, 0, 0, 0xFFFF, 0, 0, len(data) & 0xFFFF, data_offset, len(data) >> 16, b"")
    header = b"\xffSMB" + bytes([command]) + struct.pack("<L", status) + bytes([0x98]) \
        + struct.pack("<H", smb.SMB.FLAGS2_NT_STATUS) + bytes(12) + struct.pack("<HHHH", 1, 2, 3, mid)
    return header + bytes([12]) + words + struct.pack("<H", (len(data) + 1) & 0xFFFF) + b"\x00" + data  # large: ByteCount wraps


@pytest.mark.parametrize("data", [b"x", bytes(range(256)) * 64, bytes(70000)])
def test_a_read_reply_s_data_is_what_impacket_reads(data):
    raw = read_reply(data)
    assert smb1_readahead.plain_read_data(raw) == data == smb1_readahead._data(smb.NewSMBPacket(data=raw))


@pytest.mark.parametrize("raw", [
    read_reply(b"", status=0xC0000011),        # STATUS_END_OF_FILE: impacket's path says b""
    read_reply(b"abc", status=0xC0000022),     # STATUS_ACCESS_DENIED: impacket raises it
    read_reply(b"abc", command=smb.SMB.SMB_COM_TRANSACTION),
    read_reply(b"abcdef")[:-3],
])
def test_any_other_read_reply_is_left_to_impacket(raw):
    assert smb1_readahead.plain_read_data(raw) is None
