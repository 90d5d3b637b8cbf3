r"""The lab's own ``\pipe\svcctl`` (MS-SCMR) behind a real ``smbd``.

Why not Samba's: Samba serves ``svcctl`` and lists the services of ``svcctl list``, but since
4.15 (commit a60c7b4ff29, "s3:services: Disable rcinit-based service control code") the status,
start and stop of such services are compiled out and always answer ERROR_ACCESS_DENIED - the
``rpc_s_access_denied`` seen in ../shared/notes/legacy-hosts.md. So the lab answers that one pipe.

How: smbd hands every named pipe to a Unix socket ``<external_rpc_pipe:socket_dir>/np/<pipe>``
and speaks Samba's "named pipe auth" (NPA) protocol on it: one request (big-endian length, the
client's session info), one 36-byte reply, then DCE/RPC PDUs in "message mode", each message
prefixed with its 16-bit little-endian length (libcli/named_pipe_auth/npa_tstream.c). The lab
points every other pipe of that folder at samba-dcerpcd's sockets and listens on ``np/svcctl``
itself, so SMB sessions, NTLM, signing, shares and ``\winreg`` stay Samba's.

The DCE/RPC layer is impacket's ``DCERPCServer`` (bind, dispatch by opnum) over a socket adapter
that adds the message framing; the SCMR requests and responses are impacket's own NDR classes,
except REnumServicesStatusW's buffer (``wire.enum_buffer``). Faults are MS-RPCE's 16-byte body, not
``DCERPCServer``'s 12 bytes (Samba's client fails to parse those: "Buffer Size Error").
What an independent client sees was checked with Samba's ``net rpc service list / status / start /
stop`` (tests/lab/test_svcctl_clients.py); ``rpcclient`` 4.17 has no svcctl commands.

Access rights are Windows': a handle holds what OpenSCManager / OpenService granted (SC_MANAGER_CONNECT
is implied by OpenSCManager), and each call needs its right on it (MS-SCMR 3.1.4): OpenService
SC_MANAGER_CONNECT, EnumServicesStatus SC_MANAGER_ENUMERATE_SERVICE, QueryServiceStatus
SERVICE_QUERY_STATUS, QueryServiceConfig SERVICE_QUERY_CONFIG, StartService SERVICE_START, ControlService
(stop) SERVICE_STOP; otherwise ERROR_ACCESS_DENIED. Service state and faults: ``smslab.samba.services``.
"""

from __future__ import annotations

import logging
import os
import socket
import struct
import threading
import uuid
from pathlib import Path

from impacket.dcerpc.v5 import scmr
from impacket.dcerpc.v5.rpcrt import (MSRPC_BIND, MSRPC_REQUEST, MSRPC_RESPONSE, PFC_FIRST_FRAG, PFC_LAST_FRAG, DCERPCServer,
                                      MSRPCHeader, MSRPCRequestHeader)
from impacket.uuid import bin_to_uuidtup

from smslab.samba import services, svcctl_wire as wire
from smslab.samba.services import ServiceError

LOG = logging.getLogger("smslab.samba.svcctl")

# named_pipe_auth_rep level 7 (librpc/idl/named_pipe_auth.idl), as samba-dcerpcd sends it:
# length (BE) 32, "NPAM", level 7, union level 7, file_type 2 (message mode), device_state
# 0x05ff, 4 pad bytes, allocation_size 4096, status 0.
NPA_REPLY = struct.pack(">I", 32) + b"NPAM" + struct.pack("<IIHH4xQI", 7, 7, 2, 0x05FF, 4096, 0)

NULL_HANDLE = b"\0" * 20
GENERIC_READ, GENERIC_WRITE, GENERIC_EXECUTE, GENERIC_ALL = 0x80000000, 0x40000000, 0x20000000, 0x10000000
MAXIMUM_ALLOWED = 0x02000000
READ_CONTROL = 0x00020000
# Generic mappings (MS-SCMR 3.1.4 / Windows SDK winsvc.h).
SCM_GENERIC = {GENERIC_READ: READ_CONTROL | 0x14, GENERIC_WRITE: READ_CONTROL | 0x22,
               GENERIC_EXECUTE: READ_CONTROL | 0x09, GENERIC_ALL: 0xF003F}
SVC_GENERIC = {GENERIC_READ: READ_CONTROL | 0x8D, GENERIC_WRITE: READ_CONTROL | 0x02,
               GENERIC_EXECUTE: READ_CONTROL | 0x170, GENERIC_ALL: 0xF01FF}
# What an account may get: an administrator everything; a plain user what NT 4.0's default
# DACLs give Everyone (SCM: connect, enumerate, query lock status; service: read and interrogate).
SCM_ALLOWED = {True: 0xF003F, False: READ_CONTROL | 0x15}
SVC_ALLOWED = {True: 0xF01FF, False: READ_CONTROL | 0x18D}


