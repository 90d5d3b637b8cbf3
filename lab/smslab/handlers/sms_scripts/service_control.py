"""What the hotfix twins see of the Service Control Manager, the process table and file locks,
behaving as Windows does where the transaction depends on it:

- ``Stop()`` / ``Start()`` leave a service ``stop_pending`` / ``start_pending`` for the host's
  ``service_stop_seconds`` / ``service_start_seconds`` (per service name); a bounded wait times out.
- The process of a stopped service exits ``process_exit_seconds`` (per service name) after the stop.
- A live process holds the files it has loaded: the SMS Executive (smsexec.exe) runs the
  Distribution Manager, so it holds ``Distmgr.dll`` of its own bin folder (or what the service
  record lists under ``loads``). Writing such a file raises .NET's sharing-violation IOException.

Time is a ``LabClock``: a wait advances it instead of sleeping, so a 60 s bounded wait costs
nothing in a test; it starts at the wall clock, so what a run leaves pending settles as real time
passes. Pending states live in the service record (``pending_until``), exiting processes under
``host.json`` ``exiting_processes``; both are removed once settled, so a clean run leaves
``host.json`` as it found it.
"""

from __future__ import annotations

import ntpath
import time
import zlib

from smslab.handlers.sms_scripts.common import fault_names, service_record
from smslab.state import HostState, path_key

SHARING_VIOLATION = ("The process cannot access the file '{path}' because it is being used by another "
                     "process.")
SHARING_HRESULT = 0x80070020
# The services whose process loads a component DLL, and which DLL (in the folder of its image).
LOADED_BY_DEFAULT = {"sms_executive": ["Distmgr.dll"]}


class SharingViolation(OSError):
    """System.IO.IOException with HResult 0x80070020 (ERROR_SHARING_VIOLATION)."""

    hresult = SHARING_HRESULT

    def __init__(self, path: str):
        super().__init__(32, SHARING_VIOLATION.format(path=path))
        self.strerror = SHARING_VIOLATION.format(path=path)


class LabClock:
    """Wall time plus everything the twin has waited so far."""

    def __init__(self) -> None:
        self.waited = 0.0

    def now(self) -> float:
        return time.time() + self.waited

    def sleep(self, seconds: float) -> None:
        self.waited += max(0.0, float(seconds))


def _seconds(state: HostState, fault: str, name: str) -> float:
    value = state.faults.get(fault) or {}
    if isinstance(value, dict):
        for key, seconds in value.items():
            if key.lower() == name.lower():
                return float(seconds)
    return 0.0


def process_id(name: str) -> int:
    """A stable, Windows-like (multiple of 4) process id for a service's process."""
    return 1000 + (zlib.crc32(name.lower().encode()) % 15000) * 4


