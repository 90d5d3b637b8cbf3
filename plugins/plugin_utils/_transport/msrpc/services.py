# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""SMS services over MS-SCMR (``\\pipe\\svcctl``) (private to this collection): state, stop and start with bounded waits.

States use the probe's names (running, stopped, start_pending, stop_pending, paused ...). Every wait
polls ``QueryServiceStatus`` and gives up after the caller's seconds, naming the service and the state it
was left in; a pending state is waited out, never interrupted.

The probe reads every state at once (``states``): one REnumServicesStatusW (MS-SCMR 3.1.4.11, in NT 4.0's
service manager; the Ex variant came with Windows 2000) on a manager handle holding SC_MANAGER_ENUMERATE_SERVICE,
instead of an open and a status query per service (2 round trips each). A service the enumeration does not list
is not installed, as OpenService's ERROR_SERVICE_DOES_NOT_EXIST says. An account refused the enumeration falls
back to the per-service queries.

Each handle asks for exactly the right its calls need (MS-SCMR 2.2.1, checked by Windows on every call): the
service manager SC_MANAGER_CONNECT (enough to open a service) or SC_MANAGER_ENUMERATE_SERVICE (the
enumeration), a service one handle per right:
SERVICE_QUERY_STATUS (state, waits), SERVICE_QUERY_CONFIG (configuration), SERVICE_STOP, SERVICE_START. So a
read-only probe works for an account that may only read services, and a refusal names the right missing."""

from __future__ import annotations

import struct
import time

# impacket / pefile are imported guarded: ansible-test imports every file without them, and the transport says
# what is missing before anything is used (deps.missing()).
try:
    from impacket.dcerpc.v5 import scmr
except ImportError:
    scmr = None

from ansible_collections.sms.remediation.plugins.plugin_utils._transport.base import TransportError
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.connection import (
    MsrpcSession, status_code)

STATES = {1: "stopped", 2: "start_pending", 3: "stop_pending", 4: "running",
          5: "continue_pending", 6: "pause_pending", 7: "paused"}
START_MODES = {0: "boot", 1: "system", 2: "auto", 3: "manual", 4: "disabled"}
POLL_SECONDS = 0.5
ERROR_ACCESS_DENIED, ERROR_MORE_DATA = 5, 234
ERROR_SERVICE_ALREADY_RUNNING, ERROR_SERVICE_DOES_NOT_EXIST, ERROR_SERVICE_NOT_ACTIVE = 1056, 1060, 1062
# Access rights (MS-SCMR 2.2.1) and the stop control (2.2.9)
SC_MANAGER_CONNECT, SC_MANAGER_ENUMERATE_SERVICE = 0x0001, 0x0004
# REnumServicesStatusW: Win32 services (own and shared process) in any state. The first buffer fits one reply
# fragment (impacket binds with max_recv_frag 4280; the stub adds 24 bytes, the PDU header 24): a site
# server's ~40 services in one round trip; more are fetched from the resume index, with the size the server named.
SERVICE_WIN32, SERVICE_STATE_ALL = 0x30, 0x3
ENUM_FIRST_BUFFER, ENUM_MAX_BUFFER = 4096, 256 * 1024
_ENUM_RECORD = struct.Struct("<II7I")          # ENUM_SERVICE_STATUSW: name and display name offsets, SERVICE_STATUS
SERVICE_QUERY_CONFIG, SERVICE_QUERY_STATUS, SERVICE_START, SERVICE_STOP, SERVICE_CONTROL_STOP = 0x0001, 0x0004, 0x0010, 0x0020, 1
RIGHT_NAMES = {SERVICE_QUERY_CONFIG: "SERVICE_QUERY_CONFIG", SERVICE_QUERY_STATUS: "SERVICE_QUERY_STATUS",
               SERVICE_START: "SERVICE_START", SERVICE_STOP: "SERVICE_STOP"}


class Services:
    def __init__(self, session: MsrpcSession, sleep=time.sleep, clock=time.monotonic):
        self.session = session
        self._sleep = sleep
        self._clock = clock
        self._managers: dict[int, object] = {}                 # right -> service manager handle
        self._handles: dict[tuple[str, int], object] = {}     # (service, right) -> handle
        self._absent: set[str] = set()                          # services the manager does not know
        self._last_code = None                                  # the Win32 error of the last failed enumeration

    def _dce(self, operation: str):
        return self.session.pipe("svcctl", scmr.MSRPC_UUID_SCMR, operation)

    def _scm(self, operation: str, right: int = SC_MANAGER_CONNECT):
        if right not in self._managers:
            try:
                self._managers[right] = scmr.hROpenSCManagerW(self._dce(operation), dwDesiredAccess=right)["lpScHandle"]
            except Exception as exc:
                self._last_code = status_code(exc)
                raise self.session.failure(operation, exc, "OpenSCManager") from None
        return self._managers[right]

    def states(self, names, operation: str = "services") -> dict[str, str | None]:
        """{name: state or None (not installed)} for ``names``, from one enumeration of the Win32 services."""
        try:
            listed = self._enumerate(operation)
        except TransportError:
            if self._last_code != ERROR_ACCESS_DENIED:
                raise
            # may not enumerate: ask each service, as before
            return {name: self.state(name, operation) for name in names}
        for name in names:
            if name.upper() not in listed:
                self._absent.add(name.upper())
        return {name: listed.get(name.upper()) for name in names}

    def _enumerate(self, operation: str) -> dict[str, str]:
        """{NAME: state} of every Win32 service (REnumServicesStatusW, resumed while ERROR_MORE_DATA)."""
        self._last_code = None
        manager = self._scm(operation, SC_MANAGER_ENUMERATE_SERVICE)
        found, resume, size = {}, 0, ENUM_FIRST_BUFFER
        while True:
            request = REnumServicesStatusW()
            request["hSCManager"] = manager
            request["dwServiceType"] = SERVICE_WIN32
            request["dwServiceState"] = SERVICE_STATE_ALL
            request["cbBufSize"] = size
            request["lpResumeIndex"] = resume
            try:
                answer = self._dce(operation).request(request, checkError=False)
            except Exception as exc:
                self._last_code = status_code(exc)
                raise self.session.failure(operation, exc, "enumerate services") from None
            code = int(answer["ErrorCode"])
            if code not in (0, ERROR_MORE_DATA):
                self._last_code = code
                raise TransportError(self.session.host, operation, f"enumerate services: {_error_name(code)}")
            found.update(enum_records(answer["lpBuffer"], int(answer["lpServicesReturned"])))
            if code == 0:
                return found
            needed = int(answer["pcbBytesNeeded"])
            resume = answer["lpResumeIndex"] or 0
            if not resume or not 0 < needed <= ENUM_MAX_BUFFER:
                raise TransportError(self.session.host, operation,
                                     f"enumerate services: ERROR_MORE_DATA without a resume index or a size ({needed})")
            size = needed

    def _open(self, name: str, operation: str, right: int):
        """A handle to the service holding ``right``, or None when no such service is installed."""
        if name.upper() in self._absent:
            return None
        key = (name.upper(), right)
        if key not in self._handles:
            manager = self._scm(operation)
            try:
                self._handles[key] = scmr.hROpenServiceW(self._dce(operation), manager, name + "\x00",
                                                         dwDesiredAccess=right)["lpServiceHandle"]
            except Exception as exc:
                if status_code(exc) == ERROR_SERVICE_DOES_NOT_EXIST:
                    self._absent.add(name.upper())
                    return None
                raise self.session.failure(operation, exc, f"open service {name} for {RIGHT_NAMES[right]}") from None
        return self._handles[key]

    def state(self, name: str, operation: str = "services") -> str | None:
        """running | stopped | start_pending | ..., or None when the service is not installed."""
        handle = self._open(name, operation, SERVICE_QUERY_STATUS)
        if handle is None:
            return None
        return self._state(handle, name, operation)

    def _state(self, handle, name: str, operation: str) -> str:
        try:
            status = scmr.hRQueryServiceStatus(self._dce(operation), handle)["lpServiceStatus"]
        except Exception as exc:
            raise self.session.failure(operation, exc, f"query service {name}") from None
        code = int(status["dwCurrentState"])
        return STATES.get(code, f"state_{code}")

    def config(self, name: str, operation: str = "services") -> dict | None:
        """``{"start_mode", "path"}`` from QueryServiceConfig, or None when the service is not installed."""
        handle = self._open(name, operation, SERVICE_QUERY_CONFIG)
        if handle is None:
            return None
        try:
            config = scmr.hRQueryServiceConfigW(self._dce(operation), handle)["lpServiceConfig"]
        except Exception as exc:
            raise self.session.failure(operation, exc, f"query service configuration of {name}") from None
        return {"start_mode": START_MODES.get(int(config["dwStartType"])),
                "path": str(config["lpBinaryPathName"]).rstrip("\x00") or None}

    # ---- stop / start with bounded waits ------------------------------------------------------
    def _installed_state(self, name: str, operation: str) -> str:
        state = self.state(name, operation)
        if state is None:
            raise self.session.error(operation, f"service {name} is not installed")
        return state

    def wait_for(self, name: str, wanted: str, seconds: float, operation: str) -> str:
        """Poll until the service is in ``wanted``; return the last state seen (maybe not ``wanted``)."""
        handle = self._open(name, operation, SERVICE_QUERY_STATUS)
        deadline = self._clock() + seconds
        state = self._state(handle, name, operation)
        while state != wanted and self._clock() < deadline:
            self._sleep(POLL_SECONDS)
            state = self._state(handle, name, operation)
        return state

    def stop(self, name: str, seconds: float, operation: str) -> None:
        """Stop and wait at most ``seconds``; raise TransportError when it is not stopped by then."""
        state = self._installed_state(name, operation)
        if state == "stopped":
            return
        if state != "stop_pending":
            handle = self._open(name, operation, SERVICE_STOP)
            try:
                scmr.hRControlService(self._dce(operation), handle, SERVICE_CONTROL_STOP)
            except Exception as exc:
                if status_code(exc) != ERROR_SERVICE_NOT_ACTIVE:
                    raise self.session.failure(operation, exc, f"stop service {name}") from None
        state = self.wait_for(name, "stopped", seconds, operation)
        if state != "stopped":
            raise TransportError(self.session.host, operation,
                                 f"service {name} did not stop within {seconds:g} seconds (state {state})")

    def start(self, name: str, seconds: float, operation: str) -> None:
        """Start and wait at most ``seconds`` for it to run; a pending stop is waited out first."""
        state = self._installed_state(name, operation)
        if state == "stop_pending":
            # A start request is refused while a stop is pending: let the stop finish first.
            state = self.wait_for(name, "stopped", seconds, operation)
        if state == "stopped":
            handle = self._open(name, operation, SERVICE_START)
            try:
                scmr.hRStartServiceW(self._dce(operation), handle)
            except Exception as exc:
                if status_code(exc) != ERROR_SERVICE_ALREADY_RUNNING:
                    raise self.session.failure(operation, exc, f"start service {name}") from None
        state = self.wait_for(name, "running", seconds, operation)
        if state != "running":
            raise TransportError(self.session.host, operation,
                                 f"service {name} did not start within {seconds:g} seconds (state {state})")


# impacket's DCERPC_v5.request parses a reply with the class named after the request's plus "Response", from the
# request's module: this request is impacket's, its reply is read here with struct. impacket's NDR would make one
# object per byte of the 4 KiB buffer (~25 ms of controller CPU per probe, bench_msrpc_probe.py --phases).
class REnumServicesStatusW(scmr.REnumServicesStatusW if scmr else object):
    """MS-SCMR REnumServicesStatusW (opnum 14), impacket's request."""


