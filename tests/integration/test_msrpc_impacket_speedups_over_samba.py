"""impacket_speedups on the lab's own packets: a facts probe of an NT 4.0-profile host (Samba for SMB, winreg and
svcctl; the lab's WMI responder, a simulation, for DCOM/WMI) answers the same with impacket's structure expressions
compiled once as with impacket's eval on every use, and every SMB message the lab sent parses to the same fields."""

from __future__ import annotations

from impacket import nmb, smb

from msrpc_harness import probe_parameters, samba_site, transport
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc import impacket_speedups

TIMING_DEPENDENT = ("msrpc",)           # wire counters and log-read statistics


def probe(lab, name, tmp_path, wmi, label, received):
    original = nmb.NetBIOSTCPSession.recv_packet

    def recording(session, timeout=None):
        packet = original(session, timeout)
        received.append(packet.get_trailer())
        return packet
    nmb.NetBIOSTCPSession.recv_packet = recording
    host = transport(lab, name, tmp_path / label, wmi_addresses=wmi)
    try:
        answer = host.probe(probe_parameters())
    finally:
        host.close()
        nmb.NetBIOSTCPSession.recv_packet = original
    return {key: value for key, value in answer.items() if key not in TIMING_DEPENDENT}


def test_a_probe_and_the_lab_s_packets_are_the_same_with_the_expression_cache(tmp_path, monkeypatch):
    with samba_site(tmp_path, hosts=["sms610"], wmi=True) as (_state, lab, wmi):
        impacket_speedups.remove()
        monkeypatch.setattr(impacket_speedups, "apply", lambda warn=None: False)     # the probe applies it
        plain_packets: list[bytes] = []
        plain = probe(lab, "sms610", tmp_path, wmi, "plain", plain_packets)
        monkeypatch.undo()
        assert impacket_speedups.apply()
        cached_packets: list[bytes] = []
        cached = probe(lab, "sms610", tmp_path, wmi, "cached", cached_packets)
        assert impacket_speedups.applied()
    assert cached == plain
    assert plain["registry"]["identification"]["Site Code"] == "610" and plain["active_packages"]["available"]
    parsed_cached = [smb.NewSMBPacket(data=raw).fields for raw in plain_packets]
    impacket_speedups.remove()
    try:
        assert [smb.NewSMBPacket(data=raw).fields for raw in plain_packets] == parsed_cached
    finally:
        impacket_speedups.apply()
    assert len(cached_packets) == len(plain_packets) > 20
