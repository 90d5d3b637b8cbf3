"""One Samba instance's folders and smb.conf, and the host's registry as a REGEDIT4 file.

Everything of an instance lives in ``<state_dir>/samba/<host>/`` (config, passdb, registry.tdb,
locks, sockets, logs); the shares point into the host's own ``hosts/<host>/fs/<drive>`` folders,
so the WinRM twins and SMB see the same files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from smslab.handlers.sms_scripts.encodings import CODE_PAGE_KEY, DEFAULT_ACP
from smslab.profiles import HostProfile, profile_named
from smslab.state import HostState

# Folders of one instance, by smb.conf parameter.
INSTANCE_DIRS = {
    "private dir": "private", "state directory": "state", "lock directory": "lock",
    "pid directory": "pid", "cache directory": "cache", "ncalrpc dir": "ncalrpc",
}
SMB_SITE_DRIVE_FOLDERS = ("WINNT",)     # ADMIN$ is %SystemRoot%: C:\WINNT on NT 4.0 / Windows 2000


@dataclass
class HostOptions:
    """How one host's SMB server behaves (defaults: a healthy NT 4.0 SP6a site server).

    ``ntlmv1``: accept NTLMv1 (NT 4.0 before SP4); default NTLMv2 only.
    ``smb1``: offer NT LM 0.12; False makes it SMB2+ only ("SMB1 refused" for a client that insists).
    ``missing_shares``: administrative shares not to offer (e.g. ``["D$"]``: "share missing").
    ``admin``: False makes the account a plain user: the admin shares refuse it and the service
    manager grants it only what Everyone gets (ERROR_ACCESS_DENIED for start/stop).
    ``profile``: the OS imitated on the wire (``smslab.profiles``: nt4, w2k, modern); None: host.json's
    ``profile`` (the scenario's), else ``DEFAULT_PROFILE``.
    """

    ntlmv1: bool = False
    smb1: bool = True
    missing_shares: list[str] = field(default_factory=list)
    admin: bool = True
    profile: str | None = None


def profile_lines(profile: HostProfile, smb1: bool) -> list[str]:
    """The smb.conf lines that make Samba speak as ``profile``'s OS (``smb1``: offer NT LM 0.12).

    NT 4.0 SP6a: NT LM 0.12 only, no CAP_LARGE_READX/WRITEX, MaxBufferSize 16644; Windows 2000 adds large
    read/write; no Windows offers the CIFS UNIX extensions Samba has on by default for SMB1."""
    if not smb1 and profile.smb1_only:
        raise ValueError(f"profile {profile.name} ({profile.imitates}) speaks only SMB1: it cannot refuse SMB1")
    return [
        f"  server min protocol = {'NT1' if smb1 else 'SMB2_02'}",
        f"  server max protocol = {profile.smb_max_protocol}",
        f"  large readwrite = {'yes' if profile.large_readwrite else 'no'}",
        f"  max xmit = {profile.max_xmit}",
        "  unix extensions = no",
    ]


def host_profile(state: HostState, options: HostOptions) -> HostProfile:
    """The profile a host is served with: the options' override, else host.json's, else the default."""
    return profile_named(options.profile or state.data.get("profile"))


def share_folders(host_root: Path) -> dict[str, Path]:
    """``C$`` / ``D$`` / ... for every drive folder of the host, and ``ADMIN$``."""
    fs_root = Path(host_root) / "fs"
    shares = {}
    for entry in sorted(fs_root.iterdir()) if fs_root.is_dir() else []:
        if entry.is_dir() and len(entry.name) == 1 and entry.name.isalpha():
            shares[f"{entry.name.upper()}$"] = entry
    system_root = fs_root / "C" / SMB_SITE_DRIVE_FOLDERS[0]
    shares["ADMIN$"] = system_root
    return shares


def render_smb_conf(instance: Path, host_root: Path, netbios_name: str, workgroup: str, port: int,
                    address: str, options: HostOptions, rpc_ports: tuple[int, int] | None = None,
                    profile: HostProfile | None = None) -> str:
    """The smb.conf of one instance. ``rpc_ports``: samba-dcerpcd's TCP range, outside the one smbd's
    port comes from (``smslab.samba.ports``); None keeps Samba's 49152-65535. ``profile``: the OS imitated
    (None: ``options.profile`` or the default)."""
    profile = profile or profile_named(options.profile)
    rpc_range = [f"  rpc server dynamic port range = {rpc_ports[0]}-{rpc_ports[1]}"] if rpc_ports else []
    lines = [
        "# written by smslab.samba; regenerated on every start",
        "[global]",
        f"  netbios name = {netbios_name}",
        f"  workgroup = {workgroup}",
        "  server role = standalone server",
        f"  interfaces = {address}/8",
        "  bind interfaces only = yes",
        f"  smb ports = {port}",
        "  disable netbios = yes",
        f"# {profile.name}: {profile.imitates}",
        *profile_lines(profile, options.smb1),
        f"  ntlm auth = {'yes' if options.ntlmv1 else 'ntlmv2-only'}",
        f"  passdb backend = tdbsam:{instance / 'private' / 'passdb.tdb'}",
        *[f"  {param} = {instance / folder}" for param, folder in INSTANCE_DIRS.items()],
        # smbd hands named pipes to <socket_dir>/np/<pipe>: svcctl is the lab's, the rest samba-dcerpcd's
        f"  external_rpc_pipe:socket_dir = {instance / 'pipes'}",
        "  rpc start on demand helpers = no",
        *rpc_range,
        f"  username map = {instance / 'usermap'}",
        f"  log file = {instance / 'log' / 'samba.log'}",
        "  max log size = 1000",
        "  log level = 1",
        "  idmap config * : backend = tdb",
        "  idmap config * : range = 3000-7999",
        "  map to guest = never",
        "  load printers = no",
        "  printcap name = /dev/null",
        "  disable spoolss = yes",
        "  registry shares = no",
        "  usershare max shares = 0",
        # keep the host's folders as they are: no DOS attributes or streams in xattrs
        "  store dos attributes = no",
        "  ea support = no",
        "  map archive = no",
        "  kernel oplocks = no",
        "",
    ]
    user_rule = "  valid users = root" if options.admin else "  invalid users = root"
    for share, path in share_folders(host_root).items():
        if share in {s.upper() for s in options.missing_shares}:
            continue
        lines += [f"[{share}]", f"  path = {path}", "  read only = no",
                  user_rule, "  create mask = 0644", "  directory mask = 0755", ""]
    return "\n".join(lines)


# ---- registry ----------------------------------------------------------------------------------

def _reg_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _reg_value(value) -> str:
    """host.json registry data has no type: int -> REG_DWORD (REG_QWORD above 32 bits), str ->
    REG_SZ, list of str -> REG_MULTI_SZ (as in smslab.handlers.generic)."""
    if isinstance(value, bool) or not isinstance(value, (int, str, list)):
        raise ValueError(f"registry value {value!r}: only int, str and list of str are simulated")
    if isinstance(value, int):
        if 0 <= value <= 0xFFFFFFFF:
            return f"dword:{value:08x}"
        return "hex(b):" + ",".join(f"{b:02x}" for b in (value & (2**64 - 1)).to_bytes(8, "little"))
    if isinstance(value, list):
        data = "".join(str(item) + "\0" for item in value) + "\0"
        return "hex(7):" + ",".join(f"{b:02x}" for b in data.encode("utf-16-le"))
    return _reg_string(value)


def registry_keys(state: HostState) -> dict[str, dict]:
    """Every key the host should have: host.json ``registry``; the computer name and the system
    environment (PROCESSOR_ARCHITECTURE, TEMP) where Windows keeps them; each service's key with its
    ImagePath, Start and Type (HKLM\\SYSTEM\\CurrentControlSet\\Services\\<name>)."""
    keys = {name: dict(values) for name, values in (state.data.get("registry") or {}).items()}
    # Where a remote reader finds what the WinRM probe takes from the environment.
    environment = state.environment
    control = "HKLM\\SYSTEM\\CurrentControlSet\\Control"
    if environment.get("COMPUTERNAME"):
        for folder in ("ComputerName", "ActiveComputerName"):
            keys.setdefault(f"{control}\\ComputerName\\{folder}", {})["ComputerName"] = environment["COMPUTERNAME"]
    # [Text.Encoding]::Default's code page, which a real server always has (the scripts' twin assumes the same)
    keys.setdefault(CODE_PAGE_KEY, {}).setdefault("ACP", DEFAULT_ACP)
    system_environment = {k: v for k, v in environment.items() if k in ("PROCESSOR_ARCHITECTURE", "TEMP")}
    if system_environment:
        keys.setdefault(f"{control}\\Session Manager\\Environment", {}).update(system_environment)
    start_codes = {"boot": 0, "system": 1, "auto": 2, "manual": 3, "disabled": 4}
    for name, record in state.services.items():
        key = f"HKLM\\SYSTEM\\CurrentControlSet\\Services\\{name}"
        values = keys.setdefault(key, {})
        values.setdefault("ImagePath", record.get("path") or "")
        values.setdefault("Start", start_codes.get(record.get("start_mode", "manual"), 3))
        values.setdefault("Type", 0x10)                  # SERVICE_WIN32_OWN_PROCESS
        values.setdefault("ObjectName", record.get("username", "LocalSystem"))
    # What the scripts read from $env: lives in the registry of a real server (the msrpc probe reads it there).
    environment = state.environment
    if environment.get("PROCESSOR_ARCHITECTURE"):
        keys.setdefault("HKLM\\SYSTEM\\CurrentControlSet\\Control\\Session Manager\\Environment", {}).setdefault(
            "PROCESSOR_ARCHITECTURE", environment["PROCESSOR_ARCHITECTURE"])
    if environment.get("COMPUTERNAME"):
        keys.setdefault("HKLM\\SYSTEM\\CurrentControlSet\\Control\\ComputerName\\ComputerName", {}).setdefault(
            "ComputerName", environment["COMPUTERNAME"])
    return keys


def regedit4(keys: dict[str, dict]) -> str:
    """A REGEDIT4 file for ``net registry import``. It ends with an empty line: Samba 4.17's
    importer drops the file's last value otherwise."""
    out = ["REGEDIT4", ""]
    for key, values in keys.items():
        hive, _sep, rest = key.replace("HKLM:", "HKLM").partition("\\")
        if hive.upper() not in ("HKLM", "HKEY_LOCAL_MACHINE"):
            raise ValueError(f"registry key {key!r}: the lab serves HKLM only")
        out.append(f"[HKEY_LOCAL_MACHINE\\{rest.strip(chr(92))}]")
        out += [f"{_reg_string(name)}={_reg_value(value)}" for name, value in values.items()]
        out.append("")
    out.append("")
    return "\n".join(out)


def parse_net_enumerate(text: str) -> dict:
    """Values from ``net registry enumerate <key>`` output (REG_SZ/EXPAND_SZ, DWORD/QWORD, MULTI_SZ),
    typed as host.json keeps them; other types are skipped."""
    values: dict = {}
    name = kind = None
    for line in text.splitlines():
        label, _sep, rest = line.partition("=")
        label, rest = label.strip(), rest.strip()
        if label == "Valuename":
            name, kind = rest, None
        elif label == "Type":
            kind = rest
        elif name is not None and label == "Value" and kind in ("REG_SZ", "REG_EXPAND_SZ"):
            values[name] = rest[1:-1] if rest.startswith('"') and rest.endswith('"') else rest
        elif name is not None and label == "Value" and kind in ("REG_DWORD", "REG_QWORD"):
            values[name] = int(rest, 0)
        elif name is not None and label.startswith("Value[") and kind == "REG_MULTI_SZ":
            values.setdefault(name, []).append(rest[1:-1] if rest.startswith('"') else rest)
    return values
