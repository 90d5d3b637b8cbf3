"""Twin of Q244405.exe /s (the KB's hotfix installer, I386 only)."""

from __future__ import annotations

import ntpath

from smslab.handlers import HostContext, command
from smslab.state import dll_bytes
from smslab.handlers.sms_scripts.common import (
    fault_names,
    file_exists,
    service_record,
    service_state_of,
)


HOTFIX_VERSION = "2.00.1380.1083"
INSTALLER_SERVICES = ["SMS_SITE_COMPONENT_MANAGER", "SMS_EXECUTIVE", "SMS_SITE_BACKUP"]


@command("q244405.exe")
def q244405_installer(ctx: HostContext, argv: list[str]) -> tuple[int, str, str]:
    """``Q244405.exe /s``: I386 only, quiet mode only in the lab, refuses while the console is open."""
    state = ctx.state
    args = argv[1:] if argv and ntpath.basename(argv[0]).lower().startswith("q244405") else list(argv)
    switches = {a.lower() for a in args}
    if str(state.environment.get("PROCESSOR_ARCHITECTURE", "")).upper() == "ALPHA":
        return 1, "", "Q244405.exe: this hotfix installer runs on I386-based computers only; " \
                      "install the Alpha Distmgr.dll manually (KB Q244405, Manual Installation)\r\n"
    if not switches & {"/s", "-s"}:
        return 1, "", "Q244405.exe: interactive wizard not supported in the lab; run with /s\r\n"
    if any(str(p.get("name", "")).lower() == "mmc.exe" and "sms.msc" in str(p.get("command_line", "")).lower()
           for p in state.processes):
        return 1, "", "Q244405.exe: close the Systems Management Server Administrator console and run setup again\r\n"
    setup = state.registry_key("HKLM\\SOFTWARE\\Microsoft\\SMS\\Setup") or {}
    ident = state.registry_key("HKLM\\SOFTWARE\\Microsoft\\SMS\\Identification") or {}
    if not setup.get("Full Version"):
        return 1, "", "Q244405.exe: Systems Management Server 2.0 not found (Setup\\Full Version missing)\r\n"
    install_dir = ident.get("Installation Directory") or setup.get("Installation Directory")
    if not install_dir:
        return 1, "", "Q244405.exe: SMS installation directory not found in the registry\r\n"
    install_dir = str(install_dir).rstrip("\\")
    wont_stop = fault_names(state, "service_wont_stop")
    wont_start = fault_names(state, "service_wont_start")

    with state.lock:
        running = [n for n in INSTALLER_SERVICES if service_state_of(state, n) not in (None, "stopped")]
        stopped: list[str] = []

        def restart() -> list[str]:
            failed = []
            for name in reversed(stopped):
                if name.lower() in wont_start:
                    failed.append(name)
                else:
                    service_record(state, name)["state"] = "running"
            return failed

        for name in running:
            if name.lower() in wont_stop:
                failed = restart()
                message = f"Q244405.exe: could not stop {name}; no file was changed"
                if failed:
                    message += f"; could not restart {', '.join(failed)}"
                return 1, "", message + "\r\n"
            service_record(state, name)["state"] = "stopped"
            stopped.append(name)
        target = f"{install_dir}\\bin\\i386\\Distmgr.dll"
        state.write_bytes(target, dll_bytes(HOTFIX_VERSION, 4096))
        log_path = f"{install_dir}\\Logs\\Q244405.log"
        previous = state.read_bytes(log_path) if file_exists(state, log_path) else b""
        state.write_bytes(log_path, previous + (
            f"Q244405 hotfix installed: {target} updated to version {HOTFIX_VERSION}\r\n").encode("ascii"))
        failed = restart()
    if failed:
        return 1, "", f"Q244405.exe: Distmgr.dll updated but {', '.join(failed)} did not start\r\n"
    return 0, f"Q244405: Distmgr.dll updated to {HOTFIX_VERSION} in {install_dir}\\bin\\i386\r\n", ""
