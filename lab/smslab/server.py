"""The lab's WinRM endpoint: one HTTP port, one simulated host per URL path ``/wsman/<name>``.

Each host is a ``HostState`` loaded from ``<state_dir>/hosts/<name>/host.json`` and kept in
memory; it is saved only after a handler changed it outside check mode, so a check-mode run leaves
``hosts/`` byte-identical. Every HTTP request is appended to ``<state_dir>/requests/<name>.jsonl``
and counted in memory (``GET /stats``, ``POST /stats/reset``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import socket
import threading
import time
import traceback
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from smslab import payload, wsman
from smslab.handlers import MODULE_HANDLERS, HostContext, LabUnsupported
from smslab.inventory import inventory_of, write_inventory
from smslab.state import HostState, LabPathError, split_windows_path

DEFAULT_USER = "lab-admin"
DEFAULT_PASSWORD = "lab-Passw0rd!"
DEFAULT_TEMP = "C:\\Windows\\Temp"

_CLEANUP_SCRIPT = re.compile(r"^\s*Remove-Item\s+(?P<path>'(?:[^']|'')*'|\S+)\s+-Force(?:\s+-Recurse)?\s*$",
                             re.IGNORECASE)
_ENV_REFERENCE = re.compile(r"%(?P<name>[^%]+)%")


# ---- outcomes, counters and the request log ---------------------------------------------
@dataclass
class CommandOutcome:
    """What one remote command printed, plus the name it is logged under."""

    rc: int
    stdout: bytes = b""
    stderr: bytes = b""
    name: str = ""                      # module FQCN or exec action, "raw" or "cleanup"
    script: str | None = None           # marker name when win_powershell ran a collection script
    check_mode: bool | None = None      # a module run: whether Ansible sent it in check mode
    drop_connection: bool = False       # fault: close the TCP connection instead of replying

    @classmethod
    def text(cls, rc: int, stdout: str = "", stderr: str = "", **names) -> "CommandOutcome":
        return cls(rc=rc, stdout=_line(stdout), stderr=_line(stderr), **names)


def _line(text: str) -> bytes:
    return (text + "\r\n").encode("utf-8") if text else b""


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


# ---- one simulated host ------------------------------------------------------------------
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


# ---- running one remote command ----------------------------------------------------------
def run_remote_command(host: LabHost, command_line: str, stdin: bytes) -> CommandOutcome:
    try:
        if not stdin:
            return _run_plain_script(host, command_line)
        request = payload.parse_exec_payload(stdin)
    except payload.PayloadError as exc:
        return CommandOutcome.text(1, stderr=f"lab: {exc}", name="invalid")
    runner = _EXEC_ACTIONS.get(request.action)
    if runner is None:
        return CommandOutcome.text(1, stderr=f"lab: exec action not simulated: {request.action}",
                                   name=request.action)
    try:
        return runner(host, request)
    except (LabPathError, FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
        return CommandOutcome.text(1, stderr=f"lab: {request.action}: {exc}", name=request.action)


def _run_plain_script(host: LabHost, command_line: str) -> CommandOutcome:
    """No stdin: the tmp-dir cleanup, or a raw command (which the lab refuses loudly)."""
    script = payload.encoded_script(command_line)
    cleanup = _CLEANUP_SCRIPT.match(script or "")
    if cleanup:
        host.remove_temp_dir(_unquote_pwsh(cleanup.group("path")))
        return CommandOutcome(rc=0, name="cleanup")
    shown = (script if script is not None else command_line).strip()
    return CommandOutcome.text(1, stderr=f"lab: raw command not simulated: {shown}", name="raw")


def _unquote_pwsh(argument: str) -> str:
    if len(argument) >= 2 and argument[0] == argument[-1] == "'":
        argument = argument[1:-1].replace("''", "'")
    return argument.removesuffix("\\.").rstrip("\\")


def _run_module(host: LabHost, request: payload.ExecRequest) -> CommandOutcome:
    fqcn = request.module_fqcn or "?"
    ctx = HostContext(name=host.name, state=host.state, check_mode=request.check_mode, diff=request.diff)
    result = _call_module_handler(ctx, fqcn, request.module_args)
    result.setdefault("changed", False)
    script = ctx.notes.get("script")
    drop_after = _as_list(host.faults.get("drop_connection_after"))
    return CommandOutcome(
        rc=1 if result.get("failed") else 0,
        stdout=_line(json.dumps(result, default=str)),
        name=fqcn,
        script=script,
        check_mode=request.check_mode,
        # A twin killed mid-run (fault cut_after_step) sets connection_cut: the client gets no reply.
        drop_connection=bool({fqcn, script} & set(drop_after)) or bool(ctx.notes.get("connection_cut")),
    )


def _call_module_handler(ctx: HostContext, fqcn: str, args: dict) -> dict:
    handler = MODULE_HANDLERS.get(fqcn)
    if handler is None:
        return {"failed": True, "changed": False, "msg": f"lab: module {fqcn} is not simulated"}
    state = ctx.state
    with state.lock:
        before = _snapshot(state.data)
        try:
            result = handler(ctx, args)
        except (LabUnsupported, LabPathError) as exc:
            result = {"failed": True, "changed": False, "msg": f"lab: {fqcn}: {exc}"}
        except Exception as exc:      # a handler bug must show up as a failed task, not a hang
            result = {"failed": True, "changed": False, "msg": f"lab: handler for {fqcn} crashed: {exc!r}",
                      "exception": traceback.format_exc()}
        # Check mode must leave host.json untouched, even an identical rewrite.
        if not ctx.check_mode and _snapshot(state.data) != before:
            state.save()
    return result


def _snapshot(data: dict) -> str:
    return json.dumps(data, sort_keys=True, default=str)


def _as_list(value) -> list:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _put_file(host: LabHost, request: payload.ExecRequest) -> CommandOutcome:
    name = request.action
    if host.faults.get("copy_fails"):
        return CommandOutcome.text(1, stderr="lab fault: copy failed", name=name)
    data = payload.decode_put_file_data(request.extra)
    host.state.write_bytes(request.params["Path"], data)
    return CommandOutcome.text(0, json.dumps({"sha1": hashlib.sha1(data).hexdigest()}), name=name)


def _fetch_file(host: LabHost, request: payload.ExecRequest) -> CommandOutcome:
    name, path = request.action, request.params["Path"]
    local = host.state.local_path(path)
    if local.is_dir():
        return CommandOutcome.text(0, "[DIR]", name=name)
    if not local.is_file():
        return CommandOutcome.text(1, stderr=f"{path} does not exist", name=name)
    offset, size = int(request.params.get("Offset", 0)), int(request.params.get("BufferSize", 524288))
    with host.state.open_read(path) as handle:      # generated files include their shared part
        handle.seek(offset)
        block = handle.read(size)
    return CommandOutcome.text(0, base64.b64encode(block).decode("ascii"), name=name)


def _mkdtemp(host: LabHost, request: payload.ExecRequest) -> CommandOutcome:
    path = host.make_temp_dir(request.params.get("Directory", "%TEMP%"), request.params["Name"])
    return CommandOutcome.text(0, path, name=request.action)


def _expand_user(host: LabHost, request: payload.ExecRequest) -> CommandOutcome:
    path, profile = request.params.get("Path", "~"), f"C:\\Users\\{host.user}"
    if path == "~":
        path = profile
    elif path.startswith("~\\"):
        path = profile + path[1:]
    return CommandOutcome.text(0, path, name=request.action)


_EXEC_ACTIONS = {
    payload.MODULE_WRAPPER: _run_module,
    "winrm_put_file.ps1": _put_file,
    "winrm_fetch_file.ps1": _fetch_file,
    "powershell_mkdtemp.ps1": _mkdtemp,
    "powershell_expand_user.ps1": _expand_user,
}


# ---- HTTP ---------------------------------------------------------------------------------
class WsmanRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"       # keep-alive, as pywinrm expects
    server: "_LabHTTPServer"

    def do_GET(self) -> None:
        if self.path.rstrip("/") == "/stats":
            self._reply(200, json.dumps(self.server.lab.all_stats(), indent=2).encode(), "application/json")
        else:
            self._reply(404, b"not found\n", "text/plain")

    def do_POST(self) -> None:
        body = self._read_body()
        if self.path.rstrip("/") == "/stats/reset":
            self.server.lab.reset_stats()
            self._reply(200, b"{}", "application/json")
            return
        host = self.server.lab.host_for_path(self.path)
        if host is None:
            self._reply(404, f"lab: no host at {self.path}\n".encode(), "text/plain")
            return
        if not self.server.lab.credentials_match(self.headers.get("Authorization", "")):
            self._reply(401, b"", "text/plain", {"WWW-Authenticate": 'Basic realm="WSMAN"'})
            return
        self._serve_wsman(host, body)

    def _serve_wsman(self, host: LabHost, body: bytes) -> None:
        op, message_id, outcome = "Unknown", "", None
        try:
            request = wsman.parse_request(body)
            op, message_id = request.op, request.message_id
            reply, outcome = host.handle_soap(request)
            status = 200
        except wsman.WsmanError as exc:
            reply, status = wsman.fault_reply(message_id, exc), 500
        self._pause_if_slow(host)
        if reply is None:
            host.record(op, len(body), 0, outcome, dropped=True)
            self._drop_connection()
            return
        host.record(op, len(body), len(reply), outcome)
        self._reply(status, reply, "application/soap+xml;charset=UTF-8")

    def _pause_if_slow(self, host: LabHost) -> None:
        delay = float(host.faults.get("slow_seconds") or 0)
        if delay > 0:
            time.sleep(delay)

    def _drop_connection(self) -> None:
        """Close the socket with no reply at all: the client sees the link go down."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _reply(self, status: int, body: bytes, content_type: str, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:
        # The per-host JSONL log is the record; keep stderr quiet for pytest and the CLI.
        pass


