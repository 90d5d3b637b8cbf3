"""The WMI exporter connection in ONE bind (issue 22, round trips): the bind of the object exporter's connection
proposes IWbemLevel1Login, IWbemServices and IEnumWbemClassObject together (C706 12.6.3.1: several p_cont_elem,
each with its own result), under one NTLM security context; a later call to another of them only changes the
PDU's p_cont_id (``activation.reusing_contexts``). Was: an alter-context, and a new NTLM security context, the
first time each further interface was called (2 per facts probe).

Against the lab's DCOM responder (``lab/smslab/dcom``), whose PDUs are recorded as it receives them: the responder
accepts a multi-context bind with one auth verifier, serves every accepted context with that security context
(PKT_PRIVACY: each request's sequence number is checked), and refuses per context what the host's profile does
not export (nt4: IRemUnknown2, provider_rejection) while accepting the rest of the same bind. Needs root (port
135) and, for the facts probe, Samba."""

from __future__ import annotations

import os
import struct
from types import SimpleNamespace

import pytest
from impacket.dcerpc.v5 import dcomrt, rpcrt
from impacket.dcerpc.v5.dcom import wmi as impacket_wmi

from msrpc_harness import hierarchy_wmi, probe_parameters, samba_site, transport
from smslab.dcom.rpc_server import RpcConnection

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: DCOM starts at port 135 (binding it needs root)")

SITE = "sms610"
NT4, W2K = "sms711", "sms712"
WBEM = {impacket_wmi.IID_IWbemLevel1Login, impacket_wmi.IID_IWbemServices, impacket_wmi.IID_IEnumWbemClassObject}


class Wire:
    """What the lab's responder received, per TCP connection: (PDU type, call_id, p_cont_id of a request), the
    contexts it accepted and the security contexts (auth_ctx_id) it holds."""

    def __init__(self, monkeypatch):
        self.pdus: dict[int, list] = {}
        self.connections: dict[int, RpcConnection] = {}
        handle = RpcConnection._handle

        def recording(connection, pdu):
            ctx_id = struct.unpack("<H", pdu[20:22])[0] if pdu[2] == rpcrt.MSRPC_REQUEST else None
            self.pdus.setdefault(id(connection), []).append((pdu[2], struct.unpack("<L", pdu[12:16])[0], ctx_id))
            self.connections[id(connection)] = connection
            return handle(connection, pdu)
        monkeypatch.setattr(RpcConnection, "_handle", recording)

    def exporter(self) -> tuple[RpcConnection, list]:
        """The connection (and its PDUs) on which WMI was bound: the object exporter's."""
        [key] = [key for key, connection in self.connections.items()
                 if impacket_wmi.IID_IWbemLevel1Login in connection.contexts.values()]
        return self.connections[key], self.pdus[key]

    def count(self, ptype: int) -> int:
        return sum(1 for pdus in self.pdus.values() for entry in pdus if entry[0] == ptype)


def client_binds(monkeypatch) -> list:
    """Every ``DCERPC_v5.bind`` the client makes: ("bind" or "alter", abstract syntax)."""
    binds, bind = [], rpcrt.DCERPC_v5.bind

    def binding(dce, uuid, alter=0, *args, **kwargs):
        binds.append(("alter" if alter else "bind", bytes(uuid)))
        return bind(dce, uuid, alter, *args, **kwargs)
    monkeypatch.setattr(rpcrt.DCERPC_v5, "bind", binding)
    return binds


def assert_one_bind_one_security_context(wire):
    exporter, pdus = wire.exporter()
    assert [ptype for ptype, _call, _ctx in pdus if ptype != rpcrt.MSRPC_REQUEST] == [
        rpcrt.MSRPC_BIND, rpcrt.MSRPC_AUTH3]
    assert set(exporter.contexts.values()) >= WBEM and len(exporter.security) == 1
    requests = [(call, ctx) for ptype, call, ctx in pdus if ptype == rpcrt.MSRPC_REQUEST]
    assert len({ctx for _call, ctx in requests}) == 3                    # every interface used, each its context
    calls = [call for call, _ctx in requests]
    assert calls == sorted(set(calls)) and calls[0] > 1                  # increasing, after the bind's
    return exporter, requests


@pytest.mark.parametrize("profile", ["nt4", "w2k"])
def test_a_facts_probe_sends_no_alter_context_for_wmi(tmp_path, monkeypatch, profile):
    with samba_site(tmp_path, hosts=[SITE], wmi=True, options={SITE: {"profile": profile}}) as (_state, lab, wmi):
        wire = Wire(monkeypatch)
        binds = client_binds(monkeypatch)
        host = transport(lab, SITE, tmp_path, wmi_addresses=wmi)
        try:
            answer = host.probe(probe_parameters())
        finally:
            host.close()
    assert answer["active_packages"]["available"], answer["active_packages"]
    assert answer["console_open"] is not None
    assert [kind for kind, _uuid in binds if kind == "alter"] == []      # was 2
    assert wire.count(rpcrt.MSRPC_ALTERCTX) == 0
    assert_one_bind_one_security_context(wire)


