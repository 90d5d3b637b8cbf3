"""One host's DCOM object exporter: OXID resolver, remote activation, IRemUnknown and the object table.

MS-DCOM as impacket's client walks it: ``IRemoteSCMActivator::RemoteCreateInstance`` on port 135 returns
the new object's OBJREF, the exporter's string bindings (this host's address, port 135: the lab serves the
object exporter on the resolver's port) and the IPID of its ``IRemUnknown``; later calls carry the
object's IPID in the request header. ``IObjectExporter`` (ServerAlive2, ResolveOxid2, the pings) answers
on the same port. Objects are kept in ``objects`` (IPID -> ``DcomObject``) until released.
"""

from __future__ import annotations

import os
import struct
import threading
from dataclasses import dataclass, field

from impacket.dcerpc.v5 import dcomrt
from impacket.dcerpc.v5.dtypes import HRESULT, NULL
from impacket.dcerpc.v5.rpcrt import RPC_C_AUTHN_LEVEL_CONNECT, RPC_C_AUTHN_WINNT

from smslab.dcom.rpc_server import NCA_S_OP_RNG_ERROR, RpcFault

E_ACCESSDENIED = 0x80070005
E_NOINTERFACE = 0x80004002
E_NOTIMPL = 0x80004001
RPC_E_INVALID_OBJECT = 0x80010114
REGDB_E_CLASSNOTREG = 0x80040154
OR_INVALID_OXID = 0x00000776
TOWER_TCP = 7


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

    def __init__(self, address: str, computer_name: str, activate, auth_hint: int = RPC_C_AUTHN_LEVEL_CONNECT):
        """``activate(clsid, caller) -> handler`` makes the object for a CLSID (raise ``RpcFault`` or return an
        HRESULT int to refuse)."""
        self.address = address
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
        ref["saResAddr"] = self.dual_string_array().getData()
        return ref.getData()

    def lookup(self, ipid: bytes | None, iid: bytes) -> DcomObject:
        with self.lock:
            obj = self.objects.get(ipid or b"")
        if obj is None:
            raise RpcFault(RPC_E_INVALID_OBJECT, "unknown IPID")
        if iid[:16] not in (obj.iid[:16], *obj.extra_iids):
            raise RpcFault(E_NOINTERFACE, "interface not on this object")
        return obj

    def dual_string_array(self) -> dcomrt.DUALSTRINGARRAY:
        """ncacn_ip_tcp:<address>[135], then the NTLM security binding (MS-DCOM 2.2.19)."""
        strings = struct.pack("<H", TOWER_TCP) + f"{self.address}[135]".encode("utf-16le") + b"\x00\x00" + b"\x00\x00"
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
                response["pComVersion"] = dcomrt.COMVERSION()
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
        if opnum == 5:                              # ServerAlive2
            response = dcomrt.ServerAlive2Response()
            response["pComVersion"] = dcomrt.COMVERSION()
            response["ppdsaOrBindings"] = self.dual_string_array()
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
        reply["remoteReply"]["serverVersion"] = dcomrt.COMVERSION()
        return self._padded(reply)

    # ---- IRemUnknown(2) ----------------------------------------------------------------
    def rem_unknown(self, opnum: int, stub: bytes) -> bytes:
        if opnum == 3:                              # RemQueryInterface
            request = dcomrt.RemQueryInterface(stub)
            response = dcomrt.RemQueryInterfaceResponse()
            response["ORPCthat"] = _orpcthat()
            with self.lock:
                obj = self.objects.get(request["ripid"])
            wanted = request["iids"][0]["Data"] if request["cIids"] else b""
            if obj is None or wanted not in (obj.iid[:16], dcomrt.IID_IUnknown[:16], *obj.extra_iids):
                response["ppQIResults"] = NULL
                response["ErrorCode"] = E_NOINTERFACE
                return response.getData()
            obj.refs += request["cRefs"]
            response["ppQIResults"]["hResult"] = 0
            std = response["ppQIResults"]["std"]
            std["flags"], std["cPublicRefs"], std["oxid"], std["oid"] = 0, request["cRefs"], self.oxid, obj.oid
            std["ipid"] = request["ripid"]
            response["ErrorCode"] = 0
            return response.getData()
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
