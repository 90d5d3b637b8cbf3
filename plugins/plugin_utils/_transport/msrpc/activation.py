# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""DCOM activation on every COM version the collection claims (private to this collection).

impacket's ``DCOMConnection.CoCreateInstanceEx`` speaks only ``IRemoteSCMActivator::RemoteCreateInstance``
(MS-DCOM 3.1.2.5.2.3.3), which a server must offer only when it reports COMVERSION 5.6 or later
(3.1.2.5.2.2, 2.2.11). Windows NT 4.0 (COM 5.4 at most) answers ``IActivation::RemoteActivation``
(opnum 0, 3.1.2.5.2.3.1) and refuses the bind to IRemoteSCMActivator (a bind_ack whose context result is
provider_rejection / abstract_syntax_not_supported). ``activate`` tries RemoteCreateInstance, and on that
refusal opens a new connection to port 135 (impacket leaves the refused association half-authenticated)
and calls RemoteActivation, built here on impacket's NDR structures (``dcomrt.RemoteActivation``; impacket's
own ``IActivation`` sends no ORPCTHIS and ignores the activation's HRESULTs). Which one a host answered is
remembered per address for the rest of the process (``remembered``), and by the probe in the host's cache file
for the next runs (``remember``).

The authentication level is the caller's (``LEVELS``), used for the activation and for every object call
alike: impacket raises a server's CONNECT hint to PKT_INTEGRITY for object calls; here the level asked for
is used as it is, raised only to the server's ``authnHint`` when that is higher (MS-DCOM 3.2.4.1.1.2: a
client uses at least the hint). Nothing ever lowers it.

The OXID resolver: the collection calls no ``IObjectExporter`` method after activation (impacket's pinger is
off); ``resolve_oxid`` picks ResolveOxid2 for 5.6+ and ResolveOxid (version 1, no COMVERSION) below.
"""

from __future__ import annotations

import contextlib

LEVELS = {"connect": 2, "pkt_integrity": 5, "pkt_privacy": 6}     # RPC_C_AUTHN_LEVEL_* (MS-RPCE 2.2.1.1.8)
DEFAULT_LEVEL = "pkt_privacy"
SCM = "IRemoteSCMActivator"
ACTIVATION = "IActivation"
_REMEMBERED: dict[str, str] = {}
_TOWER_TCP = 7


def remembered(address: str) -> str | None:
    """The activator ``address`` answered earlier in this process (``SCM`` / ``ACTIVATION``), or None."""
    return _REMEMBERED.get(address)


def remember(address: str, activator: str) -> None:
    """What an earlier run learnt of ``address`` (the probe keeps ``ACTIVATION`` in the host's cache file: each
    Ansible task runs in a new process, which would try IRemoteSCMActivator on an NT 4.0 host again)."""
    if activator in (SCM, ACTIVATION):
        _REMEMBERED[address] = activator


def forget(address: str | None = None) -> None:
    if address is None:
        _REMEMBERED.clear()
    else:
        _REMEMBERED.pop(address, None)


_UNKNOWN_INTERFACE = ("abstract_syntax_not_supported", "nca_s_unk_if", "rpc_s_unknown_if", "RPC_S_UNKNOWN_IF")
_UNKNOWN_INTERFACE_CODES = (0x1C010003, 0x000006B5)           # nca_s_unk_if (C706), RPC_S_UNKNOWN_IF (MS-ERREF)


def bind_refused(exc: BaseException) -> bool:
    """Whether ``exc`` says the server does not export the interface: a rejected presentation context (what the
    lab answers) or an unknown-interface status (MS-DCOM 3.1.1.5.7 has clients check RPC_S_UNKNOWN_IF)."""
    getter = getattr(exc, "get_error_code", None)
    if getter is not None and getter() in _UNKNOWN_INTERFACE_CODES:
        return True
    text = str(exc)
    return any(word in text for word in _UNKNOWN_INTERFACE) or "Bind context" in text and "rejected" in text


def level_number(level: str | int) -> int:
    if isinstance(level, int):
        return level
    return LEVELS[str(level).lower()]


class _ExactLevel:
    """Mixed into impacket's CLASS_INSTANCE: the object calls use exactly the level set."""

    def get_auth_level(self):
        return self._exact_level


def _pin_level(interface, level: int, hint: int | None) -> None:
    from impacket.dcerpc.v5.dcomrt import CLASS_INSTANCE
    instance = interface.get_cinstance()
    instance.__class__ = type("ExactLevelInstance", (_ExactLevel, CLASS_INSTANCE), {})
    instance._exact_level = max(level, hint or 0)


