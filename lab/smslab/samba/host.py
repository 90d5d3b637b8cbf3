"""One simulated host served by its own ``smbd`` + ``samba-dcerpcd`` + the lab's ``\\svcctl``."""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from smslab.samba import config, ports
from smslab.samba.config import HostOptions
from smslab.samba.services import locked_state
from smslab.samba.svcctl import SvcctlResponder
from smslab.state import HostState

SMBD_CANDIDATES = ("smbd", "/usr/sbin/smbd")
DCERPCD = "samba-dcerpcd"
# samba-dcerpcd helpers the lab runs: srvsvc/wkssvc/svcctl (classic), winreg, lsarpc/samr.
# Not rpcd_epmapper: it listens on TCP 135, which every instance would want (and the WMI
# responder needs). The helpers' own TCP endpoints bind the instance's 127.x address only.
RPCD_HELPERS = ("rpcd_classic", "rpcd_winreg", "rpcd_lsad")
LOG = logging.getLogger("smslab.samba")
INSTALL_HINT = "install Samba: apt-get install samba (Debian/Ubuntu; brings smbd, samba-dcerpcd and net)"
SMBD_LISTEN_SECONDS = 30.0          # bounded waits at start (a few seconds on a busy 2-core machine)
DCERPCD_PIPES_SECONDS = 30.0
PORT_ATTEMPTS = 3                   # a port the lab chose and another process took meanwhile: choose again
ADDRESS_IN_USE = "Address already in use"       # smbd's log when its port is taken (strerror(EADDRINUSE))
LOG_TAIL_LINES = 12
# Samba log lines that are no message: "[2026/12/01 07:42:44.206610,  0] ../../source3/...(func)",
# "=====", backtrace frames "   #3 /usr/lib/...", blank lines
SAMBA_LOG_NOISE = re.compile(r"^(\[\d{4}/\d\d/\d\d [^]]*\] |\s*=+\s*$|\s+#\d+ |\s*$)")
PIPES_CHECKED = ("winreg", "srvsvc", "lsarpc")     # one per helper (classic, winreg, lsad): each is linked at start


class SambaError(RuntimeError):
    """The lab could not start or fill a Samba instance; the message names the host."""


def _which(*names: str) -> str | None:
    for name in names:
        found = shutil.which(name) or (name if os.path.isabs(name) and os.access(name, os.X_OK) else None)
        if found:
            return found
    return None


def samba_binaries() -> dict[str, str | None]:
    smbd = _which(*SMBD_CANDIDATES)
    libexec = None
    for candidate in ("/usr/libexec/samba", "/usr/lib/samba", "/usr/local/samba/libexec"):
        if os.access(os.path.join(candidate, DCERPCD), os.X_OK):
            libexec = candidate
            break
    return {"smbd": smbd, "libexec": libexec, "net": _which("net", "/usr/bin/net"),
            "smbpasswd": _which("smbpasswd", "/usr/bin/smbpasswd")}


def samba_available() -> str | None:
    """None when this machine can run lab Samba hosts, else the reason and how to fix it."""
    found = samba_binaries()
    missing = [name for name in ("smbd", "net", "smbpasswd") if not found[name]]
    if not found["libexec"]:
        missing.append(DCERPCD)
    if missing:
        return f"smslab.samba: {', '.join(missing)} not found; {INSTALL_HINT}"
    if os.geteuid() != 0:
        return "smslab.samba: smbd must run as root here (it switches to the account's user for each session)"
    return None


free_port = ports.free_port         # kept here: callers and tests import it from this module


