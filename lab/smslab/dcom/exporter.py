"""One host's DCOM object exporter: OXID resolver, remote activation, IRemUnknown and the object table.

MS-DCOM as a client walks it: an activation on port 135 returns the new object's OBJREF, the exporter's
string bindings (this host's address, port 135: the lab serves the object exporter on the resolver's
port) and the IPID of its ``IRemUnknown``; later calls carry the object's IPID in the request header.
What the host offers follows its profile (``smslab.profiles``, MS-DCOM 2.2.11 COMVERSION):

- ``IActivation::RemoteActivation`` (opnum 0, MS-DCOM 3.1.2.5.2.3.1) on every profile: NT 4.0 has only
  this one; ``IRemoteSCMActivator::RemoteCreateInstance`` (3.1.2.5.2.3.3) from COM 5.6 (the responder
  does not even accept the bind on ``nt4``);
- ``IObjectExporter`` ResolveOxid, SimplePing, ComplexPing, ServerAlive, ResolveOxid2, and ServerAlive2
  from 5.6 only (an older exporter answers ``nca_s_op_rng_error``, the fault for an opnum it lacks);
- ``IRemUnknown``: RemQueryInterface answers one REMQIRESULT per requested IID, a missing interface
  carrying E_NOINTERFACE inside the array and the call itself S_OK (3.1.1.5.6.1.1, 3.2.4.4.3; Wine's ole32
  returns S_FALSE / E_NOINTERFACE for some / none found instead, which aiowmi would take as a failed call);
  RPC_E_INVALID_OBJECT for an unknown IPID.

Objects are kept in ``objects`` (IPID -> ``DcomObject``) until released; ``call`` dispatches an ORPC call
by the IPID alone (3.1.1.5.4 has no check of the presentation context's interface).
"""

from __future__ import annotations

import os
import struct
import threading
from dataclasses import dataclass, field

from impacket.dcerpc.v5 import dcomrt
from impacket.dcerpc.v5.dtypes import HRESULT, NULL, ULONG
from impacket.dcerpc.v5.ndr import NDRPOINTER, NDRSTRUCT, NDRUniConformantArray
from impacket.dcerpc.v5.rpcrt import RPC_C_AUTHN_LEVEL_CONNECT, RPC_C_AUTHN_WINNT

from smslab.dcom.rpc_server import NCA_S_OP_RNG_ERROR, RpcFault
from smslab.profiles import HostProfile, profile_named

E_ACCESSDENIED = 0x80070005
E_NOINTERFACE = 0x80004002
E_NOTIMPL = 0x80004001
RPC_E_INVALID_OBJECT = 0x80010114
REGDB_E_CLASSNOTREG = 0x80040154
OR_INVALID_OXID = 0x00000776
TOWER_TCP = 7


class REMQIRESULT(NDRSTRUCT):
    """MS-DCOM 2.2.24 (impacket's own has an HRESULT member that does not encode inside an array)."""
    structure = (("hResult", ULONG), ("std", dcomrt.STDOBJREF))


class REMQIRESULT_ARRAY(NDRUniConformantArray):
    """``[out, size_is(,cIids)] REMQIRESULT** ppQIResults`` (MS-DCOM 3.1.1.5.6.1.1); impacket's
    ``RemQueryInterfaceResponse`` declares a single REMQIRESULT, which reads the same bytes for one IID."""
    item = REMQIRESULT


class PREMQIRESULT_ARRAY(NDRPOINTER):
    referent = (("Data", REMQIRESULT_ARRAY),)


class RemQueryInterfaceArrayResponse(dcomrt.DCOMANSWER):
    structure = (("ppQIResults", PREMQIRESULT_ARRAY), ("ErrorCode", dcomrt.error_status_t))


class _ULONG_ARRAY(NDRUniConformantArray):
    item = ULONG


