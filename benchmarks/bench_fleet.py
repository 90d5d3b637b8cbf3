"""Benchmark the collection against a naive playbook on lab fleets (a script, not a test).

For each log size (default 1 MB and 200 MB) and fleet size (default 1, 20 and 200 hosts) it builds a
lab fleet (``smslab.scenario.generate_fleet``: one central site, regions, children; about a third
of the sites log, and their Distmgr.log is padded to the log size with a part shared by all hosts),
serves it in this process over WinRM on 127.0.0.1, and runs, each as its own ansible-playbook:

  facts       playbooks/remediate.yml --check -e q244405_policy=report  (the probe only)
  check       playbooks/remediate.yml --check                       (probe, would-remove, hotfix check, verify probe)
  naive       benchmarks/naive-remediate.yml --check                (generic ansible.windows modules)
  workaround  playbooks/remediate.yml -e q244405_policy=workaround -e q244405_verify=false  (probe + removal, for real)

Round trip: one module execution on the host is one WinRM *command* (Create shell, Command, Send
stdin, Receive output, Signal, Delete shell: ~6 HTTP requests for a small module). The lab counts
both per host (server.stats(host)): ``commands`` and ``requests``; ``bytes`` is HTTP bodies in+out.
Controller memory is the ru_maxrss of the largest process of the ansible-playbook run (main process
or a fork), measured by a small wrapper around each run (getrusage(RUSAGE_CHILDREN)); the lab runs
inside this script and is not counted.

The naive playbook slurps whole logs (base64 through WinRM and the controller): at 200 MB it runs
only on the 1- and 20-host fleets (200 hosts x 200 MB would push ~40 GB through base64 here).

What the figures exercise: the controller side is production code (ansible-playbook, remediate.yml, the action
plugins, the script text sent over WinRM). The host side is the lab: each collection script is answered by its
Python copy (lab/smslab/handlers/sms_scripts/), so "lab CPU s" is the Python copy's cost, not Windows
PowerShell's. With 200 MB logs the lab scans the shared part of the log once (per pattern, cached for every
host and run), so no row includes a per-host scan of 200 MB; the probe's own per-line scan cost on a host
(Search-LogFile in sms_probe.ps1) is unmeasured. The log filter target times the msrpc transport's controller
filter (bench_log_parser.py), the code that scans logs on the controller in production.

    source scripts/ansible-env.sh
    .venv/bin/python benchmarks/bench_fleet.py [--fleets 1,20,200] [--log-mb 1,200] [--forks 10]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "lab"))

from smslab.scenario import build_state_dir, generate_fleet  # noqa: E402
from smslab.server import ServedLab  # noqa: E402

VENV_BIN = REPO / ".venv" / "bin"
PLAYBOOK = REPO / "playbooks" / "remediate.yml"
NAIVE = REPO / "benchmarks" / "naive-remediate.yml"
MB = 1024 * 1024
SEED = 244405
NAIVE_MAX_HOSTS_BIG_LOG = 20          # naive at 200 MB: 1- and 20-host fleets only
BIG_LOG_MB = 100                      # "big log" threshold for that rule
RECAP = re.compile(r"^(?P<host>\S+)\s+:\s+ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unr>\d+)"
                   r"\s+failed=(?P<failed>\d+)")
# Runs ansible-playbook and reports the largest RSS among it and its forks (KiB on Linux).
WRAPPER = ("import resource, subprocess, sys\n"
           "with open(sys.argv[2], 'wb') as out:\n"
           "    rc = subprocess.run(sys.argv[3:], stdout=out, stderr=subprocess.STDOUT, check=False).returncode\n"
           "usage = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
           "with open(sys.argv[1], 'w', encoding='ascii') as handle:\n"
           "    handle.write(f'{usage.ru_maxrss} {usage.ru_utime + usage.ru_stime}')\n"
           "sys.exit(rc)\n")


def ansible_env(tmp: Path, forks: int) -> dict:
    """scripts/ansible-env.sh, in Python."""
    subprocess.run(["bash", str(REPO / "scripts" / "collection-root.sh")], check=True, capture_output=True)
    env = dict(os.environ)
    env.update(
        ANSIBLE_COLLECTIONS_PATH=str(REPO / "tests" / "output" / ".collection_root"),
        ANSIBLE_HOST_KEY_CHECKING="False", ANSIBLE_RETRY_FILES_ENABLED="False", ANSIBLE_NOCOLOR="1",
        ANSIBLE_LOCALHOST_WARNING="False", ANSIBLE_INVENTORY_UNPARSED_WARNING="False",
        ANSIBLE_FORKS=str(forks), ANSIBLE_LOCAL_TEMP=str(tmp / "ansible-local"),
        PYTHONPATH=str(REPO / "lab") + (os.pathsep + os.environ["PYTHONPATH"] if os.environ.get("PYTHONPATH") else ""),
        PATH=str(VENV_BIN) + os.pathsep + os.environ.get("PATH", ""),
    )
    for name in ("ANSIBLE_STDOUT_CALLBACK", "ANSIBLE_CONFIG"):
        env.pop(name, None)
    return env


class Fleet(ServedLab):
    """One lab fleet, built and served in this process (start and stop: smslab.server.ServedLab)."""

    def __init__(self, root: Path, n_hosts: int, log_bytes: int):
        self.root = root
        self.n_hosts = n_hosts
        self.log_bytes = log_bytes
        self.state_dir = root / "state"
        self.server = None
        self.inventory = None
        started = time.perf_counter()
        self.names = build_state_dir(generate_fleet(n_hosts, SEED, log_bytes=log_bytes), self.state_dir)
        self.build_seconds = time.perf_counter() - started
        self.logging_hosts = sum(1 for name in self.names if self._logs(name))

    def _logs(self, name: str) -> bool:
        data = json.loads((self.state_dir / "hosts" / name / "host.json").read_text(encoding="utf-8"))
        return bool(data["lab"]["logging"])

    def rebuild(self) -> None:
        """Back to the generated state (after a run that changed the hosts)."""
        self.stop()
        build_state_dir(generate_fleet(self.n_hosts, SEED, log_bytes=self.log_bytes), self.state_dir)
        self.start()


def playbook_vars(fleet: Fleet) -> dict:
    # The lab answers a command in one Receive (a real WinRM host streams envelopes of MaxEnvelopeSize):
    # building the reply of a 200 MB slurp can outlast the default 30 s read timeout on a busy machine.
    return {"ansible_winrm_read_timeout_sec": 600, "ansible_winrm_operation_timeout_sec": 590,
            "q244405_report_dir": str(fleet.root / "reports"),
            "q244405_hotfix_files": {p: str(fleet.state_dir / "hotfix" / p / "Distmgr.dll") for p in ("i386", "alpha")}}


def timed_playbook(root: Path, inventory: Path, env: dict, playbook: Path, args: list[str], label: str,
                   variables: dict) -> dict:
    """One ansible-playbook run: wall, controller CPU and max RSS (the wrapper), load, recap, failed hosts;
    ``lab_cpu_s`` is this process's CPU meanwhile (the labs it serves)."""
    rss_file, out_file = root / f"{label}.maxrss", root / f"{label}.out"
    cmd = [sys.executable, "-c", WRAPPER, str(rss_file), str(out_file),
           str(VENV_BIN / "ansible-playbook"), "-i", str(inventory), str(playbook), "-e", json.dumps(variables), *args]
    load_before = os.getloadavg()[0]
    lab_cpu = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=REPO, check=False)
    wall = time.perf_counter() - started
    lab_after = resource.getrusage(resource.RUSAGE_SELF)
    maxrss_kib, controller_cpu = rss_file.read_text(encoding="ascii").split()
    output = out_file.read_text(encoding="utf-8", errors="replace")
    recap = {m.group("host"): m.groupdict() for m in map(RECAP.match, output.splitlines()) if m}
    bad = sorted(h for h, r in recap.items() if int(r["failed"]) or int(r["unr"]))
    return {"label": label, "rc": done.returncode, "wall_s": wall, "failed_hosts": bad,
            "maxrss_mib": int(maxrss_kib) / 1024, "controller_cpu_s": float(controller_cpu),
            "lab_cpu_s": (lab_after.ru_utime + lab_after.ru_stime) - (lab_cpu.ru_utime + lab_cpu.ru_stime),
            "load_avg": (load_before + os.getloadavg()[0]) / 2,
            "output_tail": output[-3000:] if done.returncode or bad else ""}