class SambaHost:
    """A lab host reachable over SMB at ``address:port`` with ``user`` / ``password`` / ``domain``.

    ``state_dir`` is the lab state folder; the host's files are ``state_dir/hosts/<name>/fs``,
    the instance's own folders ``state_dir/samba/<name>``.
    """

    def __init__(self, name: str, state_dir: Path, user: str, password: str, address: str = "127.0.0.1",
                 port: int = 0, options: HostOptions | None = None):
        self.name = name
        self.state_dir = Path(state_dir)
        self.user = user
        self.password = password
        self.address = address
        self.port = port
        self.options = options or HostOptions()
        self.host_root = self.state_dir / "hosts" / name
        self.instance = self.state_dir / "samba" / name
        state = HostState.load(self.host_root)
        try:
            self.profile = config.host_profile(state, self.options)
            config.profile_lines(self.profile, self.options.smb1)
        except ValueError as exc:
            raise SambaError(f"{name}: {exc}") from None
        self.netbios_name = (state.environment.get("COMPUTERNAME") or name).upper()[:15]
        self.domain = self.netbios_name          # a local account of the site server, as on NT 4.0
        self._procs: list[subprocess.Popen] = []
        self._smbd: subprocess.Popen | None = None
        self._dcerpcd: subprocess.Popen | None = None
        self.rpc_ports: tuple[int, int] | None = None   # samba-dcerpcd's TCP range (smslab.samba.ports)
        self.groups: list[int] = []          # process groups ever started (kept after stop)
        self._alias_dir: Path | None = None
        self._registry_filled = False
        self._alias = self.instance
        self._svcctl: SvcctlResponder | None = None
        self.start_seconds: float | None = None

    @property
    def conf(self) -> Path:
        return self.instance / "smb.conf"

    # ---- start -------------------------------------------------------------------------
    def start(self) -> "SambaHost":
        """Start smbd, samba-dcerpcd and the \\svcctl responder; return once each is alive and
        listening (smbd on ``port``, samba-dcerpcd on its pipes), else stop them all and raise
        SambaError naming the host, the port and the last lines of the instance's log."""
        reason = samba_available()
        if reason:
            raise SambaError(f"{self.name}: {reason}")
        began = time.monotonic()
        binaries = samba_binaries()
        try:
            self.rpc_ports = ports.rpc_port_range()
        except ValueError as exc:
            raise SambaError(f"{self.name}: {exc}") from None
        self._prepare_folders()
        chosen_port = not self.port         # the lab's choice (retried if taken), not the caller's
        if chosen_port:
            self.port = free_port(self.address)
        self._write_conf()
        (self.instance / "usermap").write_text(f"root = {self.user}\n", encoding="utf-8")
        self._set_password(binaries["smbpasswd"])
        self._fill_registry(binaries["net"])
        try:
            self._start_smbd(binaries["smbd"], chosen_port)
            self._dcerpcd = self._spawn(
                [os.path.join(binaries["libexec"], DCERPCD), "--foreground", "--no-process-group",
                 "-s", str(self.conf)] + [os.path.join(binaries["libexec"], h) for h in RPCD_HELPERS],
                "samba-dcerpcd")
            self._link_pipes()
            self._svcctl = SvcctlResponder(self._alias / "pipes" / "np" / "svcctl", self.host_root,
                                           admin=self.options.admin)
            self._svcctl.start()
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - began
        return self

    def _write_conf(self) -> None:
        self.conf.write_text(config.render_smb_conf(
            self._alias, self.host_root, self.netbios_name, "SMSLAB", self.port, self.address, self.options,
            rpc_ports=self.rpc_ports, profile=self.profile), encoding="utf-8")

    def _start_smbd(self, smbd: str, chosen_port: bool) -> None:
        """smbd listening on ``port``. A port the lab chose can be taken by any process of the machine
        between ``free_port`` and smbd's bind: then another one, at most PORT_ATTEMPTS times."""
        for attempt in range(1, PORT_ATTEMPTS + 1):
            self._smbd = self._spawn([smbd, "--foreground", "--no-process-group", "-s", str(self.conf)], "smbd")
            try:
                self._wait_smbd_listening()
                return
            except SambaError:
                if not chosen_port or attempt == PORT_ATTEMPTS or ADDRESS_IN_USE not in self.log_tail():
                    raise
                LOG.warning("%s: port %s taken before smbd bound it; choosing another", self.name, self.port)
            self._end_process(self._smbd)
            self._procs.remove(self._smbd)
            log = self.instance / "log" / "samba.log"
            if log.exists():                # keep it, but out of the next attempt's tail
                log.rename(log.with_name(f"samba-port{self.port}.log"))
            self.port = free_port(self.address)
            self._write_conf()

    def _prepare_folders(self) -> None:
        from smslab.samba.files import materialise_generated_files      # pylint: disable=import-outside-toplevel
        if self.instance.exists():
            shutil.rmtree(self.instance)
        for folder in [*config.INSTANCE_DIRS.values(), "log", "pipes/np"]:
            (self.instance / folder).mkdir(parents=True, exist_ok=True)
        os.chmod(self.instance / "pipes" / "np", 0o700)
        # Unix socket paths are limited to 107 bytes and Samba puts sockets several folders deep
        # (ncalrpc/np/initshutdown): smb.conf names the instance through a short link in /tmp.
        self._alias_dir = Path(tempfile.mkdtemp(prefix="smslab-"))
        self._alias = self._alias_dir / "i"
        os.symlink(self.instance, self._alias)
        (self.host_root / "fs" / "C" / config.SMB_SITE_DRIVE_FOLDERS[0]).mkdir(parents=True, exist_ok=True)
        materialise_generated_files(self.host_root)

    def _run(self, argv: list[str], what: str, stdin: str | None = None) -> None:
        result = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=60, check=False)
        if result.returncode != 0:
            raise SambaError(f"{self.name}: {what} failed ({' '.join(argv[:3])} ...): "
                             f"{(result.stderr or result.stdout).strip()[-500:]}")

    def _set_password(self, smbpasswd: str) -> None:
        # The account is root in the instance's own passdb; the username map gives it the
        # scenario's name. Samba needs a Unix account behind every SMB user.
        self._run([smbpasswd, "-c", str(self.conf), "-s", "-a", "root"], "smbpasswd",
                  stdin=f"{self.password}\n{self.password}\n")

    def _fill_registry(self, net: str) -> None:
        keys = config.registry_keys(HostState.load(self.host_root))
        reg_file = self.instance / "registry.reg"
        reg_file.write_text(config.regedit4(keys), encoding="utf-8")
        self._run([net, "-s", str(self.conf), "registry", "import", str(reg_file)], "net registry import")
        self._registry_filled = True

    def sync_registry(self) -> bool:
        """Copy the values of host.json's registry keys back from Samba's registry (what a client
        wrote over ``\\winreg``, e.g. Tracing Enabled), so host.json stays the one truth. Saves only
        on a difference; True if it did."""
        net = samba_binaries()["net"]
        with locked_state(self.host_root) as state:
            changed = False
            for key, values in (state.data.get("registry") or {}).items():
                result = subprocess.run([net, "-s", str(self.conf), "registry", "enumerate", key],
                                        capture_output=True, text=True, timeout=60, check=False)
                if result.returncode != 0:
                    continue            # key removed (or unreadable): leave host.json as it was
                current = config.parse_net_enumerate(result.stdout)
                if current != values:
                    state.data["registry"][key] = current
                    changed = True
            if changed:
                state.save()
        return changed

    def _spawn(self, argv: list[str], label: str) -> subprocess.Popen:
        log = open(self.instance / "log" / f"{label}.out", "ab")     # pylint: disable=consider-using-with
        # stdin is a pipe held by this process: smbd and samba-dcerpcd in --foreground exit when it
        # closes, so a lab whose Python process dies leaves no server behind.
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        log.close()
        self._procs.append(proc)
        self.groups.append(proc.pid)
        return proc

    # ---- is it serving? -----------------------------------------------------------------
    def _smbd_problem(self, tcp_table: dict | None = None) -> str | None:
        """None when smbd runs and itself listens on ``address:port`` (a connect would also
        succeed on another process's socket there: how a dead smbd went unnoticed)."""
        smbd = self._smbd
        if smbd is None or smbd.poll() is not None:
            code = "never started" if smbd is None else f"exited with {smbd.returncode}"
            return f"smbd {code} (port {self.address}:{self.port})"
        if not ports.tcp_listeners(self.address, self.port, tcp_table) & ports.socket_inodes([smbd.pid]):
            return f"smbd (pid {smbd.pid}) is not listening on {self.address}:{self.port}"
        return None

    def _dcerpcd_problem(self, unix_table: dict | None = None) -> str | None:
        """None when samba-dcerpcd runs and listens on the pipes smbd hands it (it keeps the
        listening sockets and passes connections to its rpcd_* helpers)."""
        dcerpcd = self._dcerpcd
        if dcerpcd is None or dcerpcd.poll() is not None:
            code = "never started" if dcerpcd is None else f"exited with {dcerpcd.returncode}"
            return f"samba-dcerpcd {code} (smbd port {self.address}:{self.port})"
        unix_table = ports.unix_listener_table() if unix_table is None else unix_table
        owned = ports.socket_inodes([dcerpcd.pid])
        for pipe_name in PIPES_CHECKED:
            if not unix_table.get(str(self._alias / "ncalrpc" / "np" / pipe_name), set()) & owned:
                return f"samba-dcerpcd (pid {dcerpcd.pid}) is not listening on \\{pipe_name} (smbd port {self.port})"
        return None

    def check_running(self, tcp_table: dict | None = None, unix_table: dict | None = None) -> None:
        """SambaError naming the host, its port and the log's last lines unless smbd listens on its
        port and samba-dcerpcd on its pipes. SambaLab.start asks every host once all have started,
        with one read of the socket tables (``smslab.samba.ports``) for all of them."""
        problem = self._smbd_problem(tcp_table) or self._dcerpcd_problem(unix_table)
        if problem:
            raise self._start_error(problem)

    def _start_error(self, problem: str) -> SambaError:
        return SambaError(f"{self.name}: {problem}; last lines of {self.instance / 'log'}:\n{self.log_tail()}")

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """The last ``lines`` messages of the instance's Samba log (without Samba's header lines,
        separators and backtrace frames, which would crowd out the cause) and of smbd's own output."""
        parts = []
        for name in ("samba.log", "smbd.out"):
            try:
                text = (self.instance / "log" / name).read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            messages = [line.strip() for line in text.splitlines() if not SAMBA_LOG_NOISE.match(line)]
            if messages:
                parts.append(f"[{name}]\n" + "\n".join(messages[-lines:]))
        return "\n".join(parts) or "(empty)"

    def _wait_smbd_listening(self, timeout: float = SMBD_LISTEN_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        while True:
            # a connect is cheap; whose socket answered is asked only then (a read of /proc/net/tcp)
            problem = self._smbd_problem() if self._accepts() else "smbd is not listening"
            if problem is None:
                return
            if self._smbd.poll() is not None:
                time.sleep(0.1)     # its last log lines are on their way
                raise self._start_error(self._smbd_problem())
            if time.monotonic() > deadline:
                raise self._start_error(f"{problem} after {timeout:.0f} s")
            time.sleep(0.05)

    def _accepts(self) -> bool:
        try:
            socket.create_connection((self.address, self.port), timeout=0.5).close()
            return True
        except OSError:
            return False

    def _link_pipes(self, timeout: float = DCERPCD_PIPES_SECONDS) -> None:
        """Point ``pipes/np/<pipe>`` at samba-dcerpcd's sockets once it listens on them (not svcctl)."""
        served = self.instance / "ncalrpc" / "np"
        deadline = time.monotonic() + timeout
        while True:
            made = all((served / name).exists() for name in PIPES_CHECKED)
            problem = self._dcerpcd_problem() if made else "samba-dcerpcd made no pipe sockets"
            if problem is None:
                break
            if self._dcerpcd.poll() is not None:
                time.sleep(0.1)
                raise self._start_error(self._dcerpcd_problem())
            if time.monotonic() > deadline:
                raise self._start_error(f"{problem} (smbd port {self.port}) after {timeout:.0f} s")
            time.sleep(0.05)
        for entry in os.listdir(served):
            if entry != "svcctl":
                os.symlink(self._alias / "ncalrpc" / "np" / entry, self.instance / "pipes" / "np" / entry)

    # ---- stop --------------------------------------------------------------------------
    def stop(self) -> None:
        """Stop the responder and every process of the instance (smbd, samba-dcerpcd, rpcd_*)."""
        if self._svcctl is not None:
            self._svcctl.stop()
            self._svcctl = None
        if self._registry_filled:
            try:
                self.sync_registry()
            except (OSError, subprocess.SubprocessError) as exc:
                LOG.warning("%s: registry not copied back to host.json: %s", self.name, exc)
            self._registry_filled = False
        for proc in self._procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 5
        for proc in self._procs:
            self._end_process(proc, max(0.1, deadline - time.monotonic()))
        self._procs = []
        self._smbd = self._dcerpcd = None
        if self._alias_dir is not None:
            shutil.rmtree(self._alias_dir, ignore_errors=True)
            self._alias_dir = None
        # children killed with their group take a moment to exit; wait so callers see none
        deadline = time.monotonic() + 5
        while self.pids() and time.monotonic() < deadline:
            time.sleep(0.02)

    @staticmethod
    def _end_process(proc: subprocess.Popen, grace: float = 0.1) -> None:
        """SIGTERM, ``grace`` seconds, then SIGKILL to the process and its group; reaped."""
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
        # each instance process is its session's leader: its children share its group
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        proc.wait()
        if proc.stdin:
            proc.stdin.close()

    def pids(self) -> list[int]:
        """Live (not zombie) processes of every group this host started, also after stop()."""
        return live_pids_in_groups(self.groups)


def _process_groups() -> list[tuple[int, int]]:
    """(pid, pgid) of every live process, from /proc (zombies excluded)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8", errors="replace") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":
            found.append((int(entry), int(fields[2])))
    return found


def live_pids_in_groups(groups) -> list[int]:
    groups = set(groups)
    return [pid for pid, pgid in _process_groups() if pgid in groups]