def activate(open_resolver, clsid: bytes, iid: bytes, address: str, level: str | int = DEFAULT_LEVEL):
    """(interface, the DCOMConnection it came through, activator used, server COMVERSION or None).

    ``open_resolver()`` opens a new ``DCOMConnection`` to the host's port 135 at ``level``."""
    number = level_number(level)
    dcom = open_resolver()
    if remembered(address) != ACTIVATION:
        try:
            interface = dcom.CoCreateInstanceEx(clsid, iid)
        except Exception as exc:                  # noqa: BLE001 - only a refused bind means "try IActivation"
            if not bind_refused(exc):
                raise
            _close_quietly(dcom)
            dcom = open_resolver()
        else:
            _REMEMBERED[address] = SCM
            # the server's authnHint as RemoteCreateInstance answered it (impacket keeps it unraised here)
            _pin_level(interface, number, getattr(interface.get_cinstance(), "_CLASS_INSTANCE__authLevel", None))
            return interface, dcom, SCM, None
    interface, version, hint = remote_activation(dcom.get_dce_rpc(), clsid, iid)
    _REMEMBERED[address] = ACTIVATION
    _pin_level(interface, number, hint)
    return interface, dcom, ACTIVATION, version


def _close_quietly(dcom) -> None:
    try:
        dcom.get_dce_rpc().get_rpc_transport().disconnect()
    except Exception:                             # noqa: BLE001 - the refused connection may already be gone
        pass


def remote_activation(dce, clsid: bytes, iid: bytes):
    """IActivation::RemoteActivation (MS-DCOM 3.1.2.5.2.3.1) on the resolver connection ``dce``.

    (IRemUnknown2-style interface, server COMVERSION (major, minor), the server's authnHint); raises
    impacket's ``DCERPCSessionError`` with the activation's HRESULT (``phr``, then ``pResults[0]``)."""
    from impacket.dcerpc.v5 import dcomrt
    from impacket.dcerpc.v5.dtypes import NULL
    from impacket.uuid import generate
    dce.bind(dcomrt.IID_IActivation)
    this = dcomrt.ORPCTHIS()
    this["cid"] = generate()
    this["extensions"] = NULL
    this["flags"] = 1                             # ORPCF_LOCAL clear; the activation is a new causality
    request = dcomrt.RemoteActivation()
    request["ORPCthis"] = this
    request["Clsid"] = clsid
    request["pwszObjectName"] = NULL
    request["pObjectStorage"] = NULL
    request["ClientImpLevel"] = 2                 # RPC_C_IMP_LEVEL_IDENTIFY
    request["Mode"] = 0                           # a new instance (MODE_GET_CLASS_OBJECT is 0xffffffff)
    request["Interfaces"] = 1
    wanted = dcomrt.IID()
    wanted["Data"] = iid[:16]
    request["pIIDs"].append(wanted)
    request["cRequestedProtseqs"] = 1
    request["aRequestedProtseqs"].append(_TOWER_TCP)
    response = dce.request(request)
    for code in (response["phr"], response["pResults"][0] if response["pResults"] else 0):
        code = (code if isinstance(code, int) else code["Data"]) & 0xFFFFFFFF     # impacket: a signed LONG
        if code & 0x80000000:
            raise dcomrt.DCERPCSessionError(error_code=code)     # a packet would override the code
    bindings = _string_bindings(response["ppdsaOxidBindings"])
    version = (response["pServerVersion"]["MajorVersion"], response["pServerVersion"]["MinorVersion"])
    instance = dcomrt.CLASS_INSTANCE(this, bindings)
    instance.set_auth_type(dce.get_auth_type())
    objref = b"".join(response["ppInterfaceData"][0]["abData"])
    interface = dcomrt.IRemUnknown2(dcomrt.INTERFACE(instance, objref, response["pipidRemUnknown"],
                                                     target=dce.get_rpc_transport().getRemoteName()))
    return interface, version, response["pAuthnHint"]


def _string_bindings(array) -> list:
    """The STRINGBINDINGs of a DUALSTRINGARRAY (MS-DCOM 2.2.19), as impacket's activators read them."""
    from struct import pack
    from impacket.dcerpc.v5.dcomrt import STRINGBINDING
    raw = b"".join(pack("<H", item) for item in array["aStringArray"])[:array["wSecurityOffset"] * 2]
    found = []
    while raw[:2] not in (b"", b"\x00\x00"):
        binding = STRINGBINDING(raw)
        found.append(binding)
        raw = raw[len(binding):]
    return found


