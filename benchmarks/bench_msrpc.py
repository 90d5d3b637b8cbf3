"""Benchmark the msrpc transport (issue 13) against real Samba servers (a script, not a test).

1. Logs: two lab sites with logging on and Distmgr.log padded to 1 MB and 20 MB (``--log-mb``), each served
   by its own smbd (``smslab.samba``). For each host: the facts probe with an empty controller cache (first
   run), again on the unchanged log (rerun), and again after 8 KiB more were appended over SMB (append).
   Per run it prints the SMB messages the session sent (``requests``; a DCE/RPC call over a pipe is one SMB
   transact, ``pipe_transport``; the registry and service calls are in it), the bytes
   each way on the wire, and how many bytes of the logs were read. Targets: a rerun on an unchanged log reads
   at most 64 KiB of it; a rerun's probe sends at most 74 SMB messages (half of the first version's 148).
2. Fleet (``--fleet 20``): the same generated fleet (``smslab.scenario.generate_fleet``) served once over
   msrpc (one smbd per host, and the lab's WMI responder when this runs as root) and once over WinRM
   (``bench_fleet.Fleet``), and ``playbooks/remediate.yml --check -e q244405_policy=report`` (the facts row
   of bench_fleet.py) run against each, side by side: wall time, controller CPU, and per host the requests
   and bytes (msrpc: one direct probe per host with the same code the action runs, as the SMB servers do not
   count; winrm: the lab's HTTP counters). WMI/DCOM traffic is not in the SMB figures.

What is real here: the controller side (impacket, the transport, ansible-playbook) and the SMB/RPC servers
(Samba 4.17: smbd, samba-dcerpcd for winreg and srvsvc; the lab answers svcctl itself, see smslab.samba).
Not measured: an NT 4.0 server's own costs, WAN latency (everything is on 127.0.0.1).

    source scripts/ansible-env.sh
    .venv/bin/python benchmarks/bench_msrpc.py [--log-mb 1,20] [--fleet 20] [--forks 10]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "lab"))
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO / "tests" / "output" / ".collection_root"))

from smslab.samba import SambaLab, samba_available  # noqa: E402
from smslab.scenario import build_state_dir, generate_fleet  # noqa: E402

MB = 1024 * 1024
TARGET_RERUN_LOG_BYTES = 64 * 1024
TARGET_PROBE_MESSAGES = 74       # half the 148 SMB messages of a rerun's probe when the transport landed (18e2a91)
APPEND = ("Start adding package 61000077...  $$<SMS_DISTRIBUTION_MANAGER><Mon Nov 30 10:00:00.000 2026 "
          "Pacific Standard Time><thread=297 (0x129)>\r\n") * 64      # about 8 KiB of new log lines


def transport(lab, name: str, cache_dir: Path, wmi_address: str | None = None):
    from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.settings import settings_from_vars
    from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.transport import MsrpcTransport
    variables = dict(lab.inventory_vars(name), q244405_msrpc_cache_dir=str(cache_dir))
    if wmi_address:
        variables["q244405_msrpc_wmi_address"] = wmi_address
    return MsrpcTransport(settings_from_vars(name, variables))


def probe_parameters() -> dict:
    from ansible_collections.sms.remediation.plugins.module_utils import sms20
    return sms20.probe_parameters(sms20.merge_overrides(None))


def probe_once(lab, name: str, cache_dir: Path, wmi_address: str | None = None) -> dict:
    host = transport(lab, name, cache_dir, wmi_address)
    started = time.perf_counter()
    try:
        answer = host.probe(probe_parameters())
    finally:
        host.close()
    wire = answer["msrpc"]["wire"]
    logs = answer["msrpc"]["log_reads"]
    return {"requests": wire["requests"], "bytes_out": wire["bytes_out"], "bytes_in": wire["bytes_in"],
            "log_bytes_read": sum(r["bytes_read"] for r in logs), "wall_s": time.perf_counter() - started,
            "cache": "; ".join(f"{r['path'].rsplit(chr(92), 1)[-1]}: {r['cache']}" for r in logs if r["cache"] != "none"),
            "log_size": sum(f["size"] or 0 for f in answer["distmgr_log"]["files"]),
            "errors": [e for e in answer["errors"] if e["source"] != "wmi"]}


def bench_logs(tmp: Path, sizes_mb: list[int]) -> list[dict]:
    sites = [{"name": f"log{mb}mb", "site_code": f"L{mb:02d}"[-3:], "logging": "on", "log_bytes": mb * MB,
              "parent": None if i == 0 else f"L{sizes_mb[0]:02d}"[-3:],
              "packages": {"leftovers": [{"id": int(f"{600000 + 12 + i}"), "log_claim": True}]}}
             for i, mb in enumerate(sizes_mb)]
    for site in sites:
        site["packages"]["leftovers"][0]["id"] = f"60{site['site_code'][1:]}0012"[:8]
    state_dir = tmp / "logs-state"
    build_state_dir({"seed": 13, "sites": sites}, state_dir)
    lab = SambaLab(state_dir)
    rows = []
    lab.start()
    try:
        for site in sites:
            name = site["name"]
            cache = tmp / f"cache-{name}"
            for run in ("first", "rerun", "append"):
                if run == "append":
                    host = transport(lab, name, cache)
                    host.ops.files.append_bytes("C:\\SMS\\Logs\\Distmgr.log", APPEND.encode("ascii"), "bench")
                    host.close()
                row = dict(probe_once(lab, name, cache), host=name, run=run)
                rows.append(row)
                print(f"| {name:>8} | {row['log_size'] / MB:7.2f} MB | {run:6} | {row['requests']:5} | "
                      f"{row['bytes_out']:9,} | {row['bytes_in']:11,} | {row['log_bytes_read']:11,} | "
                      f"{row['wall_s']:6.2f} | {row['cache']}", flush=True)
    finally:
        lab.stop()
    return rows


def bench_fleet_side_by_side(tmp: Path, n_hosts: int, forks: int) -> dict:
    import bench_fleet

    env = bench_fleet.ansible_env(tmp, forks)
    result = {}
    # msrpc: one smbd per host (and the WMI responder when root), the playbook on an msrpc inventory
    state_dir = tmp / "fleet-msrpc"
    names = build_state_dir(generate_fleet(n_hosts, bench_fleet.SEED), state_dir)
    lab = SambaLab(state_dir, parallel=4)
    responder, addresses = None, {}
    started = time.perf_counter()
    lab.start()
    result["msrpc_start_s"] = time.perf_counter() - started
    try:
        if os.geteuid() == 0:
            from smslab.dcom import WmiResponder, free_loopback_addresses
            addresses = free_loopback_addresses(names)
            responder = WmiResponder(state_dir, names, addresses.__getitem__).start()
        hosts = {}
        for name in names:
            variables = dict(lab.inventory_vars(name), q244405_msrpc_cache_dir=str(tmp / "fleet-cache"))
            if addresses:
                variables["q244405_msrpc_wmi_address"] = addresses[name]
            hosts[name] = variables
        inventory = tmp / "msrpc-inventory.json"
        inventory.write_text(json.dumps({"all": {"children": {"sms_site_servers": {"hosts": hosts}}}}), encoding="utf-8")
        result["msrpc"] = run_facts(env, inventory, tmp / "msrpc-reports", state_dir)
        per_host = [probe_once(lab, name, tmp / "direct-cache", addresses.get(name)) for name in names]
        result["msrpc"]["per_host"] = {key: (sum(r[key] for r in per_host) / len(per_host), max(r[key] for r in per_host))
                                       for key in ("requests", "bytes_out", "bytes_in")}
    finally:
        if responder is not None:
            responder.stop()
        lab.stop()
    # winrm: the same fleet served by the lab's WinRM server, the same playbook run
    fleet = bench_fleet.Fleet(tmp / "fleet-winrm", n_hosts, 0).start()
    try:
        row = bench_fleet.run_playbook(fleet, env, bench_fleet.PLAYBOOK, ["--check", "-e", "q244405_policy=report"],
                                       "facts")
        result["winrm"] = {"wall_s": row["wall_s"], "controller_cpu_s": row["controller_cpu_s"], "rc": row["rc"],
                           "failed_hosts": row["failed_hosts"],
                           "per_host": {"requests": (row["requests"]["mean"], row["requests"]["max"]),
                                        "bytes": (row["bytes"]["mean"], row["bytes"]["max"])}}
    finally:
        fleet.stop()
    return result


def run_facts(env: dict, inventory: Path, report_dir: Path, state_dir: Path) -> dict:
    variables = {"q244405_report_dir": str(report_dir),
                 "q244405_hotfix_files": {p: str(state_dir / "hotfix" / p / "Distmgr.dll") for p in ("i386", "alpha")}}
    out = report_dir.parent / "msrpc-facts.out"
    rss = report_dir.parent / "msrpc-facts.maxrss"
    import bench_fleet
    cmd = [sys.executable, "-c", bench_fleet.WRAPPER, str(rss), str(out), str(bench_fleet.VENV_BIN / "ansible-playbook"),
           "-i", str(inventory), str(bench_fleet.PLAYBOOK), "-e", json.dumps(variables), "--check",
           "-e", "q244405_policy=report"]
    started = time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=REPO, check=False)
    wall = time.perf_counter() - started
    maxrss, cpu = rss.read_text(encoding="ascii").split()
    text = out.read_text(encoding="utf-8", errors="replace")
    failed = sorted(m.group("host") for m in map(bench_fleet.RECAP.match, text.splitlines())
                    if m and (int(m.group("failed")) or int(m.group("unr"))))
    if done.returncode or failed:
        print(text[-3000:], file=sys.stderr)
    return {"wall_s": wall, "controller_cpu_s": float(cpu), "maxrss_mib": int(maxrss) / 1024, "rc": done.returncode,
            "failed_hosts": failed}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--log-mb", default="1,20", help="Distmgr.log sizes in MB, comma separated")
    parser.add_argument("--fleet", type=int, default=20, help="hosts of the side-by-side facts run (0: skip)")
    parser.add_argument("--forks", type=int, default=10)
    parser.add_argument("--json", help="also write the results as JSON here")
    args = parser.parse_args()
    reason = samba_available()
    if reason:
        print(f"bench_msrpc: {reason}", file=sys.stderr)
        return 2
    subprocess.run(["bash", str(REPO / "scripts" / "collection-root.sh")], check=True, capture_output=True)
    tmp = Path(tempfile.mkdtemp(prefix="bench-msrpc-"))
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"load {os.getloadavg()[0]:.1f}")
    print("| host     | log size   | run    | SMB msgs | bytes out | bytes in    | log bytes read | wall s | cache")
    print("|---|---|---|---|---|---|---|---|---|")
    try:
        rows = bench_logs(tmp, [int(v) for v in args.log_mb.split(",")])
        fleet = bench_fleet_side_by_side(tmp, args.fleet, args.forks) if args.fleet else None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print()
    for row in rows:
        if row["run"] == "rerun":
            ok = row["log_bytes_read"] <= TARGET_RERUN_LOG_BYTES
            print(f"{'PASS' if ok else 'FAIL'} {row['host']}: a rerun on the unchanged log read {row['log_bytes_read']:,} "
                  f"bytes of it (target <= {TARGET_RERUN_LOG_BYTES:,})")
            ok = row["requests"] <= TARGET_PROBE_MESSAGES
            print(f"{'PASS' if ok else 'FAIL'} {row['host']}: the rerun's probe sent {row['requests']} SMB messages "
                  f"(target <= {TARGET_PROBE_MESSAGES}: half of the first version's 148)")
    if fleet:
        m, w = fleet["msrpc"], fleet["winrm"]
        print(f"\n{args.fleet}-host facts run (remediate.yml --check -e q244405_policy=report, {args.forks} forks):")
        print("| transport | wall s | controller CPU s | per host: requests mean/max | bytes mean/max | failed hosts |")
        print("|---|---|---|---|---|---|")
        req, out_b, in_b = m["per_host"]["requests"], m["per_host"]["bytes_out"], m["per_host"]["bytes_in"]
        print(f"| msrpc | {m['wall_s']:.1f} | {m['controller_cpu_s']:.1f} | {req[0]:.0f} / {req[1]} SMB msgs | "
              f"{out_b[0] + in_b[0]:,.0f} / {out_b[1] + in_b[1]:,} | {m['failed_hosts'] or 'none'} |")
        print(f"| winrm | {w['wall_s']:.1f} | {w['controller_cpu_s']:.1f} | {w['per_host']['requests'][0]:.0f} / "
              f"{w['per_host']['requests'][1]} HTTP requests | {w['per_host']['bytes'][0]:,.0f} / "
              f"{w['per_host']['bytes'][1]:,} | {w['failed_hosts'] or 'none'} |")
        print(f"(msrpc: {args.fleet} smbd instances started in {fleet['msrpc_start_s']:.1f} s, not in the wall time)")
    if args.json:
        Path(args.json).write_text(json.dumps({"logs": rows, "fleet": fleet}, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
