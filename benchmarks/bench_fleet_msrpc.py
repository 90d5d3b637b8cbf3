"""``--check`` over msrpc next to winrm and the naive playbook, on the same lab fleet, in one run (not a test).

It builds ONE fleet (``generate_fleet``, as bench_fleet.py; 1 MB logs by default), serves its state folder both
ways at once, and runs each of these as its own ansible-playbook:

  check-winrm   playbooks/remediate.yml --check        every host over WinRM (the lab's server in this process)
  naive-winrm   benchmarks/naive-remediate.yml --check  generic ansible.windows modules over WinRM
  check-msrpc   playbooks/remediate.yml --check        every host over msrpc: one Samba smbd per host (SMB, \\winreg,
                                                       the lab's \\svcctl) and the lab's DCOM/WMI responder; the
                                                       controller's log cache is empty, so every log is read whole
  rerun-msrpc   the same again, the log cache warm (a log's 4 KiB head and what was appended, bench_msrpc.py)

--check changes nothing, so the four runs see the same hosts. The naive playbook has no msrpc form: no generic
module speaks SMB or MS-RPC to an NT 4.0 host.

What each figure exercised:
  controller  production code in every row: ansible-playbook, remediate.yml, the action plugins; over winrm the
              script text sent, over msrpc the transport itself (impacket SMB/RRP/SCMR/DCOM-WMI clients, the log
              filter, PE version reading) running in the controller's forks. "ctl CPU" is all of it.
  winrm hosts the lab's Python copies of the scripts (lab/smslab/handlers/sms_scripts/), not Windows PowerShell.
  msrpc hosts Samba 4.17 is a real SMB server ("smbd CPU": smbd, samba-dcerpcd and its rpcd_* workers, read from
              /proc); \\svcctl and WMI are the lab's Python answers in this process (in "lab CPU"), and WMI is a
              simulation of the few calls the collection makes, not Windows' WMI.

What limits the fleet size of the msrpc lab here (printed with the start figures): DCOM has no port option, so each
host's WMI needs port 135 of an address of its own, and the lab takes them from 127.0.0.2-254 (253 at most, fewer
when other labs hold some); each smbd costs start time (samba-dcerpcd starts each rpcd_* helper once), 8-11 MiB
and 110-130 descriptors (here and in smslab.samba's docstring); each msrpc host costs the controller an SMB session,
pipe binds and a DCOM activation per task, in Python (impacket).

    .venv/bin/python benchmarks/bench_fleet_msrpc.py [--hosts 200] [--forks 10] [--log-mb 1] [--json out.json]
It first runs bench_msrpc_probe.py (--per-probe-hosts, default 6): per probe round trips, controller CPU with the lab
in another process, bytes, wall at 0 and 50 ms of added round-trip time, and each host's lab profile.
Needs root (port 135) and Samba (apt-get install samba).
"""
from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import re
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_fleet import (MB, NAIVE, PLAYBOOK, REPO, Fleet, ansible_env, machine, playbook_vars, settle,  # noqa: E402
                         timed_playbook)
from bench_samba_lab import fd_count, pss_kib  # noqa: E402
from smslab.msrpc_lab import MsrpcLab  # noqa: E402
from smslab.samba import samba_available  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
COLLECTION_ROOT = REPO / "tests" / "output" / ".collection_root"      # written by ansible_env()
HEADER = ("| run | hosts | forks | wall s | ctl CPU s | lab CPU s | smbd CPU s | load | ctl MiB | failed |\n"
          "|---|---|---|---|---|---|---|---|---|---|")


