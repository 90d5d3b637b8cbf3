"""MS-WMI objects of one host: IWbemLevel1Login, IWbemServices, IEnumWbemClassObject, Win32_Process.Create.

Every answer is read from the host's ``host.json`` at the time of the call (the Samba lab and the WinRM
twins change the same state), so WMI agrees with the other transports. Faults from ``host.json`` ``faults``:

- ``wmi_down``: the whole WMI service fails to start: the activation answers ``CO_E_SERVER_EXEC_FAILURE``;
- ``wmi_unavailable``: the SMS Provider namespaces (``root\\SMS``...) do not exist:
  ``WBEM_E_INVALID_NAMESPACE`` (the WinRM probe twin reports the same code);
- ``wmi_access_denied``: DCOM refuses the activation with ``E_ACCESSDENIED`` (an account that is not an
  administrator on a default NT 4.0 / 2000 DCOM configuration);
- ``wmi_query_hangs``: ``ExecQuery`` never answers (the client's own timeout must end the wait);
- ``rpc_unavailable`` is handled by the responder: nothing listens on the host's port 135.

``Win32_Process.Create`` runs a program the lab knows (``COMMAND_HANDLERS``, e.g. the Q244405.exe twin) on
the host state when the file exists on the host, and shows the process in ``Win32_Process`` for
``PROCESS_SECONDS`` (plus the host's ``slow_seconds``), so a client can wait for it to end. The exit code is
kept in ``started`` (the lab's record) but, as on NT 4.0, no WMI class publishes it.
"""

from __future__ import annotations

import logging
import ntpath
import os
import threading
import time

from impacket.dcerpc.v5.dcom import wmi
from impacket.dcerpc.v5.dcomrt import ORPCTHAT, PMInterfacePointer
from impacket.dcerpc.v5.dtypes import NULL

from smslab.dcom import wmio, wql
from smslab.dcom.rpc_server import RpcFault
from smslab.handlers import COMMAND_HANDLERS, HostContext
from smslab.state import HostState

LOG = logging.getLogger(__name__)

WBEM_S_FALSE = 0x00000001
PROCESS_SECONDS = 1.0
CREATE_PATH_NOT_FOUND = 9          # Win32_Process.Create return values (MS docs)
CREATE_UNKNOWN_FAILURE = 8


def _orpcthat() -> ORPCTHAT:
    that = ORPCTHAT()
    that["flags"] = 0
    that["extensions"] = NULL
    return that


def _text(bstr) -> str:
    """A BSTR as impacket's client sends it (``checkNullString`` appends a NUL)."""
    return str(bstr["asData"]).rstrip("\x00")


def _set_pointer(pointer, data: bytes) -> None:
    pointer["ulCntData"] = len(data)
    pointer["abData"] = list(data)


class HostWmi:
    """The WMI of one host: reads ``<root>/host.json`` per call; ``started`` holds Create's processes."""

    def __init__(self, root, exporter, stop: threading.Event):
        self.root = root
        self.exporter = exporter
        self.stop = stop
        self.started: list[dict] = []
        self.lock = threading.Lock()

    def state(self) -> HostState:
        return HostState.load(self.root)

    @property
    def server_name(self) -> str:
        return self.exporter.computer_name

    def running(self) -> list[dict]:
        now = time.monotonic()
        with self.lock:
            return [proc for proc in self.started if proc["ends_at"] > now]

    # ---- activation ---------------------------------------------------------------------
    def activate(self, clsid: bytes, caller: str):
        if clsid != wmi.CLSID_WbemLevel1Login:
            return 0x80040154                    # REGDB_E_CLASSNOTREG
        faults = self.state().faults
        if faults.get("wmi_down"):
            return 0x80080005                    # CO_E_SERVER_EXEC_FAILURE: winmgmt did not start
        if faults.get("wmi_access_denied"):
            LOG.info("%s: activation refused for %s (fault wmi_access_denied)", self.server_name, caller)
            return 0x80070005                    # E_ACCESSDENIED
        return Level1Login(self)

    # ---- process creation -----------------------------------------------------------------
    def create_process(self, command_line: str, caller: str) -> tuple[int, int]:
        """(ReturnValue, ProcessId) of Win32_Process.Create."""
        argv = wql.split_command_line(command_line or "")
        path = argv[0]
        state = self.state()
        with state.lock:
            try:
                exists = bool(path) and ntpath.isabs(path) and state.exists(path)
            except ValueError:
                exists = False
            if not exists:
                return CREATE_PATH_NOT_FOUND, 0
            handler = COMMAND_HANDLERS.get(ntpath.basename(path).lower())
            if handler is None:
                LOG.error("%s: Win32_Process.Create: the lab does not simulate %s", self.server_name, path)
                return CREATE_UNKNOWN_FAILURE, 0
            rc, stdout, stderr = handler(HostContext(state.name, state), argv)
            state.save()
        seconds = PROCESS_SECONDS + float(state.faults.get("slow_seconds") or 0)
        pid = 2000 + 4 * int.from_bytes(os.urandom(2), "little") % 12000
        with self.lock:
            self.started.append({"pid": pid, "path": path, "command_line": command_line, "exit_code": rc,
                                 "stdout": stdout, "stderr": stderr, "user": caller,
                                 "ends_at": time.monotonic() + seconds})
        return 0, pid