def run_playbook(fleet: Fleet, env: dict, playbook: Path, args: list[str], label: str) -> dict:
    fleet.server.reset_stats()
    result = timed_playbook(fleet.root, fleet.inventory, env, playbook, args, label, playbook_vars(fleet))
    lab_cpu = resource.getrusage(resource.RUSAGE_SELF)
    settle(fleet)
    lab_after = resource.getrusage(resource.RUSAGE_SELF)
    result["lab_cpu_s"] += (lab_after.ru_utime + lab_after.ru_stime) - (lab_cpu.ru_utime + lab_cpu.ru_stime)
    stats = {host: fleet.server.stats(host) for host in fleet.names}
    per_host = list(stats.values())

    def spread(key):
        values = [s[key] for s in per_host]
        return {"mean": sum(values) / len(values), "max": max(values), "min": min(values)}

    bytes_per_host = [s["bytes_in"] + s["bytes_out"] for s in per_host]
    result.update(commands=spread("commands"), requests=spread("requests"),
                  bytes={"mean": sum(bytes_per_host) / len(bytes_per_host), "max": max(bytes_per_host),
                         "min": min(bytes_per_host)},
                  by_name=_merged_by_name(per_host))
    return result


def settle(fleet: Fleet, limit: float = 300) -> None:
    """Wait until the lab has answered everything (a reply the client gave up on is still counted)."""
    deadline = time.monotonic() + limit
    last = None
    while time.monotonic() < deadline:
        totals = sum(s["requests"] + s["bytes_out"] for s in fleet.server.all_stats().values())
        if totals == last:
            return
        last = totals
        time.sleep(1)


