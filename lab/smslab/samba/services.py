"""Service control on a lab host's state: what the ``\\svcctl`` responder does to ``host.json``.

The state lives in ``host.json`` ``services`` (the record the WinRM twins use), read and written
afresh on every call under a lock, so both transports see the same service. Pending states follow
the twins' model (smslab.handlers.sms_scripts.service_control): a stop or start leaves the record
``stop_pending`` / ``start_pending`` with ``pending_until`` for the host's fault
``service_stop_seconds`` / ``service_start_seconds`` ({service: seconds}); a read after that time
settles it (through the twins' own ``ServiceControl.status``, which also starts the process exit
of ``process_exit_seconds``). Unlike the twins' Stop-Service, the SCM does not wait: ControlService
answers at once with StopPending. ``service_wont_stop`` / ``service_wont_start`` make the control
fail with ERROR_SERVICE_REQUEST_TIMEOUT and leave the state, as a service that never answers does.
"""

from __future__ import annotations

import fcntl
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from smslab.handlers.sms_scripts.service_control import LabClock, ServiceControl
from smslab.state import HostState

# Win32 error codes (MS-ERREF 2.2) the SCM answers with.
ERROR_SUCCESS = 0
ERROR_ACCESS_DENIED = 5
ERROR_INVALID_HANDLE = 6
ERROR_INVALID_PARAMETER = 87
ERROR_SERVICE_REQUEST_TIMEOUT = 1053
ERROR_SERVICE_ALREADY_RUNNING = 1056
ERROR_SERVICE_DISABLED = 1058
ERROR_SERVICE_DOES_NOT_EXIST = 1060
ERROR_SERVICE_CANNOT_ACCEPT_CTRL = 1061
ERROR_SERVICE_NOT_ACTIVE = 1062

# SERVICE_STATUS.dwCurrentState (MS-SCMR 2.2.47)
STATE_CODES = {"stopped": 1, "start_pending": 2, "stop_pending": 3, "running": 4, "paused": 7}
START_MODES = {"boot": 0, "system": 1, "auto": 2, "manual": 3, "disabled": 4}

_locks: dict[Path, threading.Lock] = {}
_locks_guard = threading.Lock()


class ServiceError(Exception):
    """A service control the SCM refuses; ``code`` is the Win32 error."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code


@contextmanager
def locked_state(host_root: Path):
    """host.json loaded under a thread lock and an flock on ``<state_dir>/locks/<host>.lock``
    (other processes: the CLI, a test)."""
    host_root = Path(host_root)
    with _locks_guard:
        lock = _locks.setdefault(host_root, threading.Lock())
    # the lock file lives outside hosts/: a run must leave a host's folder byte-identical
    lock_file = host_root.parent.parent / "locks" / f"{host_root.name}.lock"
    lock_file.parent.mkdir(exist_ok=True)
    with lock, open(lock_file, "a+", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield HostState.load(host_root)
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _fault_names(state: HostState, key: str) -> set[str]:
    value = state.faults.get(key) or []
    return {str(v).lower() for v in ([value] if isinstance(value, str) else value)}


def _pending_seconds(state: HostState, fault: str, name: str) -> float:
    value = state.faults.get(fault) or {}
    for key, seconds in (value.items() if isinstance(value, dict) else ()):
        if key.lower() == name.lower():
            return float(seconds)
    return 0.0


def find(state: HostState, name: str) -> tuple[str, dict] | tuple[None, None]:
    for key, record in state.services.items():
        if key.lower() == name.lower():
            return key, record
    return None, None


def _settle(state: HostState, name: str, record: dict) -> bool:
    """Settle a pending state whose time has come (the twins' rule); True if the record changed."""
    if record.get("pending_until") is None:
        return False
    before = dict(record)
    ServiceControl(state, LabClock(), 0).status(name)
    return record != before


def names(host_root: Path) -> list[str]:
    with locked_state(host_root) as state:
        return sorted(state.services)


def status(host_root: Path, name: str) -> dict:
    """The service record (state settled if a pending time has passed); ServiceError if absent."""
    with locked_state(host_root) as state:
        key, record = find(state, name)
        if record is None:
            raise ServiceError(ERROR_SERVICE_DOES_NOT_EXIST, f"service {name} does not exist")
        if _settle(state, key, record):
            state.save()
        return dict(record, name=key)


def stop(host_root: Path, name: str) -> dict:
    return _transition(host_root, name, "stopped")


def start(host_root: Path, name: str) -> dict:
    return _transition(host_root, name, "running")


def _transition(host_root: Path, name: str, target: str) -> dict:
    with locked_state(host_root) as state:
        key, record = find(state, name)
        if record is None:
            raise ServiceError(ERROR_SERVICE_DOES_NOT_EXIST, f"service {name} does not exist")
        changed = _settle(state, key, record)
        current = record.get("state", "stopped")
        try:
            if target == "stopped":
                if current == "stopped":
                    raise ServiceError(ERROR_SERVICE_NOT_ACTIVE, f"service {key} is not started")
                if current.endswith("_pending"):
                    raise ServiceError(ERROR_SERVICE_CANNOT_ACCEPT_CTRL, f"service {key} is {current}")
                if key.lower() in _fault_names(state, "service_wont_stop"):
                    raise ServiceError(ERROR_SERVICE_REQUEST_TIMEOUT,
                                       f"service {key} did not stop (lab fault service_wont_stop)")
            else:
                if current != "stopped":       # the SCM starts only a stopped service (also when pending)
                    raise ServiceError(ERROR_SERVICE_ALREADY_RUNNING, f"service {key} is {current}")
                if record.get("start_mode") == "disabled":
                    raise ServiceError(ERROR_SERVICE_DISABLED, f"service {key} is disabled")
                if key.lower() in _fault_names(state, "service_wont_start"):
                    raise ServiceError(ERROR_SERVICE_REQUEST_TIMEOUT,
                                       f"service {key} did not start (lab fault service_wont_start)")
        except ServiceError:
            if changed:
                state.save()
            raise
        fault = "service_stop_seconds" if target == "stopped" else "service_start_seconds"
        record["state"] = "stop_pending" if target == "stopped" else "start_pending"
        record["pending_until"] = time.time() + _pending_seconds(state, fault, key)
        _settle(state, key, record)              # no delay: stopped / running at once
        state.save()
        return dict(record, name=key)
