"""One simulated host behind the WinRM endpoint: its HostState, WS-Management shells, temp folders,
counters and request log (``<state_dir>/requests/<name>.jsonl``)."""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from smslab import wsman
from smslab.remote_command import CommandOutcome, run_remote_command
from smslab.state import HostState, split_windows_path

DEFAULT_TEMP = "C:\\Windows\\Temp"

_ENV_REFERENCE = re.compile(r"%(?P<name>[^%]+)%")


@dataclass
class HostStats:
    requests: int = 0
    commands: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    by_op: dict = field(default_factory=dict)
    by_name: dict = field(default_factory=dict)     # module / action / script -> commands run

    def count(self, op: str, bytes_in: int, bytes_out: int, name: str | None) -> None:
        self.requests += 1
        self.bytes_in += bytes_in
        self.bytes_out += bytes_out
        self.by_op[op] = self.by_op.get(op, 0) + 1
        if op == "Receive" and name:
            self.commands += 1
            self.by_name[name] = self.by_name.get(name, 0) + 1

    def as_dict(self) -> dict:
        return {"requests": self.requests, "commands": self.commands, "bytes_in": self.bytes_in,
                "bytes_out": self.bytes_out, "by_op": dict(self.by_op), "by_name": dict(self.by_name)}


class LabHost:
    """A HostState behind its own WS-Management shells, counters and request log."""

    def __init__(self, state: HostState, requests_dir: Path, user: str):
        self.state = state
        self.name = state.name
        self.user = user
        self.shells = wsman.ShellTable()
        self.stats = HostStats()
        self._stats_lock = threading.Lock()
        self._log_path = requests_dir / f"{self.name}.jsonl"
        self._created_temp_dirs: dict[str, list[str]] = {}   # tmp dir (lower) -> dirs mkdtemp made

    @property
    def faults(self) -> dict:
        # Read without setdefault: merely looking must not change host.json.
        return self.state.data.get("faults") or {}

    def environment_value(self, name: str) -> str | None:
        for key, value in (self.state.data.get("environment") or {}).items():
            if key.lower() == name.lower():
                return value
        return None

    # -- WS-Management operations --------------------------------------------------------
    def handle_soap(self, request: wsman.WsmanRequest) -> tuple[bytes | None, CommandOutcome | None]:
        """Reply bytes (None = drop the connection) and, for a Receive, the command's outcome."""
        if request.op == "Create":
            if self.faults.get("unreachable"):
                return None, None
            return wsman.create_reply(request, self.shells.create()), None
        if request.op == "Command":
            command = self.shells.start_command(request.shell_id, request.command_line or "")
            return wsman.command_reply(request, command.command_id), None
        if request.op == "Send":
            self.shells.append_stdin(request.shell_id, request.command_id, request.stdin)
            return wsman.empty_reply(request), None
        if request.op == "Receive":
            return self._receive(request)
        if request.op == "Signal":
            self.shells.finish_command(request.shell_id, request.command_id)
            return wsman.empty_reply(request), None
        self.shells.delete(request.shell_id)
        return wsman.empty_reply(request), None

    def _receive(self, request: wsman.WsmanRequest) -> tuple[bytes | None, CommandOutcome]:
        command = self.shells.command(request.shell_id, request.command_id)
        if command.outcome is None:     # run once, on the first Receive: all stdin is in by then
            command.outcome = run_remote_command(self, command.command_line, bytes(command.stdin))
        outcome = command.outcome
        if outcome.drop_connection:
            return None, outcome
        return wsman.receive_reply(request, outcome.stdout, outcome.stderr, outcome.rc), outcome

    # -- temp folders (mkdtemp / Remove-Item) ----------------------------------------------
    def make_temp_dir(self, directory: str, name: str) -> str:
        base = self._expand_environment(directory)
        path = base.rstrip("\\") + "\\" + name
        created = [candidate for candidate in _ancestors_and_self(path) if not self.state.exists(candidate)]
        self.state.makedirs(path)
        self._created_temp_dirs[path.lower()] = created
        return path

    def remove_temp_dir(self, path: str) -> None:
        """Remove it and every folder mkdtemp created for it, so hosts/ looks as before."""
        if self.state.exists(path):
            self.state.remove(path)
        for created in reversed(self._created_temp_dirs.pop(path.lower(), [])):
            local = self.state.local_path(created)
            if local.is_dir() and not any(local.iterdir()):
                local.rmdir()

    def _expand_environment(self, text: str) -> str:
        def value(match: re.Match) -> str:
            name = match.group("name")
            found = self.environment_value(name)
            if found is None and name.upper() in ("TEMP", "TMP"):
                found = DEFAULT_TEMP
            return found if found is not None else match.group(0)
        return _ENV_REFERENCE.sub(value, text)

    # -- counters and log ------------------------------------------------------------------
    def record(self, op: str, bytes_in: int, bytes_out: int, outcome: CommandOutcome | None = None,
               dropped: bool = False) -> None:
        name = outcome.name if outcome else None
        with self._stats_lock:
            self.stats.count(op, bytes_in, bytes_out, name)
            entry = {"ts": round(time.time(), 6), "op": op, "bytes_in": bytes_in, "bytes_out": bytes_out}
            if outcome is not None:
                entry.update(name=outcome.name, rc=outcome.rc)
                if outcome.script:
                    entry["script"] = outcome.script
                if outcome.check_mode is not None:
                    entry["check_mode"] = outcome.check_mode
            if dropped:
                entry["dropped"] = True
            self._log_path.parent.mkdir(parents=True, exist_ok=True)
            with open(self._log_path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(entry, sort_keys=True) + "\n")

    def reset_stats(self) -> None:
        with self._stats_lock:
            self.stats = HostStats()


def _ancestors_and_self(windows_path: str) -> list[str]:
    """``C:\\A\\B`` -> [``C:\\A``, ``C:\\A\\B``] (the drive itself always exists)."""
    drive, parts = split_windows_path(windows_path)
    return [f"{drive}:\\" + "\\".join(parts[: i + 1]) for i in range(len(parts))]