@pytest.fixture(scope="module")
def msrpc():
    from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc import activation, wmi
    return SimpleNamespace(activation=activation, wmi=wmi)


@pytest.fixture
def hosts(tmp_path, msrpc):
    """The hierarchy scenario's responder, sms711 on the nt4 profile and sms712 on w2k."""
    with hierarchy_wmi(tmp_path, {NT4: "nt4", W2K: "w2k"}) as lab:
        msrpc.activation.forget()

        def connection(name):
            return msrpc.wmi.WmiConnection(msrpc.wmi.WmiTarget(host=name, address=lab.addresses[name], user=lab.user,
                                                               password=lab.password, timeout=10))
        yield connection
        msrpc.activation.forget()


def _packages(connection, code):
    return [row["PackageID"] for row in connection.query(f"root\\SMS\\site_{code}", "select PackageID from SMS_Package")]


def _refusal(connection):
    """What a call to IRemUnknown2 on the exporter connection raises (impacket's INTERFACE.connect)."""
    with pytest.raises(rpcrt.DCERPCException) as raised:
        connection._login.connect(dcomrt.IID_IRemUnknown2)
    return str(raised.value)


def test_a_context_refused_in_the_bind_leaves_the_others_served(hosts, msrpc, monkeypatch):
    """nt4 refuses IRemUnknown2 (COM 5.6) in the same bind: the WMI contexts work, one security context; a call
    to IRemUnknown2 fails as it does when it was not proposed (an alter-context the server refuses)."""
    before = hosts(NT4)
    try:
        before.open()
        assert _packages(before, "711") == ["70000001"]
        unproposed = _refusal(before)
    finally:
        before.close()

    proposed = (dcomrt.IID_IRemUnknown2, impacket_wmi.IID_IWbemServices, impacket_wmi.IID_IEnumWbemClassObject)
    monkeypatch.setattr(msrpc.wmi, "exporter_interfaces", lambda: proposed, raising=False)
    wire = Wire(monkeypatch)
    binds = client_binds(monkeypatch)
    connection = hosts(NT4)
    try:
        connection.open()
        assert _packages(connection, "711") == ["70000001"]
        exporter, requests = assert_one_bind_one_security_context(wire)
        assert dcomrt.IID_IRemUnknown2 not in exporter.contexts.values()
        assert [kind for kind, _uuid in binds if kind == "alter"] == []
        assert _refusal(connection) == unproposed
        assert "abstract_syntax_not_supported" in unproposed
        assert _packages(connection, "711") == ["70000001"]          # the accepted contexts still serve
        assert [uuid for kind, uuid in binds if kind == "alter"] == [dcomrt.IID_IRemUnknown2]
    finally:
        connection.close()


def test_a_proposed_context_the_host_exports_needs_no_alter_context(hosts, msrpc, monkeypatch):
    """w2k exports IRemUnknown2: proposed in the bind, switching to it sends nothing."""
    proposed = (impacket_wmi.IID_IWbemServices, impacket_wmi.IID_IEnumWbemClassObject, dcomrt.IID_IRemUnknown2)
    monkeypatch.setattr(msrpc.wmi, "exporter_interfaces", lambda: proposed, raising=False)
    binds = client_binds(monkeypatch)
    connection = hosts(W2K)
    try:
        connection.open()
        connection._login.connect(dcomrt.IID_IRemUnknown2)
        assert _packages(connection, "712") == ["70000001", "70000002", "71200001"]
    finally:
        connection.close()
    assert [kind for kind, _uuid in binds if kind == "alter"] == []


def test_another_impacket_keeps_impackets_alter_contexts(hosts, msrpc, monkeypatch):
    """Pinned to impacket 0.13.1: with another version, impacket's one-interface bind and its alter-contexts."""
    from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc import impacket_speedups
    monkeypatch.setattr(impacket_speedups, "is_pinned", lambda: False)
    binds = client_binds(monkeypatch)
    connection = hosts(NT4)
    try:
        connection.open()
        assert _packages(connection, "711") == ["70000001"]
    finally:
        connection.close()
    assert [uuid for kind, uuid in binds if kind == "alter"] == [impacket_wmi.IID_IWbemServices,
                                                                 impacket_wmi.IID_IEnumWbemClassObject]
