"""Reads in flight against Samba serving the lab's nt4 profile (NT LM 0.12, no large reads, ~16 KiB per READ_ANDX):
a Distmgr.dll-sized file and a log range read with up to 16 READ_ANDX outstanding are the bytes on the host, in a
fraction of the round trips of one read at a time, and the session stays usable after them."""

from __future__ import annotations

import os

from impacket import nmb

from msrpc_harness import samba_site, transport
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc import smb1_readahead

SITE = "sms610"                 # demo.yml: profile nt4


def exchanges(run) -> int:
    """How many times the client waited for the server (a receive after a send) while ``run`` ran."""
    sent, waits = [False], [0]
    send, recv = nmb.NetBIOSTCPSession.send_packet, nmb.NetBIOSTCPSession.recv_packet

    def sending(session, data):
        sent[0] = True
        return send(session, data)

    def receiving(session, timeout=None):
        if sent[0]:
            waits[0], sent[0] = waits[0] + 1, False
        return recv(session, timeout)
    nmb.NetBIOSTCPSession.send_packet, nmb.NetBIOSTCPSession.recv_packet = sending, receiving
    try:
        run()
    finally:
        nmb.NetBIOSTCPSession.send_packet, nmb.NetBIOSTCPSession.recv_packet = send, recv
    return waits[0]


def test_reads_in_flight_are_the_host_s_bytes_in_fewer_round_trips(tmp_path):
    data = os.urandom(300 * 1024 + 123)
    with samba_site(tmp_path, hosts=[SITE]) as (state_dir, lab, _addresses):
        (state_dir / "hosts" / SITE / "fs" / "C" / "SMS" / "big.bin").write_bytes(data)
        host = transport(lab, SITE, tmp_path)
        files = host.ops.files
        try:
            assert host.session.smb.getDialect() == "NT LM 0.12"
            files.read_all("C:\\SMS\\big.bin", "warm up", 1 << 20)        # tree connect, logon: not counted
            got = {}
            one_at_a_time = exchanges(lambda: got.update(plain=files.read_all("C:\\SMS\\big.bin", "test", 1 << 20)))
            in_flight = exchanges(lambda: got.update(
                ahead=smb1_readahead.read_all(files, "C:\\SMS\\big.bin", "test", 1 << 20)))
            assert got["plain"] == got["ahead"] == data
            assert one_at_a_time >= 20 and in_flight <= 6, (one_at_a_time, in_flight)
            with files.open_read("C:\\SMS\\big.bin", "test") as handle:
                assert smb1_readahead.read(handle, 70000, 200000) == data[70000:270000]
            assert files.stat("C:\\SMS\\big.bin", "test").size == len(data)     # the session still answers
        finally:
            host.close()