def _map(access: int, generic: dict, allowed: int) -> int:
    for bit, rights in generic.items():
        if access & bit:
            access = (access & ~bit) | rights
    if access & MAXIMUM_ALLOWED:
        access = (access & ~MAXIMUM_ALLOWED) | allowed
    return access


class _MessagePipe:
    """A socket-like object over an NPA stream: each send is one message; recv reads across them."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buffer = b""

    def _read_exact(self, count: int) -> bytes:
        data = b""
        while len(data) < count:
            chunk = self.sock.recv(count - len(data))
            if not chunk:
                raise ConnectionError("pipe closed")
            data += chunk
        return data

    def recv(self, count: int) -> bytes:
        try:
            while not self.buffer:
                (length,) = struct.unpack("<H", self._read_exact(2))
                self.buffer = self._read_exact(length)
        except ConnectionError:
            return b""
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    def send(self, data: bytes) -> int:
        for offset in range(0, len(data), 0xFFFF):
            part = data[offset:offset + 0xFFFF]
            self.sock.sendall(struct.pack("<H", len(part)) + part)
        return len(data)


class _Handles:
    """Context handles of one pipe connection: 20 opaque bytes -> (kind, service name, access)."""

    def __init__(self):
        self.table: dict[bytes, tuple[str, str | None, int]] = {}

    def new(self, kind: str, name: str | None, access: int) -> bytes:
        handle = b"\0\0\0\0" + uuid.uuid4().bytes
        self.table[handle] = (kind, name, access)
        return handle

    def get(self, raw, kind: str):
        entry = self.table.get(bytes(raw))
        return entry if entry is not None and entry[0] == kind else None


class SvcctlConnection(DCERPCServer):
    """One client of the pipe (one SMB open of ``\\svcctl``)."""

    def __init__(self, sock: socket.socket, host_root: Path, admin: bool):
        super().__init__(client_socket=_MessagePipe(sock))
        self.host_root = Path(host_root)
        self.admin = admin
        self.handles = _Handles()
        self.addCallbacks(bin_to_uuidtup(scmr.MSRPC_UUID_SCMR), "\\PIPE\\svcctl", {
            0: self.close_handle, 1: self.control_service, 6: self.query_status, 14: self.enum_services,
            15: self.open_scm, 16: self.open_service, 17: self.query_config, 19: self.start_service,
        })

    def processRequest(self, data):  # noqa: N802 - impacket's name
        """Requests are dispatched here so that every fault is MS-RPCE's (16-byte body)."""
        header = MSRPCHeader(data)
        if header["type"] != MSRPC_REQUEST:
            if header["type"] == MSRPC_BIND:         # impacket's bind_ack is right
                return super().processRequest(data)
            return wire.fault(data, wire.NCA_S_PROTO_ERROR)
        request = MSRPCRequestHeader(data)
        interface = self._listenUUIDS.get(self._boundUUID)
        if interface is None:
            return wire.fault(data, wire.NCA_S_UNKNOWN_IF)
        callback = interface["CallBacks"].get(request["op_num"])
        if callback is None:
            LOG.info("svcctl %s: opnum %d is not served", self.host_root.name, request["op_num"])
            return wire.fault(data, wire.NCA_S_OP_RNG_ERROR)
        try:
            stub = callback(request["pduData"])
        except Exception:       # pylint: disable=broad-except
            LOG.exception("svcctl %s: opnum %d: request not understood", self.host_root.name, request["op_num"])
            return wire.fault(data, wire.RPC_X_BAD_STUB_DATA)
        return wire.answer(data, MSRPC_RESPONSE, PFC_FIRST_FRAG | PFC_LAST_FRAG, len(stub), stub)

    def serve(self) -> None:
        while True:
            data = self.recv()
            if data is None:
                return
            answer = self.processRequest(data)
            if answer is not None:
                self.send(answer)

    # ---- opnums ---------------------------------------------------------------------------
    def open_scm(self, data: bytes) -> bytes:
        request = scmr.ROpenSCManagerW(data)
        response = scmr.ROpenSCManagerWResponse()
        response["lpScHandle"] = NULL_HANDLE
        access = _map(request["dwDesiredAccess"], SCM_GENERIC, SCM_ALLOWED[self.admin])
        if access & ~SCM_ALLOWED[self.admin]:
            response["ErrorCode"] = services.ERROR_ACCESS_DENIED
        else:       # "SC_MANAGER_CONNECT access right is implicitly specified" (OpenSCManagerW, Win32 docs)
            response["lpScHandle"] = self.handles.new("scm", None, access | scmr.SC_MANAGER_CONNECT)
        return response.getData()

    def open_service(self, data: bytes) -> bytes:
        request = scmr.ROpenServiceW(data)
        response = scmr.ROpenServiceWResponse()
        response["lpServiceHandle"] = NULL_HANDLE
        name = request["lpServiceName"].rstrip("\0")
        access = _map(request["dwDesiredAccess"], SVC_GENERIC, SVC_ALLOWED[self.admin])
        manager = self.handles.get(request["hSCManager"], "scm")
        if manager is None:
            response["ErrorCode"] = services.ERROR_INVALID_HANDLE
        elif not manager[2] & scmr.SC_MANAGER_CONNECT or access & ~SVC_ALLOWED[self.admin]:
            response["ErrorCode"] = services.ERROR_ACCESS_DENIED
        else:
            try:
                record = services.status(self.host_root, name)
                response["lpServiceHandle"] = self.handles.new("service", record["name"], access)
            except ServiceError as exc:
                response["ErrorCode"] = exc.code
        return response.getData()

    def close_handle(self, data: bytes) -> bytes:
        request = scmr.RCloseServiceHandle(data)
        response = scmr.RCloseServiceHandleResponse()
        response["hSCObject"] = NULL_HANDLE
        if self.handles.table.pop(bytes(request["hSCObject"]), None) is None:
            response["ErrorCode"] = services.ERROR_INVALID_HANDLE
        return response.getData()

    def _service(self, raw, right: int):
        entry = self.handles.get(raw, "service")
        if entry is None:
            raise ServiceError(services.ERROR_INVALID_HANDLE, "not a service handle")
        if not entry[2] & right:
            raise ServiceError(services.ERROR_ACCESS_DENIED, "handle lacks the access right")
        return entry[1]

    def query_status(self, data: bytes) -> bytes:
        request = scmr.RQueryServiceStatus(data)
        response = scmr.RQueryServiceStatusResponse()
        self._status_call(response, lambda: services.status(
            self.host_root, self._service(request["hService"], scmr.SERVICE_QUERY_STATUS)))
        return response.getData()

    def control_service(self, data: bytes) -> bytes:
        request = scmr.RControlService(data)
        response = scmr.RControlServiceResponse()

        def control():
            if request["dwControl"] == scmr.SERVICE_CONTROL_STOP:
                return services.stop(self.host_root, self._service(request["hService"], scmr.SERVICE_STOP))
            if request["dwControl"] == scmr.SERVICE_CONTROL_INTERROGATE:
                return services.status(self.host_root,
                                       self._service(request["hService"], scmr.SERVICE_INTERROGATE))
            # pause/continue and the rest: SMS services accept stop only
            raise ServiceError(services.ERROR_INVALID_PARAMETER if request["dwControl"] > 0xFF
                               else services.ERROR_SERVICE_CANNOT_ACCEPT_CTRL, "control not accepted")
        self._status_call(response, control)
        return response.getData()

    def start_service(self, data: bytes) -> bytes:
        request = scmr.RStartServiceW(data)
        response = scmr.RStartServiceWResponse()
        try:
            services.start(self.host_root, self._service(request["hService"], scmr.SERVICE_START))
        except ServiceError as exc:
            response["ErrorCode"] = exc.code
        return response.getData()

    def query_config(self, data: bytes) -> bytes:
        """RQueryServiceConfigW: the configuration when cbBufSize holds it, else ERROR_INSUFFICIENT_BUFFER
        with the size needed in pcbBytesNeeded (a client asks with 0 first, as impacket and Samba do)."""
        request = scmr.RQueryServiceConfigW(data)
        response = scmr.RQueryServiceConfigWResponse()
        config = response["lpServiceConfig"]
        try:
            record = services.status(self.host_root, self._service(request["hService"], scmr.SERVICE_QUERY_CONFIG))
        except ServiceError as exc:
            return wire.no_config(response, exc.code)
        strings = {"lpBinaryPathName": record.get("path") or "", "lpLoadOrderGroup": "", "lpDependencies": "",
                   "lpServiceStartName": record.get("username", "LocalSystem"),
                   "lpDisplayName": record.get("display_name", record["name"])}
        needed = wire.QUERY_SERVICE_CONFIGW_SIZE + sum(wire.aligned(2 * (len(text) + 1)) for text in strings.values())
        response["pcbBytesNeeded"] = needed
        if request["cbBufSize"] < needed:
            return wire.no_config(response, wire.ERROR_INSUFFICIENT_BUFFER)
        config["dwServiceType"] = scmr.SERVICE_WIN32_OWN_PROCESS
        config["dwStartType"] = services.START_MODES.get(record.get("start_mode", "manual"), 3)
        config["dwErrorControl"] = scmr.SERVICE_ERROR_NORMAL
        for field, text in strings.items():
            config[field] = text + "\0"
        return response.getData()

    def enum_services(self, data: bytes) -> bytes:
        """REnumServicesStatusW (MS-SCMR 3.1.4.11): as many records as cbBufSize holds, from the resume
        index; ERROR_MORE_DATA with the bytes the rest needs when they do not all fit."""
        request = scmr.REnumServicesStatusW(data)
        manager = self.handles.get(request["hSCManager"], "scm")
        resume = wire.resume_index(data)
        start = resume or 0
        code, records, needed, buffer = services.ERROR_SUCCESS, [], 0, b""
        if manager is None:
            code = services.ERROR_INVALID_HANDLE
        elif not manager[2] & scmr.SC_MANAGER_ENUMERATE_SERVICE:
            code = services.ERROR_ACCESS_DENIED
        elif not wire.valid_enum_request(request["dwServiceType"], request["dwServiceState"], request["cbBufSize"]):
            code = services.ERROR_INVALID_PARAMETER
        else:
            wanted = self._listed(request["dwServiceType"], request["dwServiceState"])[start:]
            fitting = wire.fitting(wanted, request["cbBufSize"])
            records, rest = wanted[:fitting], wanted[fitting:]
            buffer = wire.enum_buffer(records)
            if rest:
                code, needed = wire.ERROR_MORE_DATA, len(wire.enum_buffer(rest))
        buffer = buffer.ljust(request["cbBufSize"], b"\0")        # the whole cbBufSize, as the SCM returns it
        stub = struct.pack("<I", len(buffer)) + buffer + b"\0" * (-len(buffer) % 4)
        stub += struct.pack("<II", needed, len(records))
        if resume is None:
            stub += struct.pack("<I", 0)
        else:
            next_index = start + len(records) if code == wire.ERROR_MORE_DATA else 0
            stub += struct.pack("<II", 0x00020000, next_index)
        return stub + struct.pack("<I", code)

    def _listed(self, service_type: int, service_state: int) -> list[tuple[str, str, dict]]:
        """(name, display name, record) of each service the filter takes, in name order as the SCM's database."""
        if not service_type & scmr.SERVICE_WIN32_OWN_PROCESS:
            return []               # the lab's services are all own-process Win32 services
        listed = []
        for name in services.names(self.host_root):
            try:
                record = services.status(self.host_root, name)
            except ServiceError:
                continue            # removed between the two reads
            active = record.get("state", "stopped") != "stopped"
            if service_state & (scmr.SERVICE_ACTIVE if active else scmr.SERVICE_INACTIVE):
                listed.append((record["name"], record.get("display_name", record["name"]), record))
        return listed

    @staticmethod
    def _status_call(response, call) -> None:
        status = response["lpServiceStatus"]
        status["dwServiceType"] = scmr.SERVICE_WIN32_OWN_PROCESS
        try:
            record = call()
        except ServiceError as exc:
            response["ErrorCode"] = exc.code
            return
        for field, value in zip(wire.STATUS_FIELDS, wire.status_values(record)):
            status[field] = value