def resolve_oxid(dce, oxid: int, com_version: tuple[int, int] | None):
    """IObjectExporter ResolveOxid2 (5.6+, MS-DCOM 3.1.2.5.1.5) or ResolveOxid (3.1.2.5.1.1) below it:
    the string bindings of ``oxid``'s exporter, read through impacket's ``IObjectExporter``."""
    from impacket.dcerpc.v5.dcomrt import IObjectExporter
    exporter = IObjectExporter(dce)
    if com_version is not None and tuple(com_version) < (5, 6):
        return exporter.ResolveOxid(oxid, [_TOWER_TCP])
    return exporter.ResolveOxid2(oxid, [_TOWER_TCP])


def connect_exporter(interface, iid: bytes, seconds: float, also: tuple = ()) -> None:
    """Open the connection to the object's exporter (the OXID's string binding, usually a dynamic port) with a
    connect bounded by ``seconds``, and register it where impacket's ``INTERFACE.connect`` looks first.

    impacket opens it lazily on the first object call with a 300 s connect timeout, and a connect that a
    firewall drops silently cannot be interrupted by closing sockets from another thread (the socket is not
    known yet): the per-call timeout must hold here too. The one bind proposes ``iid`` and the interfaces
    ``also`` that the calls will use (``reusing_contexts``). Raises ``ExporterUnreachable``."""
    import socket
    from threading import current_thread
    from impacket.dcerpc.v5 import transport
    from impacket.dcerpc.v5.dcomrt import DCOMConnection, INTERFACE
    target, oxid, thread = interface.get_target(), interface.get_oxid(), current_thread().name
    if oxid in INTERFACE.CONNECTIONS.get(target, {}).get(thread, {}):
        return
    address = None
    for binding in interface.get_cinstance().get_string_bindings():
        network = binding["aNetworkAddr"].rstrip("\x00")
        if binding["wTowerId"] == _TOWER_TCP and network.partition("[")[0].upper().find(target.upper()) >= 0:
            address = network
            break
    if address is None:
        raise ExporterUnreachable(f"the object exporter offers no TCP binding at {target}")
    rpc = transport.DCERPCTransportFactory(f"ncacn_ip_tcp:{address}")
    rpc.set_credentials(*DCOMConnection.PORTMAPS[target].get_credentials())
    rpc.set_connect_timeout(max(0.1, seconds))
    dce = reusing_contexts(rpc)
    dce.set_auth_level(interface.get_cinstance().get_auth_level())
    dce.set_auth_type(interface.get_cinstance().get_auth_type())
    try:
        dce.connect()
    except Exception as exc:                      # noqa: BLE001 - impacket wraps the socket error in its own
        raise ExporterUnreachable(f"the object exporter at {address} did not accept a connection within "
                                  f"{seconds:.0f} s ({exc}): a firewall that drops the DCOM dynamic ports "
                                  "silently, or the server is gone") from None
    rpc.get_socket().settimeout(300)              # what impacket leaves on its own connections
    # Registered before the bind, so the call's watchdog (which closes the registered sockets) can end a bind
    # that never answers; a bind that fails takes its connection with it.
    connections = INTERFACE.CONNECTIONS.setdefault(target, {})
    connections[thread] = {oxid: {"dce": dce, "currentBinding": iid}}
    try:
        bind_proposing(dce, iid, also)
    except BaseException:
        connections.pop(thread, None)
        with contextlib.suppress(Exception):
            rpc.disconnect()
        raise


def bind_proposing(dce, iid: bytes, also: tuple = ()):
    """Bind ``iid`` on ``dce``, proposing the interfaces ``also`` in the same bind where ``dce`` can
    (``reusing_contexts`` on the pinned impacket); impacket's own one-interface bind otherwise."""
    propose = getattr(dce, "propose", None)
    others = tuple(other for other in also if bytes(other) != bytes(iid))
    if propose is None or not others:
        return dce.bind(iid)
    return propose(iid, others)


