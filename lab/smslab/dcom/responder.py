"""``WmiResponder``: port 135 of each simulated host, on its own loopback address.

DCOM has no port option: impacket's client (like Windows) always starts at the OXID resolver on port 135
and matches the exporter's string bindings against the target address, so each host needs its own
address (127.0.0.x; root may bind any of them without adding it to ``lo``). One listening socket per
host serves the resolver, the activators and the object exporter; one thread per connection.

Each host imitates its profile (``host.json`` ``profile``, ``smslab.profiles``; the lab's default when
absent): ``interfaces_of(profile)`` are the abstract syntaxes a bind may name. Any other gets a bind_ack
whose result for that context is provider_rejection / abstract_syntax_not_supported (C706 12.6.4.4 and
12.6.3.1 ``p_cont_def_result_t``; MS-RPCE 3.3.1.5.6): the per-context refusal a server gives for an
interface it does not export, where a bind_nak would refuse the whole association (protocol version,
authentication type: MS-RPCE 2.2.2.5). So an ``nt4`` host refuses a bind to IRemoteSCMActivator and
IRemUnknown2, which COM 5.6 introduced (MS-DCOM 2.2.11), and impacket's ``CoCreateInstanceEx`` fails there
with "Bind context rejected: abstract_syntax_not_supported".
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from pathlib import Path

from impacket.dcerpc.v5 import dcomrt
from impacket.dcerpc.v5.dcom import wmi

from smslab.dcom.exporter import Exporter
from smslab.dcom.provider import HostWmi
from smslab.dcom.rpc_server import RpcConnection, RpcFault
from smslab.profiles import HostProfile, profile_named
from smslab.state import HostState

LOG = logging.getLogger(__name__)

DCOM_PORT = 135
RPC_E_INVALID_OBJECT = 0x80010114
NCA_S_UNKNOWN_IF = 0x1C010003
_SERVICES = (dcomrt.IID_IObjectExporter, dcomrt.IID_IActivation, dcomrt.IID_IRemUnknown)
_OBJECTS = (wmi.IID_IWbemLevel1Login, wmi.IID_IWbemServices, wmi.IID_IEnumWbemClassObject)


def interfaces_of(profile: HostProfile) -> frozenset:
    """The interfaces a host of ``profile`` accepts a bind to."""
    offered = set(_SERVICES + _OBJECTS)
    if profile.remote_scm_activator:            # COM 5.6 and later
        offered.add(dcomrt.IID_IRemoteSCMActivator)
    if profile.rem_unknown2:                    # COM 5.6 and later
        offered.add(dcomrt.IID_IRemUnknown2)
    return frozenset(offered)


def lab_credentials(state_dir: Path) -> tuple[str, str]:
    """The account of the lab's msrpc hosts: the scenario's ``credentials``, else the Samba lab's default (one
    simulated server has one account, whichever protocol reaches it)."""
    from smslab.samba.lab import scenario_credentials      # pylint: disable=import-outside-toplevel
    return scenario_credentials(Path(state_dir))


class _HostListener:
    def __init__(self, root: Path, address: str, port: int, user: str, password: str, stop: threading.Event):
        state = HostState.load(root)
        self.name = state.name
        self.address = address
        self.stop = stop
        self.computer_name = state.environment.get("COMPUTERNAME") or state.name.upper()
        # host.json ntlmv1: true accepts NTLMv1 too; ntlmv2: false refuses NTLMv2 (NT 4.0 before SP4)
        self.ntlm_versions = (bool(state.data.get("ntlmv1")), state.data.get("ntlmv2", True) is not False)
        self.profile = profile_named(state.data.get("profile"))
        self.interfaces = interfaces_of(self.profile)
        self.exporter = Exporter(address, self.computer_name, activate=None, profile=self.profile)
        self.wmi = HostWmi(root, self.exporter, stop)
        self.exporter.activate = self.wmi.activate
        # fault exporter_blackholed: the object exporter's binding names a port whose listener never accepts and
        # whose backlog is full, so a connect there hangs as behind a firewall that drops the packets silently
        self.blackhole: list[socket.socket] = []
        if state.faults.get("exporter_blackholed"):
            self.blackhole = _blackholed_port(address)
            self.exporter.exporter_port = self.blackhole[0].getsockname()[1]
        self._account = (user.lower(), password)
        self.sock = socket.create_server((address, port), reuse_port=False)
        self.sock.settimeout(0.2)
        self.threads: list[threading.Thread] = []
        self.clients: list[socket.socket] = []
        self.lock = threading.Lock()

    def password_for(self, user: str) -> str | None:
        return self._account[1] if user.lower() == self._account[0] else None

    def dispatch(self, iface: bytes, opnum: int, object_uuid: bytes | None, stub: bytes, caller: str):
        """An ORPC call goes where its IPID (the PDU's object UUID) points, whatever interface the context
        was bound to (MS-DCOM 3.1.1.5.4); a call without one goes to the resolver or an activator."""
        if object_uuid is not None and any(object_uuid):
            return self.exporter.call(object_uuid, opnum, stub, caller)
        if iface == dcomrt.IID_IObjectExporter:
            return self.exporter.object_exporter(opnum, stub)
        if iface == dcomrt.IID_IActivation:
            return self.exporter.remote_activation(opnum, stub, caller)
        if iface == dcomrt.IID_IRemoteSCMActivator:
            return self.exporter.activator(opnum, stub, caller)
        if iface in (dcomrt.IID_IRemUnknown, dcomrt.IID_IRemUnknown2):
            raise RpcFault(RPC_E_INVALID_OBJECT, "an IRemUnknown call without the IPID")
        raise RpcFault(NCA_S_UNKNOWN_IF, "an object call without the IPID")

    def accept_loop(self) -> None:
        while not self.stop.is_set():
            try:
                client, _address = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            client.settimeout(None)
            connection = RpcConnection(client, self.dispatch, self.interfaces, self.computer_name, self.password_for,
                                       self.ntlm_versions, self.stop)
            thread = threading.Thread(target=connection.serve, name=f"wmi-{self.name}-conn", daemon=True)
            with self.lock:                          # close() sees every started thread, and only those
                if self.stop.is_set():
                    client.close()
                    return
                self.clients = [c for c in self.clients if c.fileno() != -1] + [client]
                self.threads = [t for t in self.threads if t.is_alive()] + [thread]
                thread.start()

    def close(self) -> None:
        self.sock.close()
        for sock in self.blackhole:
            sock.close()
        with self.lock:
            clients, threads = list(self.clients), list(self.threads)
        for client in clients:
            try:
                client.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            client.close()
        for thread in threads:
            thread.join(timeout=5)


def _blackholed_port(address: str) -> list[socket.socket]:
    """A listener on ``address`` that never accepts, its backlog filled: Linux then drops each further SYN."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind((address, 0))
    listener.listen(0)
    filling = []
    for _attempt in range(4):                 # listen(0) queues one or two connections, depending on the kernel
        client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        client.setblocking(False)
        client.connect_ex(listener.getsockname())
        filling.append(client)
    return [listener] + filling


class WmiResponder:
    """Serve DCOM/WMI for ``host_names`` of ``state_dir``; host ``name`` listens on ``address_for(name)``:135."""

    def __init__(self, state_dir, host_names, address_for, port: int = DCOM_PORT,
                 credentials: tuple[str, str] | None = None):
        self.state_dir = Path(state_dir)
        self.credentials = credentials            # (user, password); default: lab_credentials(state_dir)
        self.host_names = list(host_names)
        self.address_for = address_for
        self.port = port
        self.listeners: dict[str, _HostListener] = {}
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()

    def start(self) -> "WmiResponder":
        from smslab.server import load_handler_modules      # pylint: disable=import-outside-toplevel
        load_handler_modules()                               # the Q244405.exe twin answers Create
        user, password = self.credentials or lab_credentials(self.state_dir)
        try:
            for name in self.host_names:
                root = self.state_dir / "hosts" / name
                if HostState.load(root).faults.get("rpc_unavailable"):
                    continue                      # port 135 closed: the client's connect is refused
                address = self.address_for(name)
                if not address.startswith("127."):
                    raise ValueError(f"{name}: the WMI responder listens on loopback only, not {address}")
                try:
                    listener = _HostListener(root, address, self.port, user, password, self._stop)
                except PermissionError as exc:
                    raise PermissionError(f"{name}: binding {address}:{self.port} needs root "
                                          f"(DCOM always starts at port {self.port}): {exc}") from exc
                self.listeners[name] = listener
                thread = threading.Thread(target=listener.accept_loop, name=f"wmi-{name}", daemon=True)
                thread.start()
                self._threads.append(thread)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        self._stop.set()
        for listener in self.listeners.values():
            listener.close()
        for thread in self._threads:
            thread.join(timeout=5)
        self.listeners.clear()
        self._threads.clear()

    def started_processes(self, name: str) -> list[dict]:
        """What Win32_Process.Create ran on host ``name`` (pid, path, exit_code, ...): the lab's record."""
        return list(self.listeners[name].wmi.started)

    def __enter__(self) -> "WmiResponder":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def free_loopback_addresses(host_names, port: int = DCOM_PORT) -> dict[str, str]:
    """A 127.0.0.x per host whose ``port`` is free now (other labs or test runs may hold some)."""
    names, found = list(host_names), {}
    start = 2 + os.getpid() % 200                   # parallel test runs start at different addresses
    for offset in range(253):
        if len(found) == len(names):
            break
        address = f"127.0.0.{2 + (start - 2 + offset) % 253}"
        try:
            socket.create_server((address, port)).close()
        except OSError:
            continue
        found[names[len(found)]] = address
    if len(found) < len(names):
        raise OSError(f"only {len(found)} of 127.0.0.2-254 have port {port} free; {len(names)} hosts need one each")
    return found


def loopback_addresses(host_names, first: int = 2) -> dict[str, str]:
    """A distinct 127.0.0.x per host, in order (127.0.0.1 stays free for the other lab servers)."""
    names = list(host_names)
    if len(names) + first > 255:
        raise ValueError(f"{len(names)} hosts do not fit in 127.0.0.{first}-254")
    return {name: f"127.0.0.{first + index}" for index, name in enumerate(names)}
