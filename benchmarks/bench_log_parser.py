"""Benchmark the Distmgr.log fast path (a script, not a test).

Generates a realistic Distmgr.log (default 200 MB: mostly unrelated Distribution
Manager lines, a few deletions/additions, some wrapped entries) in a temporary
directory, streams it through ``iter_package_events_from_stream`` and prints the
throughput and the peak memory.

    .venv/bin/python benchmarks/bench_log_parser.py [--mb 200] [--tracemalloc]
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

from ansible_collections.sms.remediation.plugins.module_utils.distmgr_log import (  # noqa: E402
    ParseStats,
    iter_entries_from_stream,
    iter_package_events_from_stream,
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


def main() -> int:
    """Run the benchmark and print MB/s and peak memory."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--full", action="store_true",
                        help="also time iter_entries_from_stream (every entry parsed)")
    parser.add_argument("--tracemalloc", action="store_true",
                        help="also measure the Python heap peak (slows the run)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "Distmgr.log"
        t0 = time.perf_counter()
        expected = generate(path, args.mb)
        size = path.stat().st_size
        print(f"generated {size / 1e6:.1f} MB in {time.perf_counter() - t0:.1f}s, "
              f"{expected} package events expected")
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        stats = ParseStats()
        t0, c0 = time.perf_counter(), time.process_time()
        with open(path, "rb") as f:
            count = sum(1 for _event in iter_package_events_from_stream(f, str(path), stats))
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(f"fast path: {count} events, {stats.lines} lines, {stats.entries} entries parsed, "
              f"{stats.truncated_entries} truncated")
        print(f"fast path: {size / 1e6 / elapsed:.0f} MB/s wall ({elapsed:.2f}s for {size / 1e6:.0f} MB), "
              f"{size / 1e6 / cpu:.0f} MB/s of CPU time ({cpu:.2f}s; differs from wall on a busy machine)")
        print(f"max RSS: {rss_after / 1024:.1f} MB (before parsing {rss_before / 1024:.1f} MB)")
        if count != expected:
            print(f"ERROR: expected {expected} events, got {count}")
            return 1
        if args.full:
            full_stats = ParseStats()
            t0 = time.perf_counter()
            with open(path, "rb") as f:
                n = sum(1 for _event in iter_entries_from_stream(f, str(path), full_stats))
            elapsed = time.perf_counter() - t0
            print(f"full parse: {n} entries, {size / 1e6 / elapsed:.0f} MB/s ({elapsed:.2f}s)")
        if args.tracemalloc:
            tracemalloc.start()
            with open(path, "rb") as f:
                for _event in iter_package_events_from_stream(f, str(path)):
                    pass
            _current, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            print(f"tracemalloc peak: {peak / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