def _merged_by_name(per_host: list[dict]) -> dict:
    merged: dict[str, int] = {}
    for stats in per_host:
        for name, count in stats["by_name"].items():
            merged[name] = merged.get(name, 0) + count
    return merged


def bench_log_parser(mb: int, tmp: Path) -> dict:
    """benchmarks/bench_log_parser.py in a process forked from the small wrapper: a child forked from
    this (big, lab-serving) process would start with its RSS and report that as its maximum."""
    rss_file, out_file = tmp / f"parser-{mb}.maxrss", tmp / f"parser-{mb}.out"
    done = subprocess.run([sys.executable, "-c", WRAPPER, str(rss_file), str(out_file), sys.executable,
                           str(REPO / "benchmarks" / "bench_log_parser.py"), "--mb", str(mb)],
                          check=False, cwd=REPO)
    text = out_file.read_text(encoding="utf-8", errors="replace")
    wall = re.search(r"msrpc filter: (\d+) MB/s wall", text)
    cpu = re.search(r"(\d+) MB/s of CPU time", text)
    rss = re.search(r"max RSS: ([\d.]+) MB \(before filtering ([\d.]+) MB\)", text)
    return {"mb": mb, "rc": done.returncode, "mb_s_wall": int(wall.group(1)) if wall else None,
            "mb_s_cpu": int(cpu.group(1)) if cpu else None,
            "rss_after": float(rss.group(1)) if rss else None, "rss_before": float(rss.group(2)) if rss else None,
            "text": text.strip()}


def fmt_row(fleet: Fleet, forks: int, result: dict) -> str:
    c, r, b = result["commands"], result["requests"], result["bytes"]
    flag = "" if not (result["rc"] or result["failed_hosts"]) else f"  rc={result['rc']} failed={len(result['failed_hosts'])}"
    return (f"| {fleet.log_bytes // MB:>4} MB | {fleet.n_hosts:>4} | {result['label']:<10} | {forks:>5} | "
            f"{result['wall_s']:8.1f} | {result['controller_cpu_s']:7.1f} | {result['lab_cpu_s']:6.1f} | "
            f"{result['load_avg']:5.1f} | {c['mean']:5.2f} / {c['max']:>3} | {r['mean']:6.1f} / {r['max']:>5} | "
            f"{b['mean'] / 1024:10.1f} / {b['max'] / 1024:10.1f} | {result['maxrss_mib']:8.0f} |{flag}")


