"""Benchmark the controller's Distmgr.log filter (a script, not a test).

Generates a realistic Distmgr.log (default 200 MB: mostly unrelated Distribution Manager lines, a few
deletions/additions, some wrapped entries) in a temporary directory and times what production code does with
it ON THE CONTROLLER, printing throughput and peak memory:

* default target, ``msrpc filter``: the ``msrpc`` transport (issue 13) reads the log over SMB and filters it on
  the controller (``plugins/plugin_utils/_transport/msrpc/log_reader.py`` ``LineFilter``, fed in the same
  blocks as over SMB, with the LogPattern that ``sms20.probe_parameters`` sends), then parses the matches
  (``distmgr_log.entries_from_probe_matches``). The local file stands in for SMB: network time is not in it.
* not measured here: the ``winrm`` path filters on the host (``Search-LogFile`` of ``sms_probe.ps1``, Windows
  PowerShell) and the controller parses only the matched lines. That per-line scan cost on a host is
  unmeasured: there is no Windows host here, and the lab answers from its Python copy of the script.
* ``--stream-parser``: ``distmgr_log.iter_package_events_from_stream``, the controller's streaming parser of a
  whole log. No transport calls it in production; kept only for comparison with earlier figures.

    .venv/bin/python benchmarks/bench_log_parser.py [--mb 200] [--stream-parser] [--tracemalloc]
"""
from __future__ import annotations

import argparse
import os
import random
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COLLECTION_ROOT = REPO / "tests" / "output" / ".collection_root"
LINK = COLLECTION_ROOT / "ansible_collections" / "sms" / "remediation"
if not LINK.exists():
    LINK.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(REPO, LINK, target_is_directory=True)
sys.path.insert(0, str(COLLECTION_ROOT))

from ansible_collections.sms.remediation.plugins.module_utils import sms20  # noqa: E402
from ansible_collections.sms.remediation.plugins.module_utils.distmgr_log import (  # noqa: E402
    ParseStats,
    entries_from_probe_matches,
)

TAIL = "  $$<SMS_DISTRIBUTION_MANAGER><Fri Oct 15 17:{m:02d}:{s:02d}.{ms:03d} 1999 Pacific Daylight Time><thread={t} (0x{t:X})>"
NOISE = [
    "~Starting package processing thread,thread ID = {t}",
    "~Package {pid} uses the compressed copy of the source directory.",
    "~Used 0 out of 3 allowed processing threads.",
    "~Sleep 3600 seconds...",
    "~Processing incoming file D:\\SMS\\inboxes\\distmgr.box\\INCOMING\\U2J0GVIQ.PKG.",
    "~The compressed size of package {pid} is 19821 KBytes",
    "~Found package properties updated notification for package {pid}",
    "~SQL Msg #99901> This PkgID ({pid}) does not exist in the parent table, SMSPackages.~",
    "~Exiting package processing thread.",
    "~The package share directory D:\\SMSPKGD$\\{pid} is not empty, cannot remove the share SMSPKGD$\\{pid}.",
    "~Copying D:\\SMSPKG\\{pid}.PCK to \\\\CHILD01\\SMS_SITE\\2_4O7PRI.PCK",
]