class SvcctlResponder:
    """Listens on ``<socket_dir>/np/svcctl`` for one host; a thread per pipe connection."""

    def __init__(self, socket_path: Path, host_root: Path, admin: bool = True):
        self.socket_path = Path(socket_path)
        self.host_root = Path(host_root)
        self.admin = admin
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._clients: set[socket.socket] = set()
        self._stopping = False

    def start(self) -> None:
        if self.socket_path.exists() or self.socket_path.is_symlink():
            self.socket_path.unlink()
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.bind(str(self.socket_path))
        os.chmod(self.socket_path, 0o700)
        self._sock.listen(16)
        self._thread = threading.Thread(target=self._accept, name=f"svcctl {self.host_root.name}", daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stopping:
            try:
                client, _unused = self._sock.accept()
            except OSError:
                return
            self._clients.add(client)
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            (length,) = struct.unpack(">I", _recv_exact(client, 4))
            _recv_exact(client, length)          # the session info: smbd has authenticated the user
            client.sendall(NPA_REPLY)
            SvcctlConnection(client, self.host_root, self.admin).serve()
        except (ConnectionError, OSError) as exc:
            LOG.debug("svcctl %s: connection ended: %s", self.host_root.name, exc)
        except Exception:       # pylint: disable=broad-except
            LOG.exception("svcctl %s: request failed", self.host_root.name)
        finally:
            self._clients.discard(client)
            client.close()

    def stop(self) -> None:
        self._stopping = True
        if self._sock is not None:
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._sock.close()
        for client in list(self._clients):
            try:
                client.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.socket_path.exists():
            self.socket_path.unlink()


def _recv_exact(sock: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise ConnectionError("pipe closed during the NPA handshake")
        data += chunk
    return data