class _LabHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    lab: "LabServer"


class LabServer:
    """All hosts of a state folder behind one listening port."""

    def __init__(self, state_dir: Path | str, host: str = "127.0.0.1", port: int = 0,
                 user: str = DEFAULT_USER, password: str = DEFAULT_PASSWORD):
        self.state_dir = Path(state_dir)
        self.bind_host = host
        self.user = user
        self.password = password
        self._expected_auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        self.hosts: dict[str, LabHost] = self._load_hosts()
        self._httpd = _LabHTTPServer((host, port), WsmanRequestHandler)
        self._httpd.lab = self
        self._thread: threading.Thread | None = None

    def _load_hosts(self) -> dict[str, LabHost]:
        hosts_dir = self.state_dir / "hosts"
        if not hosts_dir.is_dir():
            raise FileNotFoundError(f"lab: no hosts folder in {self.state_dir}")
        hosts = {}
        for host_json in sorted(hosts_dir.glob("*/host.json")):
            lab_host = LabHost(HostState.load(host_json.parent), self.state_dir / "requests", self.user)
            hosts[lab_host.name] = lab_host
        return hosts

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    # -- lookups used by the request handler ------------------------------------------------
    def host_for_path(self, url_path: str) -> LabHost | None:
        match = re.match(r"^/wsman/(?P<name>[^/?]+)/?(?:\?.*)?$", url_path)
        return self.hosts.get(match.group("name")) if match else None

    def credentials_match(self, authorization: str) -> bool:
        return authorization.strip() == self._expected_auth

    # -- running ---------------------------------------------------------------------------
    def serve_forever(self) -> None:
        self._httpd.serve_forever(poll_interval=0.2)

    def start(self) -> "LabServer":
        self._thread = threading.Thread(target=self.serve_forever, name="smslab", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def shutdown_from_signal(self) -> None:
        # serve_forever runs in the signal-handling thread: shutdown() there would deadlock.
        threading.Thread(target=self._httpd.shutdown, daemon=True).start()

    # -- stats and state ---------------------------------------------------------------------
    def stats(self, host: str) -> dict:
        return self.hosts[host].stats.as_dict()

    def all_stats(self) -> dict:
        return {name: lab_host.stats.as_dict() for name, lab_host in self.hosts.items()}

    def reset_stats(self) -> None:
        for lab_host in self.hosts.values():
            lab_host.reset_stats()

    def state(self, host: str) -> HostState:
        return self.hosts[host].state

    def reload_host(self, host: str) -> None:
        """Re-read host.json after a test or a person edited it (e.g. to inject a fault)."""
        lab_host = self.hosts[host]
        with lab_host.state.lock:
            lab_host.state.data = HostState.load(lab_host.state.root).data

    # -- inventory ---------------------------------------------------------------------------
    def inventory(self) -> dict:
        hosts = {}
        for name, lab_host in self.hosts.items():
            host_vars = {
                "ansible_host": self.bind_host,
                "ansible_port": self.port,
                "ansible_connection": "winrm",
                "ansible_winrm_scheme": "http",
                "ansible_winrm_transport": "basic",
                "ansible_winrm_path": f"/wsman/{name}",
                "ansible_user": self.user,
                "ansible_password": self.password,
            }
            host_vars.update(lab_host.state.data.get("inventory_vars") or {})
            hosts[name] = host_vars
        return inventory_of(hosts)

    def write_inventory(self, path: Path | str) -> Path:
        return write_inventory(path, self.inventory(), "smslab")


def start_lab(state_dir: Path | str, host: str = "127.0.0.1", port: int = 0,
              user: str = DEFAULT_USER, password: str = DEFAULT_PASSWORD) -> LabServer:
    """Load every host of ``state_dir`` and serve them in a background thread."""
    load_handler_modules()
    return LabServer(state_dir, host=host, port=port, user=user, password=password).start()


def load_handler_modules() -> None:
    """Import the handler modules so they register; sms_scripts is optional while it is written."""
    import importlib
    import importlib.util

    importlib.import_module("smslab.handlers.generic")
    if importlib.util.find_spec("smslab.handlers.sms_scripts") is not None:
        importlib.import_module("smslab.handlers.sms_scripts")


class ServedLab:
    """Start and stop of a lab served in this process, with its inventory, for the test harness and the
    benchmark. Subclasses set ``state_dir``; ``server`` and ``inventory`` are set while it runs."""

    state_dir: Path
    server: LabServer | None = None
    inventory: Path | None = None

    def start(self):
        self.server = start_lab(self.state_dir)
        self.inventory = self.server.write_inventory(Path(self.state_dir) / "inventory.yml")
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None