def process_cpu_s(pids) -> float:
    """utime + stime of ``pids`` and of their reaped children (/proc/<pid>/stat fields 14-17)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(value) for value in fields[11:15])
    return total / CLOCK_TICKS


def start_msrpc(fleet: Fleet, timeout: int) -> tuple[MsrpcLab, dict]:
    """The msrpc lab on the fleet's state folder, with what its start cost."""
    started = time.perf_counter()
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    lab = MsrpcLab(fleet.state_dir, extra_vars={"q244405_msrpc_cache_dir": str(fleet.root / "msrpc-cache"),
                                                "q244405_msrpc_timeout": timeout}).start()
    wall = time.perf_counter() - started
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    pids = lab.samba.pids()
    pss = sum(pss_kib(pid) for pid in pids) / 1024
    fds = sum(fd_count(pid) for pid in pids)
    lab.write_inventory(fleet.root / "inventory-msrpc.yml")
    return lab, {"start_wall_s": wall, "processes": len(pids), "pss_mib": pss, "fds": fds,
                 "lab_start_cpu_s": cpu_after.ru_utime + cpu_after.ru_stime - cpu_before.ru_utime - cpu_before.ru_stime,
                 "addresses": sorted(lab.addresses.values(), key=lambda a: int(a.rsplit(".", 1)[1]))}


def probe_cost(lab: MsrpcLab, names: list[str], cache_dir: Path) -> dict:
    """One msrpc probe per host in ``names``, in this process (cold log cache): this thread's CPU (the WMI
    responder and \\svcctl answer in other threads of it), the share of it spent in impacket, and the SMB
    messages and DCE/RPC requests sent (ncalls of impacket's NetBIOSTCPSession.send_packet / DCERPC_v5.request)."""
    sys.path.insert(0, str(COLLECTION_ROOT))
    from ansible_collections.sms.remediation.plugins.module_utils import sms20
    from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.settings import settings_from_vars
    from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.transport import MsrpcTransport

    parameters = sms20.probe_parameters(sms20.merge_overrides(None))

    def probe_all(cache: Path) -> tuple[float, float]:
        wall = cpu = 0.0
        for name in names:
            variables = dict(lab.inventory_vars(name), q244405_msrpc_cache_dir=str(cache))
            started, cpu_started = time.perf_counter(), time.thread_time()
            host = MsrpcTransport(settings_from_vars(name, variables), True, lambda _message: None)
            try:
                host.probe(parameters)
            finally:
                host.close()
            wall += time.perf_counter() - started
            cpu += time.thread_time() - cpu_started
        return wall, cpu

    wall, cpu = probe_all(cache_dir / "timed")
    profile = cProfile.Profile()
    profile.runcall(probe_all, cache_dir / "profiled")
    stats = pstats.Stats(profile).stats

    def share(test) -> float:       # tottime of the functions whose file passes test, under the profiler
        return sum(entry[2] for (path, _line, _func), entry in stats.items() if test(path.replace(os.sep, "/")))

    def calls(module: str, function: str) -> int:
        return sum(entry[1] for (path, _line, func), entry in stats.items()
                   if func == function and path.replace(os.sep, "/").endswith(module))

    count = len(names)
    # every SMB message on the wire goes through the NetBIOS session (the transport's raw SMB1 paths skip sendSMB)
    smb_messages = calls("impacket/nmb.py", "send_packet")
    messages = smb_messages + calls("impacket/dcerpc/v5/rpcrt.py", "request")
    python_code = share(lambda path: path != "~")          # "~": built-ins, among them the socket waits
    return {"hosts": count, "wall_s": wall / count, "cpu_s": cpu / count,
            "impacket_share": share(lambda path: "/impacket/" in path) / python_code if python_code else 0.0,
            "smb_messages": smb_messages / count,
            "rpc_requests": calls("impacket/dcerpc/v5/rpcrt.py", "request") / count,
            "cpu_per_message_ms": 1000 * cpu / max(messages, 1)}


def run_msrpc(fleet: Fleet, lab: MsrpcLab, env: dict, label: str) -> dict:
    pids = lab.samba.pids()
    smbd_before = process_cpu_s(pids)
    result = timed_playbook(fleet.root, fleet.root / "inventory-msrpc.yml", env, PLAYBOOK, ["--check"], label,
                            playbook_vars(fleet))
    result["smbd_cpu_s"] = process_cpu_s(lab.samba.pids()) - smbd_before
    return result


