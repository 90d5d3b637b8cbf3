"""impacket_speedups: impacket's structure expressions compiled once give the bytes and fields impacket gives
without it (packets of every protocol the transport speaks), only impacket.structure and impacket's NDR module
see the cached eval, and another impacket version is refused with a warning and left as it is."""

from __future__ import annotations

import builtins
import random

import pytest
from impacket import smb, structure
from impacket.dcerpc.v5 import ndr, rpcrt, rrp

from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc import impacket_speedups


@pytest.fixture
def plain_impacket():
    """impacket without the cache for the test, with the state it had afterwards."""
    was = impacket_speedups.applied()
    impacket_speedups.remove()
    yield
    if was:
        impacket_speedups.apply()


def packets() -> list:
    """Packets of the kinds the probe builds: SMB1, a DCE/RPC bind, an NDR request (the lab's own packets of
    every protocol: tests/integration/test_msrpc_impacket_speedups_over_samba.py)."""
    negotiate = smb.NewSMBPacket()
    command = smb.SMBCommand(smb.SMB.SMB_COM_NEGOTIATE)
    command["Data"] = b"\x02NT LM 0.12\x00"
    negotiate.addCommand(command)
    bind = rpcrt.MSRPCBind()
    item = rpcrt.CtxItem()
    item["AbstractSyntax"] = rrp.MSRPC_UUID_RRP
    item["TransferSyntax"] = rpcrt.uuidtup_to_bin(("8a885d04-1ceb-11c9-9fe8-08002b104860", "2.0"))
    bind.addCtxItem(item)
    tracing = rrp.BaseRegQueryMultipleValues()
    tracing["num_vals"] = 1
    tracing["ldwTotsize"] = 16
    tracing["lpvalueBuf"] = list(bytes(16))
    return [negotiate, bind, tracing]


def encoded() -> list[bytes]:
    random.seed(22)                     # NDR pointers get random referent IDs: the same ones both times
    return [packet.getData() for packet in packets()]


def test_packets_are_the_same_bytes_and_parse_to_the_same_fields(plain_impacket):
    plain = encoded()
    parsed_plain = [smb.NewSMBPacket(data=plain[0]).fields, rpcrt.MSRPCBind(plain[1]).fields]
    assert impacket_speedups.apply()
    assert encoded() == plain
    assert [smb.NewSMBPacket(data=plain[0]).fields, rpcrt.MSRPCBind(plain[1]).fields] == parsed_plain


def test_only_impacket_s_structure_and_ndr_modules_get_the_cached_eval(plain_impacket):
    assert not impacket_speedups.applied()
    assert "eval" not in vars(structure) and "eval" not in vars(ndr)
    assert impacket_speedups.apply()
    assert structure.eval is impacket_speedups.cached_eval and ndr.eval is impacket_speedups.cached_eval
    assert builtins.eval is not impacket_speedups.cached_eval and "eval" not in vars(smb)
    impacket_speedups.remove()
    assert "eval" not in vars(structure) and "eval" not in vars(ndr)


def test_the_cached_eval_is_eval():
    namespace = {"Buffer": b"abc"}
    assert impacket_speedups.cached_eval("len(Buffer)*2", {}, namespace) == 6
    assert impacket_speedups.cached_eval("len(Buffer)*2", {}, {"Buffer": b"a"}) == 2      # compiled once, fresh names
    local_value = 21                                                                         # noqa: F841 - read by eval
    assert impacket_speedups.cached_eval("local_value * 2") == 42                            # the caller's frame
    with pytest.raises(SyntaxError):
        impacket_speedups.cached_eval("len(", {}, {})
    with pytest.raises(NameError):
        impacket_speedups.cached_eval("missing_name", {}, {})


def test_another_impacket_version_is_refused_with_one_warning(plain_impacket, monkeypatch):
    monkeypatch.setattr(impacket_speedups, "impacket_version", lambda: "0.12.0")
    monkeypatch.setattr(impacket_speedups, "_refused", [])
    said = []
    assert impacket_speedups.apply(said.append) is False
    assert impacket_speedups.apply(said.append) is False
    assert len(said) == 1 and "impacket 0.12.0" in said[0] and "0.13.1" in said[0] and "not applied" in said[0]
    assert not impacket_speedups.applied() and "eval" not in vars(structure)