HEADER = ("| log    | hosts | run        | forks |   wall s | ctl CPU s | lab CPU s | load | commands/host mean / max | "
          "HTTP requests/host mean / max | KiB on the wire/host mean / max | ctl MiB |\n"
          "|---|---|---|---|---|---|---|---|---|---|---|---|")


def machine() -> str:
    try:
        ansible = subprocess.run([str(VENV_BIN / "ansible"), "--version"], capture_output=True, text=True,
                                 check=False).stdout.splitlines()[0]
    except (OSError, IndexError):
        ansible = "ansible-core ?"
    mem = ""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            mem = f"{int(handle.readline().split()[1]) / 1024 / 1024:.0f} GiB RAM"
    except OSError:
        pass
    return (f"{os.cpu_count()} cores, {mem}, {platform.platform()}, Python {platform.python_version()}, "
            f"{ansible.strip()}, {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fleets", default="1,20,200", help="fleet sizes (hosts), comma separated")
    parser.add_argument("--log-mb", default="1,200", help="Distmgr.log sizes in MB, comma separated")
    parser.add_argument("--forks", type=int, default=10)
    parser.add_argument("--naive-big-forks", type=int, default=2,
                        help="forks of the naive playbook on logs >= 100 MB (each 200 MB slurp holds ~1.5 GB in the "
                             "lab and ~1.5 GB in an ansible fork: 7 at once would not fit in 24 GiB)")
    parser.add_argument("--parser-mb", type=int, default=200, help="log size for bench_log_parser.py (0: skip)")
    parser.add_argument("--runs", default="facts,check,naive,workaround", help="which runs, comma separated")
    parser.add_argument("--json", help="also write the results as JSON here")
    parser.add_argument("--keep", action="store_true", help="keep the lab state folders")
    args = parser.parse_args()
    fleets = [int(v) for v in args.fleets.split(",")]
    log_sizes = [int(v) for v in args.log_mb.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="bench-fleet-"))
    env = ansible_env(tmp, args.forks)
    results: list[dict] = []
    print(f"machine: {machine()}")
    print("round trip = one module execution = one WinRM command (shell Create/Command/Send/Receive/Signal/Delete);"
          " commands and HTTP requests are both counted per host by the lab")
    print(HEADER, flush=True)
    try:
        for log_mb in log_sizes:
            for n_hosts in fleets:
                fleet = Fleet(tmp / f"{log_mb}mb-{n_hosts}", n_hosts, log_mb * MB).start()
                meta = {"log_mb": log_mb, "hosts": n_hosts, "forks": args.forks,
                        "logging_hosts": fleet.logging_hosts, "build_s": fleet.build_seconds}
                runs = [("facts", PLAYBOOK, ["--check", "-e", "q244405_policy=report"], args.forks),
                        ("check", PLAYBOOK, ["--check"], args.forks)]
                if log_mb < BIG_LOG_MB:
                    runs.append(("naive", NAIVE, ["--check"], args.forks))
                elif n_hosts <= NAIVE_MAX_HOSTS_BIG_LOG:
                    runs.append(("naive", NAIVE, ["--check"], min(args.forks, args.naive_big_forks)))
                runs.append(("workaround", PLAYBOOK, ["-e", "q244405_policy=workaround", "-e", "q244405_verify=false"],
                             args.forks))
                runs = [run for run in runs if run[0] in args.runs.split(",")]
                try:
                    for label, playbook, extra, forks in runs:
                        run_env = env if forks == args.forks else dict(env, ANSIBLE_FORKS=str(forks))
                        result = run_playbook(fleet, run_env, playbook, extra, label)
                        result.update(meta, forks=forks)
                        results.append(result)
                        print(fmt_row(fleet, forks, result), flush=True)
                        if result["output_tail"]:
                            print(result["output_tail"], file=sys.stderr)
                    if "naive" in args.runs and not any(
                            r["label"] == "naive" for r in results if r["hosts"] == n_hosts and r["log_mb"] == log_mb):
                        print(f"| {log_mb:>4} MB | {n_hosts:>4} | naive      | skipped: {n_hosts} hosts x {log_mb} MB "
                              "slurped through base64 does not fit this machine |", flush=True)
                finally:
                    fleet.stop()
                    if not args.keep:
                        shutil.rmtree(fleet.root, ignore_errors=True)
        parser_results = [bench_log_parser(mb, tmp) for mb in (20, args.parser_mb)] if args.parser_mb else []
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    print()
    verdicts = targets(results, parser_results)
    for line in verdicts:
        print(line)
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": machine(), "results": results, "parser": parser_results,
                                               "targets": verdicts}, indent=2), encoding="utf-8")
    return 0