def run_winrm(fleet: Fleet, env: dict, playbook: Path, label: str) -> dict:
    fleet.server.reset_stats()
    result = timed_playbook(fleet.root, fleet.inventory, env, playbook, ["--check"], label, playbook_vars(fleet))
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    settle(fleet)                     # a reply the client gave up on is still the lab's work
    after = resource.getrusage(resource.RUSAGE_SELF)
    result["lab_cpu_s"] += (after.ru_utime + after.ru_stime) - (cpu.ru_utime + cpu.ru_stime)
    result["smbd_cpu_s"] = None
    return result


def code_version() -> str:
    """The commit measured, and whether the working tree differed from it there (others commit meanwhile)."""
    def git(*argv):
        return subprocess.run(["git", *argv], cwd=REPO, capture_output=True, text=True, check=False).stdout.strip()
    dirty = git("status", "--porcelain", "--", "plugins", "playbooks", "roles")
    return f"{git('rev-parse', '--short', 'HEAD')}" + (f" with uncommitted changes in {len(dirty.splitlines())} "
                                                       "collection file(s)" if dirty else " (collection files clean)")


def failure_reasons(root: Path, label: str) -> dict:
    """{reason: hosts} of the run's failed tasks (the generated fleet opens the SMS console on a few sites, so
    their hotfix is refused by design over every transport)."""
    reasons: dict[str, set] = {}
    text = (root / f"{label}.out").read_text(encoding="utf-8", errors="replace")
    for host, message in re.findall(r'^fatal: \[([^\]]+)\]: FAILED! => \{.*?"msg": "(.*?)(?<!\\)"', text, re.M):
        reason = message.removeprefix(f"{host}: ")
        reason = re.sub(r"127\.0\.0\.\d+:\d+", "<address>", reason)[:160]
        reasons.setdefault(reason, set()).add(host)
    return {reason: sorted(hosts) for reason, hosts in reasons.items()}


def fmt_row(result: dict, hosts: int, forks: int) -> str:
    smbd = "-" if result["smbd_cpu_s"] is None else f"{result['smbd_cpu_s']:.1f}"
    failed = len(result["failed_hosts"]) if not result["rc"] else f"{len(result['failed_hosts'])} (rc {result['rc']})"
    return (f"| {result['label']} | {hosts} | {forks} | {result['wall_s']:.1f} | {result['controller_cpu_s']:.1f} | "
            f"{result['lab_cpu_s']:.1f} | {smbd} | {result['load_avg']:.1f} | {result['maxrss_mib']:.0f} | {failed} |")