class ServiceControl:
    def __init__(self, state: HostState, clock: LabClock, wait_seconds: float):
        self.state = state
        self.clock = clock
        self.wait_seconds = float(wait_seconds)
        self.wont_stop = fault_names(state, "service_wont_stop")
        self.wont_start = fault_names(state, "service_wont_start")

    # ---- services --------------------------------------------------------------------------
    def status(self, name: str) -> str | None:
        """running | stopped | stop_pending | start_pending | paused | None (no such service)."""
        record = service_record(self.state, name)
        if record is None:
            return None
        self._settle(name, record)
        return str(record.get("state", "stopped")).lower()

    def _settle(self, name: str, record: dict) -> None:
        until = record.get("pending_until")
        if until is None or self.clock.now() < until:
            return
        del record["pending_until"]
        if record.get("state") == "stop_pending":
            record["state"] = "stopped"
            self._process_stopped(name, until)
        elif record.get("state") == "start_pending":
            record["state"] = "running"

    def stop(self, name: str) -> None:
        """ServiceController.Stop() + WaitForStatus(Stopped, wait); raises TimeoutError."""
        state = self.status(name)
        if state == "stopped":
            return
        if name.lower() in self.wont_stop:
            raise TimeoutError(f"service {name} did not stop within {self.wait_seconds:g} seconds (state {state})")
        record = service_record(self.state, name)
        if state != "stop_pending":
            delay = _seconds(self.state, "service_stop_seconds", name)
            record.update(state="stop_pending", pending_until=self.clock.now() + delay)
        self._wait_for(name, "stopped", "stop")

    def start(self, name: str) -> None:
        """ServiceController.Start() + WaitForStatus(Running, wait), after a pending stop ends."""
        state = self.status(name)
        if state == "running":
            return
        if state == "stop_pending":
            self._wait_for(name, "stopped", "start")
            state = "stopped"
        if name.lower() in self.wont_start:
            raise TimeoutError(f"service {name} did not start within {self.wait_seconds:g} seconds (state {state})")
        record = service_record(self.state, name)
        if state == "stopped":
            delay = _seconds(self.state, "service_start_seconds", name)
            record.update(state="start_pending", pending_until=self.clock.now() + delay)
        self._wait_for(name, "running", "start")

    def _wait_for(self, name: str, wanted: str, verb: str) -> None:
        until = service_record(self.state, name).get("pending_until")
        left = 0.0 if until is None else until - self.clock.now()
        if left > self.wait_seconds:
            self.clock.sleep(self.wait_seconds)
            raise TimeoutError(f"service {name} did not {verb} within {self.wait_seconds:g} seconds "
                               f"(state {self.status(name)})")
        self.clock.sleep(left)
        if self.status(name) != wanted:
            raise TimeoutError(f"service {name} did not {verb} within {self.wait_seconds:g} seconds "
                               f"(state {self.status(name)})")

    # ---- processes -------------------------------------------------------------------------
    def _exiting(self) -> dict:
        return self.state.data.setdefault("exiting_processes", {})

    def _process_stopped(self, name: str, stopped_at: float) -> None:
        delay = _seconds(self.state, "process_exit_seconds", name)
        if delay > 0:
            self._exiting()[name] = {"pid": process_id(name), "exits_at": stopped_at + delay}

    def process_of(self, name: str) -> int | None:
        """Win32_Service.ProcessId (0 -> None) at the time of asking."""
        return process_id(name) if self.status(name) not in (None, "stopped") else None

    def alive(self, name: str) -> bool:
        """Whether the service's process still runs (a running service, or a stopped one exiting)."""
        if self.status(name) not in (None, "stopped"):
            return True
        self.settle_processes()
        return name in self.state.data.get("exiting_processes", {})

    def wait_for_exit(self, name: str, seconds: float) -> bool:
        """Process.WaitForExit(ms): True when the process is gone within ``seconds``."""
        entry = self.state.data.get("exiting_processes", {}).get(name)
        if entry is None:
            return not self.alive(name)
        left = entry["exits_at"] - self.clock.now()
        self.clock.sleep(min(max(left, 0.0), float(seconds)))
        return not self.alive(name)

    def settle_processes(self) -> None:
        exiting = self.state.data.get("exiting_processes")
        if not exiting:
            self.state.data.pop("exiting_processes", None)
            return
        for name in [n for n, e in exiting.items() if e["exits_at"] <= self.clock.now()]:
            del exiting[name]
        if not exiting:
            del self.state.data["exiting_processes"]

    def settle(self) -> None:
        """Everything that ended by the clock's time (called when the twin's run ends)."""
        for name in list(self.state.services):
            self.status(name)
        self.settle_processes()

    # ---- files -----------------------------------------------------------------------------
    def holders(self, windows_path: str) -> list[str]:
        """The services whose live process has ``windows_path`` loaded."""
        wanted = path_key(windows_path)
        found = []
        for name, record in self.state.services.items():
            image_dir = ntpath.dirname(str(record.get("path") or ""))
            loads = record.get("loads", LOADED_BY_DEFAULT.get(name.lower(), []))
            paths = [p if ntpath.isabs(p) else ntpath.join(image_dir, p) for p in loads if image_dir or ntpath.isabs(p)]
            if any(path_key(p) == wanted for p in paths) and self.alive(name):
                found.append(name)
        return found

    def write_file(self, windows_path: str, data: bytes) -> None:
        """File.Copy(.., overwrite) / File.WriteAllBytes: refused while a process holds the file."""
        if self.holders(windows_path):
            raise SharingViolation(windows_path)
        self.state.write_bytes(windows_path, data)
