"""Ports of the lab's Samba instances, and who listens on them.

smbd listens on a port the kernel hands out (bind to port 0): one of its ephemeral range,
``net.ipv4.ip_local_port_range`` (32768-60999 on Linux). samba-dcerpcd takes TCP ports for its
rpcd_* helpers itself, the first free ones of ``rpc server dynamic port range`` (default
49152-65535). The two ranges overlapped: in a 245-host run one host's samba-dcerpcd took another
host's smbd port between the kernel naming it and smbd binding it, and that smbd exited. Each
instance therefore gets a dynamic range outside the ephemeral one (``rpc_port_range``): the kernel
never hands out those ports, so no smbd port of this lab, of another lab or of a test run on the
same machine can be taken by a samba-dcerpcd. Nothing machine-wide changes (no sysctl, no address
added to ``lo``), which is why this is preferred to reserving ports or giving each smbd its own
127.0.0.x (``../shared/notes/legacy-hosts.md``: that needs the address on ``lo``).

What remains is the short window between ``free_port`` and smbd's bind, in which any process of the
machine may take the port: the lab then sees smbd exit with "Address already in use" and tries
another port (``smslab.samba.host``).
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

EPHEMERAL_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
LINUX_DEFAULT_EPHEMERAL = (32768, 60999)
LOWEST_UNPRIVILEGED = 1024
# samba-dcerpcd takes 3 TCP ports per instance (one per rpcd_* helper the lab runs): 256 ports
# are ~85 instances; the range above 60999 (4535 ports) holds ~1500, for every lab of the machine.
MIN_RPC_PORTS = 256
TCP_LISTEN = "0A"
UNIX_ACCEPTING = 0x10000            # __SO_ACCEPTCON in /proc/net/unix: a listening socket


def ephemeral_range(path: Path = EPHEMERAL_RANGE_FILE) -> tuple[int, int]:
    """The kernel's ephemeral port range (where ``bind(port 0)`` and ``connect`` take ports)."""
    try:
        low, high = (int(part) for part in path.read_text(encoding="ascii").split())
    except (OSError, ValueError):
        return LINUX_DEFAULT_EPHEMERAL
    return low, high


def rpc_port_range(ephemeral: tuple[int, int] | None = None) -> tuple[int, int]:
    """samba-dcerpcd's ``rpc server dynamic port range``: the ports above the ephemeral range, where
    nothing listens by convention (61000-65535 on Linux); below it (1024 up, where registered
    services live) only if the ports above are too few.

    ValueError when neither side has ``MIN_RPC_PORTS`` ports (an ephemeral range of nearly every port).
    """
    low, high = ephemeral or ephemeral_range()
    for first, last in ((high + 1, 65535), (LOWEST_UNPRIVILEGED, low - 1)):
        if last - first + 1 >= MIN_RPC_PORTS:
            return first, last
    raise ValueError(f"the kernel's ephemeral port range {low}-{high} ({EPHEMERAL_RANGE_FILE}) leaves "
                     f"fewer than {MIN_RPC_PORTS} ports outside it for samba-dcerpcd; narrow it "
                     f"(sysctl net.ipv4.ip_local_port_range)")


def free_port(address: str) -> int:
    """A port of the ephemeral range nobody holds now (the kernel's choice)."""
    with socket.socket() as probe:
        probe.bind((address, 0))
        return probe.getsockname()[1]


def _hex_address(address: str, port: int) -> str:
    """``127.0.0.1``, 445 as /proc/net/tcp writes it: ``0100007F:01BD``."""
    return f"{int.from_bytes(socket.inet_aton(address), 'little'):08X}:{port:04X}"


def socket_inodes(pids) -> set[str]:
    """Inodes of the sockets the processes ``pids`` hold open (gone processes are skipped)."""
    inodes = set()
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    return inodes


def tcp_listener_table() -> dict[str, set[str]]:
    """Inodes of the listening IPv4 TCP sockets by local ``ADDR:PORT`` (hex, as /proc/net/tcp has
    them). One read costs ~20 ms here whatever the number of sockets: callers read it once per check."""
    table: dict[str, set[str]] = {}
    for line in Path("/proc/net/tcp").read_text(encoding="ascii").splitlines()[1:]:
        fields = line.split()
        if fields[3] == TCP_LISTEN:
            table.setdefault(fields[1], set()).add(fields[9])
    return table


def tcp_listeners(address: str, port: int, table: dict[str, set[str]] | None = None) -> set[str]:
    """Inodes of the sockets listening on ``address:port`` or on the wildcard at ``port`` (IPv4)."""
    table = tcp_listener_table() if table is None else table
    return table.get(_hex_address(address, port), set()) | table.get(_hex_address("0.0.0.0", port), set())


def unix_listener_table() -> dict[str, set[str]]:
    """Inodes of the listening Unix sockets by path (one read of /proc/net/unix)."""
    table: dict[str, set[str]] = {}
    for line in Path("/proc/net/unix").read_text(encoding="utf-8", errors="replace").splitlines()[1:]:
        fields = line.split(maxsplit=7)
        if len(fields) == 8 and int(fields[3], 16) & UNIX_ACCEPTING:
            table.setdefault(fields[7], set()).add(fields[6])
    return table


def tcp_ports_of(pids) -> list[int]:
    """The TCP ports the processes ``pids`` listen on (IPv4 and IPv6)."""
    inodes = socket_inodes(pids)
    ports = set()
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/net/{table}").read_text(encoding="ascii").splitlines()[1:]:
            fields = line.split()
            if fields[3] == TCP_LISTEN and fields[9] in inodes:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return sorted(ports)