class REnumServicesStatusWResponse(dict):
    """lpBuffer (a conformant byte array), pcbBytesNeeded, lpServicesReturned, lpResumeIndex ([unique] pointer,
    None when null), ErrorCode: the NDR of MS-SCMR 3.1.4.11's reply."""

    def __init__(self, data: bytes, isNDR64: bool = False):  # noqa: N803 - impacket's signature
        super().__init__()
        if isNDR64:
            raise ValueError("REnumServicesStatusW over NDR64 is not read here")
        (size,) = struct.unpack_from("<I", data, 0)
        at = 4 + size + (-size % 4)
        needed, returned, referent = struct.unpack_from("<III", data, at)
        at += 12
        resume = None
        if referent:
            (resume,) = struct.unpack_from("<I", data, at)
            at += 4
        (code,) = struct.unpack_from("<I", data, at)
        self.update(lpBuffer=bytes(data[4:4 + size]), pcbBytesNeeded=needed, lpServicesReturned=returned,
                    lpResumeIndex=resume, ErrorCode=code)


def enum_records(buffer: bytes, count: int) -> dict[str, str]:
    """{NAME: state} from REnumServicesStatusW's buffer: ``count`` ENUM_SERVICE_STATUSW records, each string
    pointer an offset from the buffer's start (MS-SCMR 3.1.4.11)."""
    found = {}
    for index in range(count):
        name_at, _display_at, _type, state, *_rest = _ENUM_RECORD.unpack_from(buffer, index * _ENUM_RECORD.size)
        end = name_at
        while buffer[end:end + 2] not in (b"\x00\x00", b""):
            end += 2
        found[buffer[name_at:end].decode("utf-16-le").upper()] = STATES.get(state, f"state_{state}")
    return found


def _error_name(code: int) -> str:
    from impacket import system_errors
    return system_errors.ERROR_MESSAGES.get(code, (f"Win32 error {code}",))[0]
