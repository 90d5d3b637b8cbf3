"""The lab's WinRM endpoint: one HTTP port, one simulated host per URL path ``/wsman/<name>``.

Each host is a ``HostState`` loaded from ``<state_dir>/hosts/<name>/host.json`` and kept in
memory; it is saved only after a handler changed it outside check mode, so a check-mode run leaves
``hosts/`` byte-identical. Every HTTP request is appended to ``<state_dir>/requests/<name>.jsonl``
and counted in memory (``GET /stats``, ``POST /stats/reset``).

Three modules: this one (HTTP, the server, its inventory, start and stop), ``lab_host`` (one host: shells,
temp folders, counters, request log) and ``remote_command`` (what one command runs and prints).
"""

from __future__ import annotations

import base64
import json
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from smslab import wsman
from smslab.inventory import inventory_of, write_inventory
from smslab.lab_host import DEFAULT_TEMP, HostStats, LabHost
from smslab.remote_command import CommandOutcome, run_remote_command
from smslab.state import HostState

__all__ = ["CommandOutcome", "DEFAULT_PASSWORD", "DEFAULT_TEMP", "DEFAULT_USER", "HostStats", "LabHost", "LabServer",
           "ServedLab", "WsmanRequestHandler", "load_handler_modules", "run_remote_command", "start_lab"]

DEFAULT_USER = "lab-admin"
DEFAULT_PASSWORD = "lab-Passw0rd!"


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