def start_msrpc_and_probe(fleet: Fleet, args) -> tuple[MsrpcLab, dict]:
    lab, start = start_msrpc(fleet, args.msrpc_timeout)
    print(f"  msrpc lab: started in {start['start_wall_s']:.1f} s ({start['start_wall_s'] / args.hosts:.2f} s/host; "
          f"lab CPU {start['lab_start_cpu_s']:.1f} s), {start['processes']} Samba processes, "
          f"PSS {start['pss_mib']:.0f} MiB ({start['pss_mib'] / args.hosts:.1f} MiB/host), "
          f"{start['fds']} descriptors ({start['fds'] / args.hosts:.0f}/host); WMI on port 135 of "
          f"{len(start['addresses'])} addresses {start['addresses'][0]}-{start['addresses'][-1]}", flush=True)
    cost = probe_cost(lab, fleet.names[:args.probe_sample], fleet.root / "probe-cache")
    print(f"  one msrpc probe in this process, {cost['hosts']} hosts: {cost['wall_s']:.2f} s wall, "
          f"{cost['cpu_s']:.2f} s controller CPU per host ({cost['impacket_share']:.0%} of the Python time in "
          f"impacket, under cProfile); {cost['smb_messages']:.0f} SMB messages + {cost['rpc_requests']:.0f} "
          f"DCE/RPC requests per host ({cost['cpu_per_message_ms']:.1f} ms controller CPU per message)", flush=True)
    start["probe"] = cost
    return lab, start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hosts", type=int, default=200, help="fleet size (the msrpc lab serves at most 253)")
    parser.add_argument("--log-mb", type=int, default=1, help="Distmgr.log size of the logging sites, in MB")
    parser.add_argument("--forks", type=int, default=10)
    parser.add_argument("--msrpc-timeout", type=int, default=120, help="q244405_msrpc_timeout (a busy machine)")
    parser.add_argument("--probe-sample", type=int, default=10, help="hosts probed in-process for the per-call cost")
    parser.add_argument("--runs", default="check-winrm,naive-winrm,check-msrpc,rerun-msrpc")
    parser.add_argument("--per-probe-hosts", type=int, default=6,
                        help="hosts of bench_msrpc_probe.py run first: round trips, CPU, wall at 0 and 50 ms (0: skip)")
    parser.add_argument("--json", help="also write the results as JSON here")
    args = parser.parse_args()
    reason = samba_available()
    if reason or os.geteuid() != 0:
        sys.exit(f"bench_fleet_msrpc: {reason or 'needs root: the WMI responder listens on port 135 of 127.0.0.x'}")
    if args.per_probe_hosts:            # its own lab in its own process, stopped before the fleet starts
        print(f"per probe (bench_msrpc_probe.py --hosts {args.per_probe_hosts} --delay-ms 50):", flush=True)
        subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench_msrpc_probe.py"), "--hosts",
                        str(args.per_probe_hosts), "--delay-ms", "50"], check=False)
    tmp = Path(tempfile.mkdtemp(prefix="bench-msrpc-"))
    env = ansible_env(tmp, args.forks)
    print(f"machine: {machine()}", flush=True)
    print(f"code: {code_version()}", flush=True)
    fleet = Fleet(tmp / f"{args.hosts}", args.hosts, args.log_mb * MB).start()
    lab, start, results = None, {}, []
    try:
        print(f"fleet: {args.hosts} hosts ({fleet.logging_hosts} with a {args.log_mb} MB Distmgr.log), built in "
              f"{fleet.build_seconds:.1f} s", flush=True)
        print(HEADER, flush=True)
        for label in args.runs.split(","):
            if label.endswith("-msrpc"):
                if lab is None:           # started only now: it holds 127.0.0.x:135 that other labs may want
                    lab, start = start_msrpc_and_probe(fleet, args)
                result = run_msrpc(fleet, lab, env, label)
            else:
                result = run_winrm(fleet, env, NAIVE if label.startswith("naive") else PLAYBOOK, label)
            result["failures"] = failure_reasons(fleet.root, label)
            results.append(result)
            print(fmt_row(result, args.hosts, args.forks), flush=True)
            if result["output_tail"]:
                print(result["output_tail"], file=sys.stderr)
        for result in results:
            for reason, hosts in result["failures"].items():
                print(f"  {result['label']}: {len(hosts)} host(s) failed: {reason} ({', '.join(hosts[:6])})",
                      flush=True)
        by_label = {r["label"]: r for r in results}
        if {"check-winrm", "check-msrpc"} <= set(by_label):
            winrm, msrpc = by_label["check-winrm"], by_label["check-msrpc"]
            print(f"\nper host over msrpc: {msrpc['controller_cpu_s'] / args.hosts:.2f} s controller CPU "
                  f"(winrm {winrm['controller_cpu_s'] / args.hosts:.2f} s); msrpc --check wall / winrm --check wall = "
                  f"{msrpc['wall_s'] / winrm['wall_s']:.2f}", flush=True)
        if "naive-winrm" in by_label and "check-msrpc" in by_label:
            print(f"naive --check wall / msrpc --check wall = "
                  f"{by_label['naive-winrm']['wall_s'] / by_label['check-msrpc']['wall_s']:.2f}", flush=True)
    finally:
        stopped = time.perf_counter()
        if lab is not None:
            lab.stop()
            left = lab.samba.pids()
            print(f"msrpc lab stopped in {time.perf_counter() - stopped:.1f} s; processes left: {left or 'none'}")
        fleet.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        summary = {"machine": machine(), "code": code_version(), "hosts": args.hosts, "start": start,
                   "results": results}
        Path(args.json).write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return 0        # failed hosts are figures too: each run's reasons are printed above


if __name__ == "__main__":
    sys.exit(main())
