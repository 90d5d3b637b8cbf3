"""The msrpc transport's file operations (plugins/plugin_utils/_transport/msrpc/files.py) on an NT 4.0 host: real
Samba with the lab's ``nt4`` profile (NT LM 0.12 only, no large read/write, MaxBufferSize 16644), files of
several SMB1 reads. impacket's SMB1 ``writeFile`` answers the end offset, not a count, and a READ_ANDX answers
~16 KiB whatever was asked: neither may leave a hole or cut a file short."""

from __future__ import annotations

import hashlib
import os

from msrpc_harness import samba_site, transport

BIG = 300 * 1024 + 123          # a Distmgr.dll-sized file: about 19 reads of ~16 KiB
SITE = "sms610"                 # demo.yml: an NT 4.0 site (profile nt4)


def test_the_demo_site_speaks_smb1_without_large_reads(tmp_path):
    with samba_site(tmp_path, hosts=[SITE]) as (_state_dir, lab, _addresses):
        assert lab.hosts[SITE].profile.name == "nt4"
        host = transport(lab, SITE, tmp_path)
        host.ops.files.stat("C:\\SMS", "test")
        assert host.session.smb.getDialect() == "NT LM 0.12"
        assert host.session.smb.getIOCapabilities()["MaxReadSize"] <= 16644


def test_a_big_write_then_read_over_smb1_is_the_same_bytes(tmp_path):
    data = os.urandom(BIG)
    with samba_site(tmp_path, hosts=[SITE]) as (state_dir, lab, _addresses):
        files = transport(lab, SITE, tmp_path).ops.files
        files.write_bytes("C:\\SMS\\big.bin", data, "test")
        local = state_dir / "hosts" / SITE / "fs" / "C" / "SMS" / "big.bin"
        assert local.stat().st_size == BIG                      # no hole, nothing past the end
        assert local.read_bytes() == data
        files.append_bytes("C:\\SMS\\big.bin", data[:70000], "test")
        assert local.read_bytes() == data + data[:70000]
        assert files.read_all("C:\\SMS\\big.bin", "test", 1 << 20) == data + data[:70000]
        assert files.sha256("C:\\SMS\\big.bin", "test") == (hashlib.sha256(data + data[:70000]).hexdigest(), BIG + 70000)


def test_a_read_of_one_chunk_is_not_cut_at_the_servers_16_kib(tmp_path):
    data = os.urandom(BIG)
    with samba_site(tmp_path, hosts=[SITE]) as (state_dir, lab, _addresses):
        (state_dir / "hosts" / SITE / "fs" / "C" / "SMS" / "big.bin").write_bytes(data)
        files = transport(lab, SITE, tmp_path).ops.files
        with files.open_read("C:\\SMS\\big.bin", "test") as handle:
            assert handle.read(1000, 65536) == data[1000:1000 + 65536]
            assert handle.read(BIG - 10, 65536) == data[-10:]          # the end: what is there
        assert files.read_all("C:\\SMS\\big.bin", "test", 1 << 20) == data