def _find(results, label, hosts, log_mb):
    return next((r for r in results if r["label"] == label and r["hosts"] == hosts and r["log_mb"] == log_mb), None)


def targets(results: list[dict], parser_results: list[dict]) -> list[str]:
    lines = ["Targets:"]

    def verdict(ok: bool | None) -> str:
        return "n/a " if ok is None else ("MET " if ok else "MISSED")

    facts = [r for r in results if r["label"] == "facts"]
    ok = None if not facts else all(r["commands"]["max"] == 1 for r in facts)
    lines.append(f"  {verdict(ok)} facts in 1 round trip per host: commands/host max "
                 f"{sorted({r['commands']['max'] for r in facts})} (HTTP requests/host max "
                 f"{sorted({r['requests']['max'] for r in facts})})")
    work = [r for r in results if r["label"] == "workaround"]
    ok = None if not work else all(r["commands"]["max"] <= 2 for r in work)
    lines.append(f"  {verdict(ok)} workaround (facts + removal) in at most 2 round trips per host: commands/host max "
                 f"{sorted({r['commands']['max'] for r in work})}")
    sizes = sorted({r["log_mb"] for r in results})
    for label in ("facts", "workaround"):
        ratios = []
        for hosts in sorted({r["hosts"] for r in results}):
            small, big = _find(results, label, hosts, sizes[0]), _find(results, label, hosts, sizes[-1])
            if small and big and len(sizes) > 1:
                ratios.append((hosts, big["bytes"]["mean"] / small["bytes"]["mean"]))
        ok = None if not ratios else all(abs(ratio - 1) <= 0.10 for _hosts, ratio in ratios)
        lines.append(f"  {verdict(ok)} {label}: wire bytes per host {sizes[-1]} MB log / {sizes[0]} MB log within 10%: "
                     + ", ".join(f"{h} hosts x{ratio:.3f}" for h, ratio in ratios))
    biggest = max((r["hosts"] for r in results), default=0)
    check, naive = _find(results, "check", biggest, sizes[0]), _find(results, "naive", biggest, sizes[0])
    ok = None if not (check and naive) else naive["wall_s"] >= 3 * check["wall_s"]
    if check and naive:
        lines.append(f"  {verdict(ok)} {biggest}-host --check at {sizes[0]} MB logs at least 3x faster than naive: "
                     f"{check['wall_s']:.1f}s vs {naive['wall_s']:.1f}s wall = {naive['wall_s'] / check['wall_s']:.2f}x; "
                     f"controller+lab CPU {check['controller_cpu_s'] + check['lab_cpu_s']:.1f}s vs "
                     f"{naive['controller_cpu_s'] + naive['lab_cpu_s']:.1f}s = "
                     f"{(naive['controller_cpu_s'] + naive['lab_cpu_s']) / (check['controller_cpu_s'] + check['lab_cpu_s']):.2f}x")
    if parser_results:
        fast = parser_results[-1]
        flat = parser_results[0]["rss_after"] is not None and fast["rss_after"] is not None and \
            fast["rss_after"] - parser_results[0]["rss_after"] < 10
        ok = fast["mb_s_wall"] is not None and fast["mb_s_wall"] >= 100 and flat
        lines.append(f"  {verdict(ok)} msrpc log filter on the controller (production code of the msrpc path) "
                     f">= 100 MB/s in constant memory: "
                     f"{fast['mb_s_wall']} MB/s wall ({fast['mb_s_cpu']} MB/s CPU) on {fast['mb']} MB; max RSS "
                     + ", ".join(f"{p['rss_after']} MB at {p['mb']} MB" for p in parser_results))
    return lines


if __name__ == "__main__":
    sys.exit(main())
