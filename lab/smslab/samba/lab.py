"""``SambaLab``: the hosts of a state folder, each served by its own Samba instance."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from smslab.samba import ports
from smslab.samba.config import HostOptions
from smslab.samba.host import SambaError, SambaHost, samba_available
from smslab.state import HostState

DEFAULT_USER = "Administrator"
DEFAULT_PASSWORD = "lab-Passw0rd!"


def scenario_credentials(state_dir: Path) -> tuple[str, str]:
    """The scenario's ``credentials`` (scenario.json), else the lab's defaults."""
    path = Path(state_dir) / "scenario.json"
    credentials = {}
    if path.is_file():
        credentials = json.loads(path.read_text(encoding="utf-8")).get("credentials") or {}
    return credentials.get("user") or DEFAULT_USER, credentials.get("password") or DEFAULT_PASSWORD


class SambaLab:
    """Start/stop every host (or ``host_names``) of ``state_dir`` over SMB; a context manager.

    ``options`` maps a host name to ``HostOptions`` (NTLMv1, SMB1 refused, missing shares, a
    non-administrator account). ``parallel`` hosts start at once (each start spends most of its
    time waiting for samba-dcerpcd). ``ports`` fixes a host's smbd port; the others get one from
    the kernel (``smslab.samba.ports`` says why those cannot collide).

    ``start()`` returns once every smbd listens on its port and every samba-dcerpcd on its pipes;
    otherwise it stops all it started and raises SambaError naming the host, the port and the last
    lines of that instance's log.
    """

    def __init__(self, state_dir, host_names=None, options: dict[str, HostOptions] | None = None,
                 address: str = "127.0.0.1", parallel: int = 4, ports: dict[str, int] | None = None):
        self.state_dir = Path(state_dir)
        hosts_dir = self.state_dir / "hosts"
        if not hosts_dir.is_dir():
            raise FileNotFoundError(f"smslab.samba: no hosts folder in {self.state_dir}")
        known = sorted(p.parent.name for p in hosts_dir.glob("*/host.json"))
        names = list(host_names) if host_names is not None else known
        unknown = [name for name in names if name not in known]
        if unknown:
            raise ValueError(f"smslab.samba: no such host in {hosts_dir}: {', '.join(unknown)}")
        self.names = names
        self.options = dict(options or {})
        self.ports = dict(ports or {})
        self.address = address
        self.parallel = max(1, parallel)
        self.user, self.password = scenario_credentials(self.state_dir)
        self.hosts: dict[str, SambaHost] = {}

    def start(self) -> dict[str, SambaHost]:
        reason = samba_available()
        if reason:
            raise SambaError(reason)
        hosts = [SambaHost(name, self.state_dir, self.user, self.password, address=self.address,
                           port=self.ports.get(name, 0), options=self.options.get(name)) for name in self.names]
        self.hosts = {host.name: host for host in hosts}
        pool = ThreadPoolExecutor(max_workers=self.parallel)
        try:
            try:
                for future in [pool.submit(host.start) for host in hosts]:
                    future.result()
            finally:
                pool.shutdown(wait=True, cancel_futures=True)     # after a failure, start no more
            # one host's smbd may have died while the others started
            tcp_table, unix_table = ports.tcp_listener_table(), ports.unix_listener_table()
            for host in hosts:
                host.check_running(tcp_table, unix_table)
        except BaseException:
            self.stop()
            raise
        return dict(self.hosts)

    def stop(self) -> None:
        for host in self.hosts.values():
            host.stop()

    def __enter__(self) -> "SambaLab":
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def inventory_vars(self, name: str) -> dict:
        """The Ansible host variables that reach ``name`` over msrpc (run on the controller)."""
        host = self.hosts[name]
        extra = HostState.load(host.host_root).data.get("inventory_vars") or {}
        return {
            **extra,
            "ansible_host": host.address,
            "ansible_connection": "local",
            "q244405_transport": "msrpc",
            "q244405_msrpc_port": host.port,
            "q244405_msrpc_user": host.user,
            "q244405_msrpc_password": host.password,
            "q244405_msrpc_domain": host.domain,
        }

    def pids(self) -> list[int]:
        """Live processes of every instance this lab started (empty after a clean stop)."""
        return sorted(pid for host in self.hosts.values() for pid in host.pids())