def generate(path: Path, megabytes: int, seed: int = 244405) -> int:
    """Write a realistic log of about ``megabytes`` MB; return the number of package events."""
    rng = random.Random(seed)
    lines = []
    events = 0
    for i in range(20000):
        t = rng.randint(100, 999)
        pid = f"610{rng.randint(0, 0xFFFFF):05X}"
        tail = TAIL.format(m=i % 60, s=(i * 7) % 60, ms=i % 1000, t=t)
        r = rng.random()
        if r < 0.002:
            lines.append(f"Start deleting the package {pid}...{tail}")
            lines.append(f"~Successfully deleted the package {pid}{tail}")
            events += 2
        elif r < 0.003:
            lines.append(f"~Start adding package {pid}...{tail}")
            events += 1
        elif r < 0.004:  # wrapped entry, as in the KB
            lines.append(f"~Start deleting the package {pid}...{tail[: tail.index('(0x')]}")
            lines.append(tail[tail.index("(0x"):])
            events += 1
        else:
            lines.append(rng.choice(NOISE).format(t=t, pid=pid) + tail)
    block = ("\r\n".join(lines) + "\r\n").encode("cp1252")
    repeats = max(1, (megabytes * 1024 * 1024) // len(block))
    with open(path, "wb") as f:
        for _repeat in range(repeats):
            f.write(block)
    return events * repeats


def _megabytes_per_second(size: int, seconds: float) -> str:
    return f"{size / 1e6 / seconds:.0f} MB/s" if seconds > 0 else "n/a"


def time_msrpc_filter(path: Path, size: int) -> tuple[int, int, float, float, int]:
    """The msrpc path on the controller: LineFilter over the file in SMB-sized blocks, then the parser.
    Returns (matches, entries parsed, wall s, CPU s, lines decoded one by one)."""
    # imported here: the transport needs impacket, which the --stream-parser comparison does not
    from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.log_reader import (
        READ_CHUNK, LineFilter)
    from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.regex import compile_script_regex

    pattern = compile_script_regex(sms20.probe_parameters(sms20.merge_overrides(None))["LogPattern"])
    t0, c0 = time.perf_counter(), time.process_time()
    line_filter = LineFilter(pattern, codec="cp1252")
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(READ_CHUNK), b""):
            line_filter.feed(block)
    matches = line_filter.result()
    stats = ParseStats()
    entries = list(entries_from_probe_matches(
        [{"path": str(path), "exists": True, "size": size, "matches": matches}], stats))
    return (len(matches), len(entries), time.perf_counter() - t0, time.process_time() - c0,
            line_filter.lines_decoded)


def time_stream_parser(path: Path, size: int, full: bool) -> int:
    """distmgr_log.iter_package_events_from_stream (no transport calls it); returns the events found."""
    from ansible_collections.sms.remediation.plugins.module_utils.distmgr_log import (
        iter_entries_from_stream, iter_package_events_from_stream)

    stats = ParseStats()
    t0, c0 = time.perf_counter(), time.process_time()
    with open(path, "rb") as f:
        count = sum(1 for _event in iter_package_events_from_stream(f, str(path), stats))
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(f"stream parser (not a production path): {count} events, {stats.lines} lines, "
          f"{_megabytes_per_second(size, elapsed)} wall, {_megabytes_per_second(size, cpu)} of CPU time")
    if full:
        full_stats = ParseStats()
        t0 = time.perf_counter()
        with open(path, "rb") as f:
            n = sum(1 for _event in iter_entries_from_stream(f, str(path), full_stats))
        print(f"stream parser, every entry: {n} entries, {_megabytes_per_second(size, time.perf_counter() - t0)}")
    return count


def main() -> int:
    """Run the benchmark and print MB/s and peak memory."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--stream-parser", action="store_true",
                        help="also time distmgr_log.iter_package_events_from_stream (not a production path)")
    parser.add_argument("--full", action="store_true",
                        help="with --stream-parser: also time iter_entries_from_stream (every entry parsed)")
    parser.add_argument("--tracemalloc", action="store_true",
                        help="also measure the Python heap peak of the msrpc filter (slows the run)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "Distmgr.log"
        t0 = time.perf_counter()
        expected = generate(path, args.mb)
        size = path.stat().st_size
        print(f"generated {size / 1e6:.1f} MB in {time.perf_counter() - t0:.1f}s, "
              f"{expected} package events expected")
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        matches, entries, elapsed, cpu, decoded = time_msrpc_filter(path, size)
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(f"msrpc filter (controller code of the msrpc path): {matches} matches, {entries} entries parsed, "
              f"{decoded} lines decoded one by one (the rest were passed over on the bytes: word_search)")
        print(f"msrpc filter: {_megabytes_per_second(size, elapsed)} wall ({elapsed:.2f}s for {size / 1e6:.0f} MB), "
              f"{_megabytes_per_second(size, cpu)} of CPU time ({cpu:.2f}s; differs from wall on a busy machine)")
        print(f"max RSS: {rss_after / 1024:.1f} MB (before filtering {rss_before / 1024:.1f} MB)")
        print("winrm path: the host filters (sms_probe.ps1); its per-line scan cost on a host is unmeasured")
        if matches != expected:
            print(f"ERROR: expected {expected} matching lines, got {matches}")
            return 1
        if args.tracemalloc:
            tracemalloc.start()
            time_msrpc_filter(path, size)
            _current, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            print(f"tracemalloc peak: {peak / 1e6:.1f} MB")
        if args.stream_parser and time_stream_parser(path, size, args.full) != expected:
            print(f"ERROR: stream parser: expected {expected} events")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