class Level1Login:
    iid = wmi.IID_IWbemLevel1Login

    def __init__(self, host: HostWmi):
        self.host = host

    def call(self, opnum: int, stub: bytes, caller: str) -> bytes:
        if opnum == 3:
            wmi.IWbemLevel1Login_EstablishPosition(stub)
            response = wmi.IWbemLevel1Login_EstablishPositionResponse()
            response["ORPCthat"] = _orpcthat()
            response["LocaleVersion"] = 0
            return response.getData()
        if opnum != 6:                            # RequestChallenge / WBEMLogin: not used over NTLM
            raise RpcFault(wql.WBEM_E_NOT_SUPPORTED)
        request = wmi.IWbemLevel1Login_NTLMLogin(stub)
        namespace = wql.normalise_namespace(request["wszNetworkResource"].rstrip("\x00"))
        response = wmi.IWbemLevel1Login_NTLMLoginResponse()
        response["ORPCthat"] = _orpcthat()
        if wql.classes_of(namespace, self.host.state()) is None:
            response["ppNamespace"] = NULL
            response["ErrorCode"] = wql.WBEM_E_INVALID_NAMESPACE
            return response.getData()
        objref = self.host.exporter.export(wmi.IID_IWbemServices, Services(self.host, namespace))
        _set_pointer(response["ppNamespace"], objref)
        response["ErrorCode"] = 0
        return response.getData()


