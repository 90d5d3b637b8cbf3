"""One simulated host served by its own ``smbd`` + ``samba-dcerpcd`` + the lab's ``\\svcctl``."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from smslab.samba import config
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


def free_port(address: str) -> int:
    with socket.socket() as probe:
        probe.bind((address, 0))
        return probe.getsockname()[1]


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
        self.netbios_name = (state.environment.get("COMPUTERNAME") or name).upper()[:15]
        self.domain = self.netbios_name          # a local account of the site server, as on NT 4.0
        self._procs: list[subprocess.Popen] = []
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
        reason = samba_available()
        if reason:
            raise SambaError(f"{self.name}: {reason}")
        began = time.monotonic()
        binaries = samba_binaries()
        self._prepare_folders()
        if not self.port:
            self.port = free_port(self.address)
        self.conf.write_text(config.render_smb_conf(
            self._alias, self.host_root, self.netbios_name, "SMSLAB", self.port, self.address, self.options),
            encoding="utf-8")
        (self.instance / "usermap").write_text(f"root = {self.user}\n", encoding="utf-8")
        self._set_password(binaries["smbpasswd"])
        self._fill_registry(binaries["net"])
        try:
            self._spawn([binaries["smbd"], "--foreground", "--no-process-group", "-s", str(self.conf)], "smbd")
            self._wait_port()
            self._spawn([os.path.join(binaries["libexec"], DCERPCD), "--foreground", "--no-process-group",
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

    def _spawn(self, argv: list[str], label: str) -> None:
        log = open(self.instance / "log" / f"{label}.out", "wb")     # pylint: disable=consider-using-with
        # stdin is a pipe held by this process: smbd and samba-dcerpcd in --foreground exit when it
        # closes, so a lab whose Python process dies leaves no server behind.
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        log.close()
        self._procs.append(proc)
        self.groups.append(proc.pid)

    def _wait_port(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._procs[0].poll() is not None:
                raise SambaError(f"{self.name}: smbd exited with {self._procs[0].returncode} at start; "
                                 f"see {self.instance / 'log'}")
            try:
                socket.create_connection((self.address, self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.02)
        raise SambaError(f"{self.name}: smbd did not listen on {self.address}:{self.port} within {timeout}s")

    def _link_pipes(self, timeout: float = 20.0) -> None:
        """Point ``pipes/np/<pipe>`` at samba-dcerpcd's sockets once it has made them (not svcctl)."""
        served = self.instance / "ncalrpc" / "np"
        deadline = time.monotonic() + timeout
        while not (served / "winreg").exists() or not (served / "srvsvc").exists():
            if self._procs[-1].poll() is not None:
                raise SambaError(f"{self.name}: samba-dcerpcd exited with {self._procs[-1].returncode}; "
                                 f"see {self.instance / 'log'}")
            if time.monotonic() > deadline:
                raise SambaError(f"{self.name}: samba-dcerpcd made no pipe sockets within {timeout}s")
            time.sleep(0.02)
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
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
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
        self._procs = []
        if self._alias_dir is not None:
            shutil.rmtree(self._alias_dir, ignore_errors=True)
            self._alias_dir = None
        # children killed with their group take a moment to exit; wait so callers see none
        deadline = time.monotonic() + 5
        while self.pids() and time.monotonic() < deadline:
            time.sleep(0.02)

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
