# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""SMB1 messages as the bytes impacket's ``sendSMB`` puts on the wire, without its packet classes for each one
(private to this collection).

Building and parsing impacket's ``NewSMBPacket`` / ``SMBCommand`` structures costs ~1.3 ms of controller CPU per
message. The pipe calls (``pipe_transport``) and the reads in flight (``smb1_readahead``) send the same request
shape many times, so each keeps the bytes impacket built once as a template (``as_sent``), changes the counts and
offsets in place, and reads a plain successful answer straight from its bytes (``plain``); anything else is left
to impacket's classes. Used only where ``usable``: an unsigned session (a signed message has its own signature)
on impacket 0.13.1, whose private session attributes are read here."""

from __future__ import annotations

import os

from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc import impacket_speedups

HEADER = 32                  # SMB1 header bytes; WordCount follows (MS-CIFS 2.2.3.1)


def usable(server) -> bool:
    return not getattr(server, "_SignatureEnabled", True) and impacket_speedups.is_pinned()


def session_key(server) -> tuple:
    """What ``sendSMB`` writes into every header of this session and process: a template is valid for these."""
    return (server._uid, os.getpid() & 0xFFFF,            # pylint: disable=protected-access
            server._SMB__flags1, server._SMB__flags2)      # pylint: disable=protected-access


def as_sent(server, packet) -> bytes:
    """``packet`` as ``sendSMB`` sends it on an unsigned session: the session's Uid, the Pid, its flags."""
    uid, pid, flags1, flags2 = session_key(server)
    packet["Uid"], packet["Pid"] = uid, pid
    packet["Flags1"] |= flags1
    packet["Flags2"] |= flags2
    return packet.getData()


def send(server, raw: bytes) -> None:
    server._sess.send_packet(raw)                          # pylint: disable=protected-access


def receive(server) -> bytes:
    """The next message's bytes, read as ``recvSMB`` reads them (its timeout, impacket's NetBIOS session)."""
    return server._sess.recv_packet(server._SMB__timeout).get_trailer()  # pylint: disable=protected-access


def plain(reply: bytes, command: int, word_count: int, length: int) -> bool:
    """True for an answer to ``command`` with status 0 (no error, no warning), ``word_count`` words and at least
    ``length`` bytes: the only answers read without impacket."""
    return len(reply) >= length and reply[:4] == b"\xffSMB" and reply[4] == command and reply[5:9] == bytes(4) \
        and reply[HEADER] == word_count