class _FailedRemoteActivationResponse(dcomrt.RemoteActivationResponse):
    """RemoteActivation's answer without an object: each ``ppInterfaceData`` entry a NULL unique pointer (4
    zero bytes on the wire, which impacket's pointer array cannot encode) and ``pResults`` the failure."""
    structure = tuple((name, _ULONG_ARRAY if name in ("ppInterfaceData", "pResults") else kind)
                      for name, kind in dcomrt.RemoteActivationResponse.structure)


@dataclass
class DcomObject:
    iid: bytes                 # 20-byte interface id + version, as impacket writes it
    handler: object            # has ``call(opnum, stub, caller) -> bytes``
    oid: int
    refs: int = 5                  # the cPublicRefs handed out with the OBJREF
    extra_iids: set = field(default_factory=set)


def _guid() -> bytes:
    return os.urandom(16)


def _orpcthat() -> dcomrt.ORPCTHAT:
    that = dcomrt.ORPCTHAT()
    that["flags"] = 0
    that["extensions"] = NULL
    return that


class Exporter:
    """The DCOM side of one simulated host (``address`` is where its port 135 listens)."""

    def __init__(self, address: str, computer_name: str, activate, auth_hint: int = RPC_C_AUTHN_LEVEL_CONNECT,
                 profile: HostProfile | None = None):
        """``activate(clsid, caller) -> handler`` makes the object for a CLSID (raise ``RpcFault`` or return an
        HRESULT int to refuse). ``profile``: the imitated OS (default: the lab's default profile)."""
        self.profile = profile or profile_named(None)
        self.address = address
        self.exporter_port: int | None = None
        self.computer_name = computer_name
        self.activate = activate
        self.auth_hint = auth_hint
        self.oxid = struct.unpack("<Q", os.urandom(8))[0]
        self.ipid_rem_unknown = _guid()
        self.objects: dict[bytes, DcomObject] = {}
        self.lock = threading.Lock()

    # ---- object table -----------------------------------------------------------------
    def export(self, iid: bytes, handler) -> bytes:
        """Register an object, return its OBJREF_STANDARD (what goes into an MInterfacePointer)."""
        ipid = _guid()
        oid = struct.unpack("<Q", os.urandom(8))[0]
        with self.lock:
            self.objects[ipid] = DcomObject(iid, handler, oid)
        ref = dcomrt.OBJREF_STANDARD()
        ref["iid"] = iid[:16]
        ref["std"]["flags"] = 0
        ref["std"]["cPublicRefs"] = 5
        ref["std"]["oxid"] = self.oxid
        ref["std"]["oid"] = oid
        ref["std"]["ipid"] = ipid
        ref["saResAddr"] = self.dual_string_array(resolver=True).getData()
        return ref.getData()

    def lookup(self, ipid: bytes | None) -> DcomObject:
        with self.lock:
            obj = self.objects.get(ipid or b"")
        if obj is None:
            raise RpcFault(RPC_E_INVALID_OBJECT, "unknown IPID")
        return obj

    def call(self, ipid: bytes, opnum: int, stub: bytes, caller: str) -> bytes | None:
        """An ORPC call to the object (or this exporter's IRemUnknown) that ``ipid`` names."""
        if ipid == self.ipid_rem_unknown:
            return self.rem_unknown(opnum, stub)
        return self.lookup(ipid).handler.call(opnum, stub, caller)

    def com_version(self) -> dcomrt.COMVERSION:
        version = dcomrt.COMVERSION()
        version["MajorVersion"], version["MinorVersion"] = self.profile.com_version
        return version

    def dual_string_array(self, resolver: bool = False) -> dcomrt.DUALSTRINGARRAY:
        """ncacn_ip_tcp:<address>[port], then the NTLM security binding (MS-DCOM 2.2.19). The object exporter's
        port is 135 (the lab serves it there) unless ``exporter_port`` says otherwise (a blackholed port)."""
        port = 135 if resolver or self.exporter_port is None else self.exporter_port
        strings = struct.pack("<H", TOWER_TCP) + f"{self.address}[{port}]".encode("utf-16le") + b"\x00\x00" + b"\x00\x00"
        security = struct.pack("<HH", RPC_C_AUTHN_WINNT, 0xFFFF) + b"\x00\x00" + b"\x00\x00"
        array = dcomrt.DUALSTRINGARRAY()
        array["wNumEntries"] = (len(strings) + len(security)) // 2
        array["wSecurityOffset"] = len(strings) // 2
        array["aStringArray"] = list(struct.unpack(f"<{array['wNumEntries']}H", strings + security))
        return array

    # ---- IObjectExporter ---------------------------------------------------------------
    def object_exporter(self, opnum: int, stub: bytes) -> bytes:
        if opnum in (0, 4):                         # ResolveOxid, ResolveOxid2
            request = (dcomrt.ResolveOxid if opnum == 0 else dcomrt.ResolveOxid2)(stub)
            response = (dcomrt.ResolveOxidResponse if opnum == 0 else dcomrt.ResolveOxid2Response)()
            if request["pOxid"] != self.oxid:
                response["ppdsaOxidBindings"] = NULL
                response["ErrorCode"] = OR_INVALID_OXID
                return response.getData()
            response["ppdsaOxidBindings"] = self.dual_string_array()
            response["pipidRemUnknown"] = self.ipid_rem_unknown
            response["pAuthnHint"] = self.auth_hint
            if opnum == 4:
                response["pComVersion"] = self.com_version()
            response["ErrorCode"] = 0
            return response.getData()
        if opnum == 1:                              # SimplePing
            return dcomrt.SimplePingResponse().getData()
        if opnum == 2:                              # ComplexPing
            request = dcomrt.ComplexPing(stub)
            response = dcomrt.ComplexPingResponse()
            response["pSetId"] = request["pSetId"] or struct.unpack("<Q", os.urandom(8))[0]
            response["pPingBackoffFactor"] = 0
            return response.getData()
        if opnum == 3:                              # ServerAlive
            return dcomrt.ServerAliveResponse().getData()
        if opnum == 5 and self.profile.server_alive2:      # ServerAlive2: COM 5.6 and later
            response = dcomrt.ServerAlive2Response()
            response["pComVersion"] = self.com_version()
            response["ppdsaOrBindings"] = self.dual_string_array(resolver=True)
            response["pReserved"] = NULL
            return response.getData()
        raise RpcFault(NCA_S_OP_RNG_ERROR)

    # ---- IRemoteSCMActivator -----------------------------------------------------------
    def activator(self, opnum: int, stub: bytes, caller: str) -> bytes:
        if opnum != 4:                              # only RemoteCreateInstance is used by the collection
            raise RpcFault(NCA_S_OP_RNG_ERROR)
        request = dcomrt.RemoteCreateInstance(stub)
        ref = dcomrt.OBJREF_CUSTOM(b"".join(request["pActProperties"]["abData"]))
        blob = dcomrt.ACTIVATION_BLOB(ref["pObjectData"])
        info = dcomrt.InstantiationInfoData()
        size = info.fromString(blob["Property"])
        info.fromStringReferents(blob["Property"][size:])
        clsid = info["classId"]
        iid = b"".join(info["pIID"][0]["Data"]) if isinstance(info["pIID"][0]["Data"], list) else \
            info["pIID"][0]["Data"]
        response = dcomrt.RemoteCreateInstanceResponse()
        response["ORPCthat"] = _orpcthat()
        handler = self.activate(clsid, caller)
        if isinstance(handler, int):
            response["ppActProperties"] = NULL
            response["ErrorCode"] = handler
            return response.getData()
        objref = self.export(iid + b"\x00\x00\x00\x00", handler)
        properties = self._props_out(iid, objref)
        scm_reply = self._scm_reply()
        out = dcomrt.ACTIVATION_BLOB()
        out["CustomHeader"]["destCtx"] = 2
        out["CustomHeader"]["pdwReserved"] = NULL
        for clsid_out in (dcomrt.CLSID_PropsOutInfo, dcomrt.CLSID_ScmReplyInfo):
            item = dcomrt.CLSID()
            item["Data"] = clsid_out
            out["CustomHeader"]["pclsid"].append(item)
        for blob_part in (properties, scm_reply):
            dword = dcomrt.DWORD()
            dword["Data"] = len(blob_part)
            out["CustomHeader"]["pSizes"].append(dword)
        out["Property"] = properties + scm_reply
        custom = dcomrt.OBJREF_CUSTOM()
        custom["iid"] = dcomrt.IID_IActivationPropertiesOut[:16]
        custom["clsid"] = dcomrt.CLSID_ActivationPropertiesOut
        custom["pObjectData"] = out.getData()
        custom["ObjectReferenceSize"] = len(custom["pObjectData"]) + 8
        data = custom.getData()
        response["ppActProperties"]["ulCntData"] = len(data)
        response["ppActProperties"]["abData"] = list(data)
        response["ErrorCode"] = 0
        return response.getData()

    @staticmethod
    def _padded(structure) -> bytes:
        marshaled = structure.getData() + structure.getDataReferents()
        return marshaled + b"\xfa" * ((8 - len(marshaled) % 8) % 8)

    def _props_out(self, iid: bytes, objref: bytes) -> bytes:
        props = dcomrt.PropsOutInfo()
        props["cIfs"] = 1
        item = dcomrt.IID()
        item["Data"] = iid
        props["piid"].append(item)
        ok = HRESULT()
        ok["Data"] = 0
        props["phresults"].append(ok)
        pointer = dcomrt.PMInterfacePointer()
        pointer["ulCntData"] = len(objref)
        pointer["abData"] = list(objref)
        props["ppIntfData"].append(pointer)
        return self._padded(props)

    def _scm_reply(self) -> bytes:
        reply = dcomrt.ScmReplyInfoData()
        reply["pdwReserved"] = 0
        reply["remoteReply"]["Oxid"] = self.oxid
        reply["remoteReply"]["pdsaOxidBindings"] = self.dual_string_array()
        reply["remoteReply"]["ipidRemUnknown"] = self.ipid_rem_unknown
        reply["remoteReply"]["authnHint"] = self.auth_hint
        reply["remoteReply"]["serverVersion"] = self.com_version()
        return self._padded(reply)

    # ---- IActivation -------------------------------------------------------------------
    def remote_activation(self, opnum: int, stub: bytes, caller: str) -> bytes:
        """IActivation::RemoteActivation (MS-DCOM 3.1.2.5.2.3.1): what NT 4.0 answers activations with."""
        if opnum != 0:
            raise RpcFault(NCA_S_OP_RNG_ERROR)
        request = dcomrt.RemoteActivation(stub)
        iids = [item["Data"] for item in request["pIIDs"]]
        handler = self.activate(request["Clsid"], caller) if iids else E_NOINTERFACE
        if not isinstance(handler, int) and any(iid not in (handler.iid[:16], dcomrt.IID_IUnknown[:16])
                                                for iid in iids):
            handler = E_NOINTERFACE               # the lab answers all the IIDs asked for, or none
        failed = isinstance(handler, int)
        response = _FailedRemoteActivationResponse() if failed else dcomrt.RemoteActivationResponse()
        response["ORPCthat"] = _orpcthat()
        response["pOxid"] = self.oxid
        response["ppdsaOxidBindings"] = self.dual_string_array()
        response["pipidRemUnknown"] = self.ipid_rem_unknown
        response["pAuthnHint"] = self.auth_hint
        response["pServerVersion"] = self.com_version()
        if failed:                                # no object: phr says why, every pointer is NULL
            response["phr"] = handler - (1 << 32) if handler & 0x80000000 else handler    # HRESULT is signed
            for _iid in iids:
                for name, value in (("ppInterfaceData", 0), ("pResults", handler)):
                    item = ULONG()
                    item["Data"] = value
                    response[name].append(item)
            response["ErrorCode"] = 0
            return response.getData()
        response["phr"] = 0
        for _iid in iids:
            objref = self.export(handler.iid, handler)
            pointer = dcomrt.PMInterfacePointer()
            pointer["ulCntData"] = len(objref)
            pointer["abData"] = list(objref)
            response["ppInterfaceData"].append(pointer)
            result = HRESULT()
            result["Data"] = 0
            response["pResults"].append(result)
        response["ErrorCode"] = 0
        return response.getData()

    # ---- IRemUnknown(2) ----------------------------------------------------------------
    def _rem_query_interface(self, request) -> bytes:
        """One REMQIRESULT per requested IID, E_NOINTERFACE inside the array for one the object lacks."""
        with self.lock:
            obj = self.objects.get(request["ripid"])
        response = RemQueryInterfaceArrayResponse()
        response["ORPCthat"] = _orpcthat()
        found = 0
        for item in request["iids"]:
            result = REMQIRESULT()
            std = result["std"]
            std["flags"], std["cPublicRefs"], std["oxid"], std["oid"] = 0, 0, 0, 0
            std["ipid"] = b"\x00" * 16
            if obj is not None and item["Data"] in (obj.iid[:16], dcomrt.IID_IUnknown[:16], *obj.extra_iids):
                obj.refs += request["cRefs"]
                found += 1
                result["hResult"] = 0
                std["cPublicRefs"], std["oxid"], std["oid"], std["ipid"] = request["cRefs"], self.oxid, obj.oid, \
                    request["ripid"]
            else:
                result["hResult"] = E_NOINTERFACE if obj is not None else RPC_E_INVALID_OBJECT
            response["ppQIResults"].append(result)
        if not request["iids"] or obj is None:
            response["ppQIResults"] = NULL
        # S_OK whenever the IPID exists: the per-IID hResult says which interfaces were found (3.2.4.4.3: "when
        # the call returns successfully, the client MUST [check] each entry"); an unknown IPID is the call's error
        response["ErrorCode"] = RPC_E_INVALID_OBJECT if obj is None else 0
        return response.getData()

    def rem_unknown(self, opnum: int, stub: bytes) -> bytes:
        if opnum == 3:                              # RemQueryInterface
            return self._rem_query_interface(dcomrt.RemQueryInterface(stub))
        if opnum == 4:                              # RemAddRef
            request = dcomrt.RemAddRef(stub)
            response = dcomrt.RemAddRefResponse()
            response["ORPCthat"] = _orpcthat()
            for ref in request["InterfaceRefs"]:
                with self.lock:
                    obj = self.objects.get(ref["ipid"])
                if obj is not None:
                    obj.refs += ref["cPublicRefs"]
                result = dcomrt.DWORD()
                result["Data"] = 0 if obj is not None else RPC_E_INVALID_OBJECT
                response["pResults"].append(result)
            response["ErrorCode"] = 0
            return response.getData()
        if opnum == 5:                              # RemRelease
            request = dcomrt.RemRelease(stub)
            for ref in request["InterfaceRefs"]:
                with self.lock:
                    obj = self.objects.get(ref["ipid"])
                    if obj is not None:
                        obj.refs -= max(1, ref["cPublicRefs"])
                        if obj.refs <= 0:                   # the last reference: the object is gone
                            del self.objects[ref["ipid"]]
            response = dcomrt.RemReleaseResponse()
            response["ORPCthat"] = _orpcthat()
            response["ErrorCode"] = 0
            return response.getData()
        raise RpcFault(NCA_S_OP_RNG_ERROR)
