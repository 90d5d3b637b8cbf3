"""Round trips, controller CPU, bytes and wall of ONE msrpc facts probe against the lab (issue 22; a script, not a test).

The lab (``smslab.msrpc_lab.MsrpcLab``: one Samba ``smbd`` per host for SMB, ``\\winreg`` and the lab's ``\\svcctl``,
and the lab's DCOM/WMI responder) runs in a child process, so ``time.process_time()`` of this process is the
controller's CPU alone: production code (the msrpc transport, impacket's clients), the lab's CPU apart.

Counted per probe, by wrapping impacket's wire objects in this script only (the collection is not changed):
  tcp      TCP connects (``socket.socket.connect``): one round trip each
  rt       round trips: a reply read on a socket after a request was sent on it (send -> recv turns), plus connects
  smb      SMB messages sent / received (``nmb.NetBIOSTCPSession.send_packet`` / ``recv_packet``)
  bind     DCE/RPC binds + alter-context exchanges (``rpcrt.DCERPC_v5.bind``, with ``alter`` set for the second)
  req      DCE/RPC requests (``rpcrt.DCERPC_v5.request``), over the SMB pipes and DCOM together
  bytes    bytes sent + received on the sockets

Each host is probed twice (the row ``warm*`` repeats the warm probes with impacket's structure expressions
compiled on every use, as impacket does without ``impacket_speedups``): ``cold`` (empty controller cache: the log is read whole, drives enumerated) and ``warm``
(the cache of the cold run: a rerun). With ``--delay-ms 50``, a last short run adds that much round-trip time:
the socket wrapper waits ``delay`` at each counted round trip (each connect, each first read after a send), which
is what a WAN link adds to a strictly request/response client such as impacket (one request in flight per
socket). ``tc qdisc ... netem`` would do it in the kernel, but this machine's kernel has no sch_netem ("Specified
qdisc kind is unknown"), and a qdisc on ``lo`` would delay other engineers' tests too. Only this process waits:
the lab is not delayed, nothing else on the machine is. Every host's lab profile (host.json ``profile``, default
nt4) is printed.

    .venv/bin/python benchmarks/bench_msrpc_probe.py [--hosts 6] [--delay-ms 50] [--delay-probes 3] [--profile]
Needs root (the WMI responder listens on port 135 of 127.0.0.x) and Samba.
"""
from __future__ import annotations

import argparse
import cProfile
import json
import multiprocessing
import os
import pstats
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import weakref
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COLLECTION_ROOT = REPO / "tests" / "output" / ".collection_root"
sys.path.insert(0, str(REPO / "lab"))
sys.path.insert(0, str(COLLECTION_ROOT))

from smslab.samba import samba_available  # noqa: E402
from smslab.scenario import build_state_dir, generate_fleet  # noqa: E402

SEED = 244405


# ---- the lab in its own process ------------------------------------------------------------------------------
def _serve_lab(state_dir: str, names: list[str], conn) -> None:
    from smslab.msrpc_lab import MsrpcLab
    lab = MsrpcLab(state_dir, names)
    try:
        lab.start()
        conn.send({name: lab.inventory_vars(name) for name in lab.names})
        conn.recv()                       # told to stop
    except BaseException as exc:  # the parent prints it
        conn.send({"error": f"{type(exc).__name__}: {exc}"})
    finally:
        lab.stop()


class LabProcess:
    def __init__(self, state_dir: Path, names: list[str]):
        context = multiprocessing.get_context("fork")
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_serve_lab, args=(str(state_dir), names, child), daemon=False)

    def start(self) -> dict:
        self.process.start()
        answer = self.conn.recv()
        if "error" in answer:
            self.process.join(60)
            raise RuntimeError(f"the msrpc lab did not start: {answer['error']}")
        return answer

    def stop(self) -> None:
        if self.process.is_alive():
            self.conn.send("stop")
            self.process.join(120)


