"""The SMB1 TransactNmPipe request the pipe transport sends (MS-CIFS 2.2.4.33.1): on a Unicode session the
transaction's Name is UTF-16 and 2-aligned, the offsets point where the parameters and the data really are,
and the reply asked for fits one NT 4.0 message. impacket 0.13.1's own request sent the Name in OEM characters
(Samba: STATUS_NOT_SUPPORTED; tests/integration/test_msrpc_pipe_smb1_over_samba.py runs it against Samba)."""

from __future__ import annotations

import struct

import pytest
from impacket import smb

from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.pipe_transport import (
    smb1_reply_data, smb1_transaction)

REQUEST = b"\x05\x00\x0b\x03" + bytes(68)          # any DCE/RPC PDU: the pipe carries it as it is


def packed(unicode: bool, max_data: int = 16580) -> tuple[bytes, dict]:
    raw = smb1_transaction(tid=7, fid=0x4001, data=REQUEST, unicode=unicode, max_data=max_data).getData()
    command = smb.SMBCommand(smb.NewSMBPacket(data=raw)["Data"][0])
    return raw, smb.SMBTransaction_Parameters(command["Parameters"])


@pytest.mark.parametrize("unicode, name", [(True, "\\PIPE\\\x00".encode("utf-16le")), (False, b"\\PIPE\\\x00")])
def test_the_name_is_in_the_session_s_characters_and_the_offsets_point_at_the_data(unicode, name):
    raw, parameters = packed(unicode)
    assert parameters["Setup"] == struct.pack("<HH", 0x26, 0x4001)           # TransactNmPipe on that pipe
    smb_data_at = 32 + 1 + 2 * 16 + 2
    name_at = smb_data_at + (1 if unicode else 0)
    assert name_at % (2 if unicode else 1) == 0
    assert raw[name_at:name_at + len(name)] == name
    assert parameters["ParameterCount"] == 0 and parameters["ParameterOffset"] == name_at + len(name)
    assert parameters["DataOffset"] % 4 == 0
    assert parameters["DataCount"] == parameters["TotalDataCount"] == len(REQUEST)
    assert raw[parameters["DataOffset"]:] == REQUEST


def test_the_reply_asked_for_fits_one_message_of_the_server():
    assert packed(True, max_data=16580)[1]["MaxDataCount"] == 16580


def reply(data: bytes, status: int = 0) -> smb.NewSMBPacket:
    """A TransactNmPipe response as a server builds it: data after 1-3 pad bytes."""
    packet = smb.NewSMBPacket()
    packet["Flags2"] = smb.SMB.FLAGS2_NT_STATUS
    packet["ErrorClass"], packet["_reserved"], packet["ErrorCode"] = status & 0xFF, (status >> 8) & 0xFF, status >> 16
    command = smb.SMBCommand(smb.SMB.SMB_COM_TRANSACTION)
    parameters = smb.SMBTransactionResponse_Parameters()
    parameters["TotalParameterCount"] = parameters["ParameterCount"] = parameters["ParameterDisplacement"] = 0
    parameters["TotalDataCount"] = parameters["DataCount"] = len(data)
    parameters["DataDisplacement"] = 0
    parameters["SetupCount"], parameters["Setup"] = 0, b""
    start = 32 + 1 + 20 + 2
    pad = b"\x00" * (-start % 4)
    parameters["ParameterOffset"] = parameters["DataOffset"] = start + len(pad)
    command["Parameters"] = parameters
    command["Data"] = pad + data
    packet.addCommand(command)
    return smb.NewSMBPacket(data=packet.getData())


def test_the_reply_s_data_is_read_from_its_offset():
    assert smb1_reply_data(reply(b"\x05\x00\x0c\x03answer")) == b"\x05\x00\x0c\x03answer"


def test_an_error_status_is_impacket_s_session_error():
    with pytest.raises(smb.SessionError) as caught:
        smb1_reply_data(reply(b"", status=0xC00000BB))
    assert caught.value.get_error_code() == 0xC00000BB