def reusing_contexts(rpc):
    """A DCE/RPC handle on ``rpc`` that keeps its presentation contexts, one per interface, for the connection.

    impacket's ``INTERFACE.connect`` sends an alter-context whenever a call's interface differs from the previous
    call's (IWbemServices, then IEnumWbemClassObject, then IWbemServices again ...), each a round trip that
    negotiates a new presentation context and a new NTLM security context. Here ``propose`` binds the first
    interface and proposes the others in the same bind (C706 12.6.3.1: a bind carries several p_cont_elem, each
    gets its own result; MS-RPCE 3.3.1.5.6), all under the bind's one NTLM security context: a later call to
    one of them only switches the PDU's p_cont_id (no PDU of its own), keeping the bind's auth_context_id
    (MS-RPCE 2.2.2.11: a security context serves every presentation context of the association) and its
    sequence number. A context the server refused, or an interface not proposed, costs an alter-context as in
    impacket (a refused one is then refused again, as it was without the proposal); such a context keeps its
    own security context. A context once negotiated stays valid for the association (C706 12.6.3.1): an
    interface seen before goes back to it. Call ids keep increasing across the contexts. Pinned to impacket
    0.13.1's ``DCERPC_v5`` (``_ctx``, ``_transport_send``, ``bogus_binds`` and the private ``__callid``):
    another version gets impacket's own handle."""
    from impacket.dcerpc.v5.rpcrt import DCERPC_v5, MSRPCBindAck
    from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.impacket_speedups import is_pinned
    if not is_pinned():
        return rpc.get_dce_rpc()

    class ContextPerInterface(DCERPC_v5):          # a class per connection: its table is the connection's
        _contexts: dict = {}                       # abstract syntax -> (handle of its security context, p_cont_id)
        _p_cont_id = None                          # the context the next calls use, when not ``_ctx``

        def bind(self, iface_uuid, alter=0, bogus_binds=0, **kwargs):
            answer = super().bind(iface_uuid, alter, bogus_binds, **kwargs)
            self._contexts[bytes(iface_uuid)] = (self, self._ctx)
            return answer

        def propose(self, iface_uuid, others):
            """One bind for ``iface_uuid`` (refused: impacket's exception) proposing ``others`` too; the
            contexts the server accepted are kept. impacket's ``bogus_binds`` places that many contexts before
            the real one and leaves their results unchecked; ``_Proposing`` gives them the ``others``."""
            own = self._transport
            self._transport = _Proposing(own, others)
            try:
                answer = self.bind(iface_uuid, bogus_binds=len(others))
            finally:
                self._transport = own
            results = MSRPCBindAck(answer.getData()).getCtxItems() if answer else []
            for index, (other, result) in enumerate(zip(others, results)):
                if result["Result"] == 0:          # accepted (C706 p_cont_def_result_t)
                    self._contexts[bytes(other)] = (self, index)
            return answer

        def alter_ctx(self, newUID, bogus_binds=0):  # noqa: N803 - impacket's signature
            known = self._contexts.get(bytes(newUID))
            if known is None:
                own = self._ctx
                self._ctx = max(ctx for _dce, ctx in self._contexts.values())     # the new context: the next id
                try:
                    super().alter_ctx(newUID, bogus_binds)                        # its bind() enters the table
                finally:
                    self._ctx = own
                known = self._contexts[bytes(newUID)]
            handle, ctx = known
            handle._p_cont_id = None if ctx == handle._ctx else ctx
            handle._DCERPC_v5__callid = max(handle._DCERPC_v5__callid, self._DCERPC_v5__callid)
            return handle

        def _transport_send(self, rpc_packet, forceWriteAndx=0, forceRecv=0):  # noqa: N803
            # impacket writes p_cont_id = _ctx and auth_context_id = _ctx + 79231: _ctx stays the bind's
            # (its security context), the p_cont_id is the interface's
            if self._p_cont_id is not None:
                rpc_packet = _OnContext(rpc_packet, self._p_cont_id)
            return super()._transport_send(rpc_packet, forceWriteAndx, forceRecv)

    return ContextPerInterface(rpc)


class _Proposing:
    """The transport while impacket sends a bind with ``len(iids)`` placeholder contexts before the real one
    (``bogus_binds``, random abstract syntaxes): those contexts name ``iids`` instead. The bind's NTLM NEGOTIATE
    covers no part of the PDU (MS-NLMP 3.1.5.1), so changing the PDU does not touch the authentication."""

    _FIRST_ITEM = 16 + 12       # common header; max_xmit_frag, max_recv_frag, assoc_group_id, n_context_elem + pad
    _ITEM = 44                  # p_cont_id, n_transfer_syn (1), reserved, abstract syntax, one transfer syntax

    def __init__(self, transport, iids):
        self._transport = transport
        self._iids = [bytes(iid) for iid in iids]

    def send(self, data, *args, **kwargs):
        from impacket.dcerpc.v5.rpcrt import MSRPC_BIND
        if data[2] == MSRPC_BIND:
            data = bytearray(data)
            for index, iid in enumerate(self._iids):
                start = self._FIRST_ITEM + self._ITEM * index + 4
                data[start:start + 20] = iid
            data = bytes(data)
        return self._transport.send(data, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._transport, name)


class _OnContext:
    """A request PDU whose p_cont_id stays ``ctx`` whatever impacket's ``_transport_send`` writes there."""

    def __init__(self, packet, ctx: int):
        packet["ctx_id"] = ctx
        self._packet = packet

    def __getitem__(self, key):
        return self._packet[key]

    def __setitem__(self, key, value):
        if key != "ctx_id":
            self._packet[key] = value

    def get_packet(self):
        return self._packet.get_packet()


class ExporterUnreachable(Exception):
    """The object exporter's binding did not answer a connect in time."""