# ---- counting the wire (in this process only) ----------------------------------------------------------------
class WireCounter:
    FIELDS = ("tcp", "rt", "smb_out", "smb_in", "bind", "alter", "req", "bytes_out", "bytes_in")

    def __init__(self):
        self.counts = dict.fromkeys(self.FIELDS, 0)
        self.calls: dict[str, int] = {}                     # DCE/RPC requests by request class, all probes
        self._last_sent = weakref.WeakKeyDictionary()     # socket -> True after a send, until a recv
        self.delay_s = 0.0                                  # added round-trip time, waited once per round trip

    def snapshot(self) -> dict:
        return dict(self.counts)

    def install(self) -> None:
        from impacket import nmb
        from impacket.dcerpc.v5 import rpcrt
        counts, last_sent = self.counts, self._last_sent
        sock_cls = socket.socket

        def wrap(cls, name, before=None, after=None):
            original = getattr(cls, name)

            def wrapper(self, *args, **kwargs):
                if before:
                    before(self, args, kwargs)
                result = original(self, *args, **kwargs)
                if after:
                    after(self, args, kwargs, result)
                return result
            wrapper.__wrapped__ = original
            setattr(cls, name, wrapper)

        def sent(sock, args, _kwargs, _result=None):
            counts["bytes_out"] += len(args[0])
            last_sent[sock] = True

        def turning(sock, _args, _kwargs):
            if last_sent.pop(sock, False):          # the first read after a request: one round trip
                counts["rt"] += 1
                if self.delay_s:
                    time.sleep(self.delay_s)

        def received(_sock, _args, _kwargs, result):
            counts["bytes_in"] += len(result or b"")

        def connected(_sock, _args, _kwargs, _result):
            counts["tcp"] += 1
            counts["rt"] += 1
            if self.delay_s:
                time.sleep(self.delay_s)

        wrap(sock_cls, "connect", after=connected)
        wrap(sock_cls, "send", after=sent)
        wrap(sock_cls, "sendall", after=sent)
        wrap(sock_cls, "recv", before=turning, after=received)
        wrap(nmb.NetBIOSTCPSession, "send_packet", before=lambda *_: counts.__setitem__("smb_out", counts["smb_out"] + 1))
        wrap(nmb.NetBIOSTCPSession, "recv_packet", after=lambda *_: counts.__setitem__("smb_in", counts["smb_in"] + 1))

        def bound(_dce, args, kwargs):
            alter = kwargs.get("alter", args[1] if len(args) > 1 else 0)
            counts["alter" if alter else "bind"] += 1
        wrap(rpcrt.DCERPC_v5, "bind", before=bound)
        calls = self.calls

        def requested(_dce, args, _kwargs):
            counts["req"] += 1
            name = type(args[0]).__name__
            calls[name] = calls.get(name, 0) + 1
        wrap(rpcrt.DCERPC_v5, "request", before=requested)


# ---- where a probe's round trips go -----------------------------------------------------------------------
PHASES = ("environment", "registry", "wmi_facts", "services", "platform_dll", "transaction_journal", "log_facts",
          "package_folder_paths", "folder_listing", "console_open")


def attribute_phases(counter: WireCounter) -> dict:
    """Wrap the probe's steps (outermost only) so each one's round trips and bytes add up in the returned dict."""
    from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc import probe as probe_module
    totals: dict[str, list] = {}
    depth = [0]

    def wrapped(name, original):
        def step(*args, **kwargs):
            depth[0] += 1
            before, cpu = counter.snapshot(), time.process_time()
            try:
                return original(*args, **kwargs)
            finally:
                depth[0] -= 1
                if depth[0] == 0:
                    after = counter.snapshot()
                    total = totals.setdefault(name, [0, 0, 0.0])
                    total[0] += after["rt"] - before["rt"]
                    total[1] += after["bytes_in"] + after["bytes_out"] - before["bytes_in"] - before["bytes_out"]
                    total[2] += time.process_time() - cpu
        return step
    for name in PHASES:
        setattr(probe_module._Probe, name, wrapped(name, getattr(probe_module._Probe, name)))
    return totals


# ---- the probes ----------------------------------------------------------------------------------------------
def probe_once(name: str, variables: dict, cache_dir: Path, counter: WireCounter) -> dict:
    from ansible_collections.sms.remediation.plugins.module_utils import sms20
    from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.settings import settings_from_vars
    from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.transport import MsrpcTransport

    from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc import activation
    parameters = sms20.probe_parameters(sms20.merge_overrides(None))
    variables = dict(variables, q244405_msrpc_cache_dir=str(cache_dir))
    activation.forget()          # each Ansible fork starts without the activator its process learnt
    before = counter.snapshot()
    cpu, wall = time.process_time(), time.perf_counter()
    host = MsrpcTransport(settings_from_vars(name, variables), True, lambda _message: None)
    try:
        answer = host.probe(parameters)
    finally:
        host.close()
    row = {key: value - before[key] for key, value in counter.snapshot().items()}
    row.update(cpu_s=time.process_time() - cpu, wall_s=time.perf_counter() - wall,
               log_read=sum(r["bytes_read"] for r in answer["msrpc"]["log_reads"]),
               errors=[e for e in answer["errors"] if e["source"] not in ("wmi", "processes")], answer=answer)
    return row


def mean(rows: list[dict], key: str) -> float:
    return sum(r[key] for r in rows) / len(rows) if rows else 0.0


def print_rows(label: str, rows: list[dict], delay_ms: int) -> None:
    print(f"| {label:5} | {delay_ms:3} | {len(rows):2} | {mean(rows, 'rt'):5.1f} | {mean(rows, 'tcp'):3.1f} | "
          f"{mean(rows, 'smb_out'):5.1f} / {mean(rows, 'smb_in'):5.1f} | {mean(rows, 'bind'):4.1f} + {mean(rows, 'alter'):3.1f} | "
          f"{mean(rows, 'req'):5.1f} | {1000 * mean(rows, 'cpu_s'):6.1f} | {mean(rows, 'bytes_out') + mean(rows, 'bytes_in'):9,.0f} | "
          f"{mean(rows, 'log_read'):9,.0f} | {mean(rows, 'wall_s'):6.3f} |", flush=True)


