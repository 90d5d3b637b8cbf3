"""``python -m smslab serve|serve-msrpc|stop``: run the lab in the foreground (over WinRM, or each host
over SMB/MS-RPC by its own Samba server), or stop a running one."""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import time
from pathlib import Path

from smslab.server import DEFAULT_PASSWORD, DEFAULT_USER, LabServer, load_handler_modules


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return args.func(args)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m smslab", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve every host of a state folder over WinRM")
    serve.add_argument("--state-dir", required=True, type=Path)
    serve.add_argument("--scenario", type=Path, help="build the state folder from this scenario if it has no hosts/")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=0, help="0 picks a free port")
    serve.add_argument("--user", default=DEFAULT_USER)
    serve.add_argument("--password", default=DEFAULT_PASSWORD)
    serve.set_defaults(func=serve_command)

    msrpc = commands.add_parser("serve-msrpc", help="serve hosts of a state folder over SMB/MS-RPC, one Samba each")
    msrpc.add_argument("--state-dir", required=True, type=Path)
    msrpc.add_argument("--scenario", type=Path, help="build the state folder from this scenario if it has no hosts/")
    msrpc.add_argument("--hosts", help="comma-separated host names (default: all)")
    msrpc.add_argument("--ntlmv1", default="", help="comma-separated hosts that also accept NTLMv1")
    msrpc.add_argument("--no-smb1", default="", help="comma-separated hosts that refuse SMB1")
    msrpc.set_defaults(func=serve_msrpc_command)

    stop = commands.add_parser("stop", help="stop the lab serving a state folder")
    stop.add_argument("--state-dir", required=True, type=Path)
    stop.add_argument("--timeout", type=float, default=10.0)
    stop.add_argument("--msrpc", action="store_true", help="stop the Samba hosts of serve-msrpc")
    stop.set_defaults(func=stop_command)
    return parser


def serve_command(args: argparse.Namespace) -> int:
    state_dir: Path = args.state_dir
    if args.scenario and not (state_dir / "hosts").is_dir():
        _build_from_scenario(args.scenario, state_dir)
    load_handler_modules()
    lab = LabServer(state_dir, host=args.host, port=args.port, user=args.user, password=args.password)
    lab.write_inventory(state_dir / "inventory.yml")
    pid_file, port_file = state_dir / "lab.pid", state_dir / "lab.port"
    port_file.write_text(f"{lab.port}\n", encoding="utf-8")
    pid_file.write_text(f"{os.getpid()}\n", encoding="utf-8")
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: lab.shutdown_from_signal())
    print(f"lab listening on {args.host}:{lab.port} ({len(lab.hosts)} hosts)", flush=True)
    try:
        lab.serve_forever()
    finally:
        pid_file.unlink(missing_ok=True)
    return 0


def serve_msrpc_command(args: argparse.Namespace) -> int:
    import threading
    from smslab.inventory import inventory_of, write_inventory
    from smslab.samba import HostOptions, SambaError, SambaLab, samba_available

    reason = samba_available()
    if reason:
        sys.exit(reason)
    state_dir: Path = args.state_dir
    if args.scenario and not (state_dir / "hosts").is_dir():
        _build_from_scenario(args.scenario, state_dir)
    names = [n for n in (args.hosts or "").split(",") if n] or None
    options = {}
    for name in filter(None, args.ntlmv1.split(",")):
        options.setdefault(name, HostOptions()).ntlmv1 = True
    for name in filter(None, args.no_smb1.split(",")):
        options.setdefault(name, HostOptions()).smb1 = False
        options[name].profile = "modern"      # a host that refuses SMB1 is no NT 4.0 / Windows 2000 (smslab.profiles)
    lab = SambaLab(state_dir, names, options=options)
    done = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: done.set())
    try:
        hosts = lab.start()
    except SambaError as exc:
        sys.exit(str(exc))
    pid_file = state_dir / "samba.pid"
    wmi, wmi_addresses = None, {}
    try:
        if os.geteuid() == 0:      # WMI over DCOM: port 135 of a 127.0.0.x per host (smslab.dcom)
            from smslab.dcom import WmiResponder, free_loopback_addresses
            wmi_addresses = free_loopback_addresses(list(hosts))
            wmi = WmiResponder(state_dir, list(hosts), wmi_addresses.__getitem__).start()
        else:
            print("WMI not served (DCOM needs port 135, i.e. root): every host's active packages stay unknown",
                  flush=True)
        inventory = inventory_of({
            n: {**lab.inventory_vars(n), **({"q244405_msrpc_wmi_address": wmi_addresses[n]} if wmi else {})}
            for n in hosts})
        write_inventory(state_dir / "inventory-msrpc.yml", inventory, "smslab serve-msrpc")
        pid_file.write_text(f"{os.getpid()}\n", encoding="utf-8")
        for name, host in hosts.items():
            wmi_at = f", WMI {wmi_addresses[name]}:135" if wmi else ""
            print(f"{name}: smb://{host.address}:{host.port}{wmi_at} (user {host.domain}\\{host.user})", flush=True)
        print(f"inventory: {state_dir / 'inventory-msrpc.yml'}", flush=True)
        done.wait()
    finally:
        if wmi is not None:
            wmi.stop()
        lab.stop()
        pid_file.unlink(missing_ok=True)
    return 0


def _build_from_scenario(scenario: Path, state_dir: Path) -> None:
    try:
        scenario_module = importlib.import_module("smslab.scenario")
    except ModuleNotFoundError as exc:
        if exc.name != "smslab.scenario":
            raise
        sys.exit("smslab: --scenario needs smslab/scenario/ (build_state_dir), which is not there yet")
    scenario_module.build_state_dir(scenario, state_dir)


def stop_command(args: argparse.Namespace) -> int:
    pid_file = args.state_dir / ("samba.pid" if args.msrpc else "lab.pid")
    if not pid_file.is_file():
        print(f"smslab: no lab running for {args.state_dir} (no {pid_file.name})", file=sys.stderr)
        return 1
    pid = int(pid_file.read_text().strip())
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pid_file.unlink(missing_ok=True)
        print(f"smslab: lab pid {pid} was not running; removed stale {pid_file.name}", file=sys.stderr)
        return 0
    deadline = time.monotonic() + args.timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _alive(pid):
        print(f"smslab: lab pid {pid} did not stop within {args.timeout}s", file=sys.stderr)
        return 1
    return 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


if __name__ == "__main__":
    sys.exit(main())