class Services:
    iid = wmi.IID_IWbemServices

    def __init__(self, host: HostWmi, namespace: str):
        self.host = host
        self.namespace = namespace

    def call(self, opnum: int, stub: bytes, caller: str) -> bytes | None:
        if opnum == 20:
            return self.exec_query(wmi.IWbemServices_ExecQuery(stub))
        if opnum == 6:
            return self.get_object(wmi.IWbemServices_GetObject(stub))
        if opnum == 24:
            return self.exec_method(wmi.IWbemServices_ExecMethod(stub), caller)
        raise RpcFault(wql.WBEM_E_NOT_SUPPORTED)

    def exec_query(self, request) -> bytes | None:
        state = self.host.state()
        if state.faults.get("wmi_query_hangs"):
            self.host.stop.wait()                 # until the lab stops: the client's timeout ends the call
            return None
        response = wmi.IWbemServices_ExecQueryResponse()
        response["ORPCthat"] = _orpcthat()
        try:
            cls, rows = wql.run_query(_text(request["strQuery"]), self.namespace, state,
                                      wql.process_rows(state, self.host.running()))
        except wql.WbemError as exc:
            LOG.info("%s: ExecQuery refused: %s", self.host.server_name, exc)
            response["ppEnum"] = NULL
            response["ErrorCode"] = exc.hresult
            return response.getData()
        objects = [wmio.objref(wmio.instance_object(cls, row, self.host.server_name, self.namespace))
                   for row in rows]
        enumerator = self.host.exporter.export(wmi.IID_IEnumWbemClassObject, Enumerator(objects))
        _set_pointer(response["ppEnum"], enumerator)
        response["ErrorCode"] = 0
        return response.getData()

    def get_object(self, request) -> bytes:
        path = _text(request["strObjectPath"])
        response = wmi.IWbemServices_GetObjectResponse()
        response["ORPCthat"] = _orpcthat()
        response["ppCallResult"] = NULL
        if "." in path:                   # an instance path (a class path is the class's name alone)
            state = self.host.state()
            try:
                cls, row = wql.instance_at(path, self.namespace, state, wql.process_rows(state, self.host.running()))
            except wql.WbemError as exc:
                LOG.info("%s: GetObject refused: %s", self.host.server_name, exc)
                response["ppObject"] = NULL
                response["ErrorCode"] = exc.hresult
                return response.getData()
            _set_pointer(response["ppObject"], wmio.objref(wmio.instance_object(cls, row, self.host.server_name,
                                                                                self.namespace)))
            response["ErrorCode"] = 0
            return response.getData()
        cls = (wql.classes_of(self.namespace, self.host.state()) or {}).get(path.lower())
        if cls is None:
            response["ppObject"] = NULL
            response["ErrorCode"] = wql.WBEM_E_NOT_FOUND
            return response.getData()
        _set_pointer(response["ppObject"], wmio.objref(wmio.class_object(cls, self.host.server_name,
                                                                         self.namespace)))
        response["ErrorCode"] = 0
        return response.getData()

    def exec_method(self, request, caller: str) -> bytes:
        response = wmi.IWbemServices_ExecMethodResponse()
        response["ORPCthat"] = _orpcthat()
        response["ppCallResult"] = NULL
        path, method = _text(request["strObjectPath"]), _text(request["strMethodName"])
        classes = wql.classes_of(self.namespace, self.host.state()) or {}
        cls = classes.get(path.lower())
        if cls is None or not any(m.name.lower() == method.lower() for m in cls.methods):
            response["ppOutParams"] = NULL
            response["ErrorCode"] = wql.WBEM_E_INVALID_METHOD if cls else wql.WBEM_E_INVALID_CLASS
            return response.getData()
        try:
            values = wmio.decode_instance_values(
                wmi.OBJREF_CUSTOM(b"".join(request["pInParams"]["abData"]))["pObjectData"])
        except Exception:                       # noqa: BLE001 - any undecodable parameter block is the client's
            response["ppOutParams"] = NULL
            response["ErrorCode"] = wql.WBEM_E_INVALID_METHOD_PARAMETERS
            return response.getData()
        return_value, pid = self.host.create_process(str(values.get("CommandLine") or ""), caller)
        out_class = wmio.CimClass("__PARAMETERS", cls.methods[0].out_params)
        out = wmio.instance_object(out_class, {"ProcessId": pid or None, "ReturnValue": return_value})
        _set_pointer(response["ppOutParams"], wmio.objref(out))
        response["ErrorCode"] = 0
        return response.getData()


class Enumerator:
    iid = wmi.IID_IEnumWbemClassObject

    def __init__(self, objects: list[bytes]):
        self.objects = objects
        self.cursor = 0

    def call(self, opnum: int, stub: bytes, caller: str) -> bytes:
        if opnum == 3:                          # Reset
            self.cursor = 0
            response = wmi.IEnumWbemClassObject_ResetResponse()
            response["ORPCthat"] = _orpcthat()
            response["ErrorCode"] = 0
            return response.getData()
        if opnum != 4:
            raise RpcFault(wql.WBEM_E_NOT_SUPPORTED)
        request = wmi.IEnumWbemClassObject_Next(stub)
        batch = self.objects[self.cursor:self.cursor + request["uCount"]]
        self.cursor += len(batch)
        response = wmi.IEnumWbemClassObject_NextResponse()
        response["ORPCthat"] = _orpcthat()
        for data in batch:
            pointer = PMInterfacePointer()
            _set_pointer(pointer, data)
            response["apObjects"].append(pointer)
        response["puReturned"] = len(batch)
        response["ErrorCode"] = 0 if len(batch) == request["uCount"] else WBEM_S_FALSE
        return response.getData()