def profile_of(state_dir: Path, name: str) -> str:
    data = json.loads((state_dir / "hosts" / name / "host.json").read_text(encoding="utf-8"))
    return str(data.get("profile") or "nt4 (default)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hosts", type=int, default=6, help="sites of the generated fleet probed (each cold, then warm)")
    parser.add_argument("--log-mb", type=int, default=1, help="Distmgr.log size of the logging sites, in MB")
    parser.add_argument("--delay-ms", type=int, default=0, help="also probe with this much added round-trip delay (root)")
    parser.add_argument("--delay-probes", type=int, default=3, help="warm probes at the added delay (keep it short)")
    parser.add_argument("--profile", action="store_true", help="print the top functions of the warm probes (cProfile)")
    parser.add_argument("--phases", action="store_true", help="print where the warm probes' round trips and bytes go")
    parser.add_argument("--json", help="also write the rows as JSON here")
    args = parser.parse_args()
    reason = samba_available()
    if reason or os.geteuid() != 0:
        sys.exit(f"bench_msrpc_probe: {reason or 'needs root: the WMI responder listens on port 135 of 127.0.0.x'}")
    subprocess.run(["bash", str(REPO / "scripts" / "collection-root.sh")], check=True, capture_output=True)
    tmp = Path(tempfile.mkdtemp(prefix="bench-msrpc-probe-"))
    state_dir = tmp / "state"
    names = build_state_dir(generate_fleet(args.hosts, SEED, args.log_mb * 1024 * 1024), state_dir)
    from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc import preload
    preload.preload()                     # as the controller's main process does before it forks
    counter = WireCounter()
    counter.install()
    lab = LabProcess(state_dir, names)
    results = {"hosts": {}, "rows": {}}
    try:
        inventory = lab.start()
        print(f"code: {subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=REPO, capture_output=True, text=True, check=False).stdout.strip()}; "
              f"load {os.getloadavg()[0]:.1f}; {len(names)} hosts, lab in process {lab.process.pid}")
        for name in names:
            results["hosts"][name] = profile_of(state_dir, name)
        print("profiles: " + ", ".join(f"{n}={p}" for n, p in results["hosts"].items()))
        print("| run   | +ms | n  |    rt | tcp | SMB out / in  | bind + alter | req   | CPU ms | bytes     | log read  | wall s |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|")
        cold = [probe_once(n, inventory[n], tmp / "cache", counter) for n in names]
        print_rows("cold", cold, 0)
        counter.calls.clear()
        phases = attribute_phases(counter) if args.phases else None
        profiler = cProfile.Profile(time.process_time) if args.profile else None    # CPU, not the waits for the lab
        if profiler:
            profiler.enable()
        warm = [probe_once(n, inventory[n], tmp / "cache", counter) for n in names]
        if profiler:
            profiler.disable()
            if os.environ.get("BENCH_PROFILE_DUMP"):
                profiler.dump_stats(os.environ["BENCH_PROFILE_DUMP"])
        print_rows("warm", warm, 0)
        if phases:
            print("round trips / bytes / controller CPU ms per warm probe by step (the rest: connect, logon, close): "
                  + ", ".join(f"{name} {rt / len(names):g} / {size / len(names):,.0f} / {1000 * cpu / len(names):.1f}"
                              for name, (rt, size, cpu) in phases.items()))
        print("DCE/RPC requests per warm probe: " + ", ".join(
            f"{name} {count / len(names):g}" for name, count in sorted(counter.calls.items(), key=lambda kv: -kv[1])))
        results["rows"] = {"cold": cold, "warm": warm}
        from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc import impacket_speedups
        if impacket_speedups.applied():      # the same warm probes with impacket's own eval, for the CPU it saves
            apply = impacket_speedups.apply
            impacket_speedups.remove()
            impacket_speedups.apply = lambda warn=None: False       # the probe would apply it again
            try:
                plain = [probe_once(n, inventory[n], tmp / "cache", counter) for n in names]
            finally:
                impacket_speedups.apply = apply
                apply()
            print_rows("warm*", plain, 0)
            results["rows"]["warm_without_expression_cache"] = plain
        if args.delay_ms:
            counter.delay_s = args.delay_ms / 1000
            try:
                delayed = [probe_once(n, inventory[n], tmp / "cache", counter) for n in names[:args.delay_probes]]
            finally:
                counter.delay_s = 0.0
            print_rows("warm", delayed, args.delay_ms)
            results["rows"]["delayed"] = delayed
        for label, rows in results["rows"].items():
            for row in rows:
                if row["errors"]:
                    print(f"  {label}: errors: {row['errors']}")
        if profiler:
            pstats.Stats(profiler).sort_stats(os.environ.get("BENCH_PROFILE_SORT", "tottime")).print_stats(int(os.environ.get("BENCH_PROFILE_LINES", "25")))
    finally:
        lab.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        for rows in results["rows"].values():
            for row in rows:
                row.pop("answer", None)
        Path(args.json).write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
