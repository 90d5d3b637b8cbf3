"""How many lab Samba hosts (smslab.samba) this machine runs at once, and what each costs.

For each fleet size it builds a lab fleet (``generate_fleet``), starts a SambaLab on every host
(``--parallel`` at a time), then per host opens one SMB session and reads one registry value over
``\\winreg`` and one service state over ``\\svcctl`` (the first call of a pipe starts Samba's worker
for it). It prints, per fleet: start time (wall, and per host: median / max), processes, memory
(PSS: shared library pages divided among the processes that map them) and file descriptors per
host, the first session's time, and the stop time; after stop it checks that no process is left.

    .venv/bin/python benchmarks/bench_samba_lab.py [--fleets 1,10,20,40] [--parallel 4]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "lab"))

from impacket.dcerpc.v5 import rrp, scmr, transport  # noqa: E402
from impacket.smbconnection import SMBConnection  # noqa: E402

from smslab.samba import SambaLab, samba_available  # noqa: E402
from smslab.scenario import build_state_dir, generate_fleet  # noqa: E402


def pss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text(encoding="ascii").splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def fd_count(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def first_session(host) -> float:
    began = time.monotonic()
    conn = SMBConnection(host.address, host.address, sess_port=host.port, timeout=120)
    conn.login(host.user, host.password, host.domain)
    for name, uuid in ((r"\winreg", rrp.MSRPC_UUID_RRP), (r"\svcctl", scmr.MSRPC_UUID_SCMR)):
        dce = transport.SMBTransport(host.address, host.port, name, smb_connection=conn).get_dce_rpc()
        dce.connect()
        dce.bind(uuid)
        if uuid == rrp.MSRPC_UUID_RRP:
            hklm = rrp.hOpenLocalMachine(dce)["phKey"]
            key = rrp.hBaseRegOpenKey(dce, hklm, "SOFTWARE\\Microsoft\\SMS\\Identification")["phkResult"]
            rrp.hBaseRegQueryValue(dce, key, "Site Code")
        else:
            manager = scmr.hROpenSCManagerW(dce)["lpScHandle"]
            service = scmr.hROpenServiceW(dce, manager, "SMS_EXECUTIVE")["lpServiceHandle"]
            scmr.hRQueryServiceStatus(dce, service)
        dce.disconnect()
    conn.logoff()
    return time.monotonic() - began


def measure(n_hosts: int, parallel: int, work: Path) -> None:
    state_dir = work / f"fleet-{n_hosts}"
    build_state_dir(generate_fleet(n_hosts, 244405), state_dir)
    lab = SambaLab(state_dir, parallel=parallel)
    began = time.monotonic()
    lab.start()
    started = time.monotonic() - began
    try:
        hosts = list(lab.hosts.values())
        sessions = [first_session(host) for host in hosts]
        per_host = []
        for host in hosts:
            pids = host.pids()
            per_host.append((len(pids), sum(pss_kib(p) for p in pids), sum(fd_count(p) for p in pids)))
    finally:
        began = time.monotonic()
        lab.stop()
        stopped = time.monotonic() - began
    starts = [host.start_seconds for host in hosts]
    print(f"{n_hosts:>5} hosts: start {started:6.1f} s wall (per host median {statistics.median(starts):.2f} s, "
          f"max {max(starts):.2f} s); per host {statistics.mean(p[0] for p in per_host):.1f} processes, "
          f"{statistics.mean(p[1] for p in per_host) / 1024:.1f} MiB PSS, "
          f"{statistics.mean(p[2] for p in per_host):.0f} fds; "
          f"first session median {statistics.median(sessions):.2f} s, max {max(sessions):.2f} s; "
          f"stop {stopped:.1f} s; left after stop: {len(lab.pids())}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fleets", default="1,10,20,40")
    parser.add_argument("--parallel", type=int, default=4)
    args = parser.parse_args()
    reason = samba_available()
    if reason:
        print(reason, file=sys.stderr)
        return 2
    print(f"{os.cpu_count()} CPUs; fd limit {os.sysconf('SC_OPEN_MAX')}; "
          f"memory {os.sysconf('SC_PHYS_PAGES') * os.sysconf('SC_PAGE_SIZE') // 2**20} MiB", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-samba-") as work:
        for size in (int(n) for n in args.fleets.split(",")):
            measure(size, args.parallel, Path(work))
    return 0


if __name__ == "__main__":
    sys.exit(main())
