"""Distmgr.log synthesis: SMS 2.0 Distribution Manager logs, streamed and deterministic.

``_write_distmgr_logs`` writes one site's Distmgr.log (and Distmgr.lo_); ``shared_log`` writes the
noise padding shared by many hosts.
"""

from __future__ import annotations

import bisect
import datetime as _dt
import itertools
import json
import math
import os
import random
import re
from pathlib import Path

from smslab.scenario.determinism import _local_to_utc, _rng, _us_dst
from smslab.scenario.facts import COMPONENT, DEFAULT_INSTALL_DIR, EPOCH_1999


class _LogWriter:
    """Streams SMS 2.0 log lines to a file in chunks; keeps a clock and counts bytes written."""

    CHUNK = 256 * 1024

    def __init__(self, path: Path, encoding: str, start: _dt.datetime, rng: random.Random):
        self.path = path
        self.handle = open(path, "wb")
        self.codec = "utf-16-le" if encoding == "utf-16" else "ascii"
        self.buffer: list[bytes] = []
        self.buffered = 0
        self.written = 0
        self.base = start
        self.ms = 0                      # milliseconds since ``base``
        self._base_hour = start.replace(minute=0, second=0, microsecond=0)
        self._offset = int((start - self._base_hour) / _dt.timedelta(milliseconds=1))
        self._hour = None                # cache: the stamp's parts for the current hour
        self._hour_parts = ("", "")
        self.rng = rng
        self._random = rng.random
        if encoding == "utf-16":
            self._raw(b"\xff\xfe")

    def _raw(self, data: bytes) -> None:
        self.buffer.append(data)
        self.buffered += len(data)
        self.written += len(data)
        if self.buffered >= self.CHUNK:
            self.flush()

    def flush(self) -> None:
        if self.buffer:
            self.handle.write(b"".join(self.buffer))
            self.buffer.clear()
            self.buffered = 0

    def close(self) -> None:
        self.flush()
        self.handle.close()

    @property
    def clock(self) -> _dt.datetime:
        return self.base + _dt.timedelta(milliseconds=self.ms)

    @clock.setter
    def clock(self, value: _dt.datetime) -> None:
        self.ms = int((value - self.base) / _dt.timedelta(milliseconds=1))

    def stamp(self) -> str:
        """``Fri Oct 15 17:09:46.677 1999 Pacific Daylight Time`` for the current clock."""
        hour, rest = divmod(self.ms + self._offset, 3_600_000)
        if hour != self._hour:           # formatting a date is slow: once per hour of log time
            moment = self._base_hour + _dt.timedelta(hours=hour)
            zone = "Pacific Daylight Time" if _us_dst(moment) else "Pacific Standard Time"
            self._hour = hour
            self._hour_parts = (moment.strftime("%a %b %d %H:"), f" {moment.year} {zone}")
        minute, rest = divmod(rest, 60_000)
        second, millis = divmod(rest, 1000)
        return f"{self._hour_parts[0]}{minute:02d}:{second:02d}.{millis:03d}{self._hour_parts[1]}"

    def tick(self, max_ms: int = 1500) -> None:
        self.ms += int(self._random() * (max_ms + 1))

    def entry(self, text: str, thread: int, wrap: bool = False, advance: bool = True) -> None:
        if advance:
            self.tick()
        head = f"{text}  $$<{COMPONENT}><{self.stamp()}><thread={thread} "
        tail = f"(0x{thread:X})>"
        line = head + ("\r\n" if wrap else "") + tail + "\r\n"
        self._raw(line.encode(self.codec))

    def text(self, text: str) -> None:
        self._raw(text.encode(self.codec, errors="replace"))

    def garbage(self, data: bytes) -> None:
        self._raw(data)


_NOISE_PATHS = ["INCOMING", "INCOMING\\retry", "INCOMING\\low"]


def _noise_line(rng: random.Random, site: dict, known: list[str], sizes_kb: dict) -> tuple[str, str]:
    """One unrelated but realistic Distribution Manager line: (text, thread role).

    Never matches the probe's LogPattern (deleting/deleted the package, adding package), so the
    probe's answer does not grow with the size of the log. Lines about a package only name
    packages already added in the log (``known``) and give their real compressed size.
    """
    makers, cumulative = _NOISE_TABLES[bool(known)]
    make = makers[bisect.bisect(cumulative, rng.random() * cumulative[-1])]
    return make(rng, site, known[int(rng.random() * len(known))] if known else "", sizes_kb)


def _random_name(rng: random.Random) -> str:
    return "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") for _unused in range(8))


# (weight, maker(rng, site, pid, sizes_kb) -> (text, role), needs a package)
_NOISE = [
    (14, lambda r, s, p, k: ("~Used 0 out of 3 allowed processing threads.", "main"), False),
    (2, lambda r, s, p, k: ("~Sleep 1800 seconds...", "main"), False),
    (10, lambda r, s, p, k: (f"~Processing incoming file {s['install_dir']}\\inboxes\\distmgr.box\\"
                             f"{r.choice(_NOISE_PATHS)}\\{_random_name(r)}.PKG.", "main"), False),
    (3, lambda r, s, p, k: (f"~SQL Msg #99901> This PkgID ({r.randint(100, 999)}{r.randint(0, 0xFFFFF):05X}) "
                            "does not exist in the parent table, SMSPackages.~", "main"), False),
    (5, lambda r, s, p, k: (f"~Site {s['site_code']}: no new package instructions in "
                            f"{s['install_dir']}\\inboxes\\distmgr.box\\INCOMING.", "main"), False),
    (4, lambda r, s, p, k: ("~Error 32: The process cannot access the file because it is being used by "
                            "another process.", "pkg"), False),
    (6, lambda r, s, p, k: ("~Exiting package processing thread.", "pkg"), False),
    (10, lambda r, s, p, k: (f"~Package {p} uses the compressed copy of the source directory.", "pkg"), True),
    (8, lambda r, s, p, k: (f"The compressed size of package {p} is {k[p]} KBytes", "pkg"), True),
    (8, lambda r, s, p, k: (f"~The package share {s['drives'][0]}:\\SMSPKG{s['drives'][0]}$\\{p} is up to date.",
                            "pkg"), True),
    (7, lambda r, s, p, k: (f"~Package {p} does not need to be sent to any child site.", "pkg"), True),
    (6, lambda r, s, p, k: (f"~Updating the package {p} on the distribution point "
                            f"\\\\{s['name'].upper()}\\SMSPKG{s['drives'][0]}$.", "pkg"), True),
    (5, lambda r, s, p, k: (f"~Package {p} requires a newer version (2) of source files and the new compressed "
                            f"files hasn't arrived yet, current version is 1, skip {s['install_dir']}\\inboxes\\"
                            f"distmgr.box\\INCOMING\\{_random_name(r)}.PKG", "pkg"), True),
    (4, lambda r, s, p, k: (f"~Cannot update the package {p} in the package source, error = 8", "pkg"), True),
]
_NOISE_TABLES = {
    known: ([m for _unused, m, needs in _NOISE if known or not needs],
            list(itertools.accumulate(w for w, _unused, needs in _NOISE if known or not needs)))
    for known in (False, True)
}


class _Threads:
    """Thread ids: one main thread, package threads started with the KB's 'Starting' line."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.main = rng.randint(150, 260)
        self.pool = [rng.randint(261, 990) for _unused in range(6)]

    def new(self) -> int:
        return self.rng.randint(261, 990)

    def any_pkg(self) -> int:
        return self.rng.choice(self.pool)


def _package_sequence(kind: str, pid: str, threads: _Threads, size_kb: int, rng: random.Random):
    """What one package thread writes: a list of atoms, each a list of (text, thread, same_ms)
    lines written together (nothing else comes between them)."""
    thread = threads.new()
    start = [[(f"~Starting package processing thread,thread ID = {thread:X}", threads.main, False)]]
    if kind == "add":
        body = [[(f"Start adding package {pid}...", thread, False)]]
        if rng.random() < 0.5:
            body.append([(f"~Package {pid} uses the compressed copy of the source directory.", thread, False)])
        else:
            body.append([(f"~Package {pid} doesn't have a compressed copy of the source directory, "
                          f"starting the compression.", thread, False)])
        body.append([(f"The compressed size of package {pid} is {size_kb} KBytes", thread, False)])
        body.append([(f"~Successfully created/updated the package {pid}", thread, False)])
    elif kind == "claim":       # the KB's false claim: same millisecond, the .PCK stays
        body = [[(f"Start deleting the package {pid}...", thread, False),
                 (f"~Successfully deleted the package {pid}", thread, True)]]
    elif kind == "deleting":    # ActionInProgress 3: started, not finished yet
        body = [[(f"Start deleting the package {pid}...", thread, False)]]
    else:
        raise AssertionError(kind)
    return start + body + [[("~Exiting package processing thread.", thread, False)]]


def _merge(sequences: list[list], rng: random.Random) -> list:
    """Interleave the threads' sequences, each kept in its own order."""
    sequences = [list(s) for s in sequences if s]
    positions = [0] * len(sequences)
    merged = []
    live = list(range(len(sequences)))
    while live:
        index = rng.choice(live[:3])          # a few threads run at a time
        merged.append(sequences[index][positions[index]])
        positions[index] += 1
        if positions[index] == len(sequences[index]):
            live.remove(index)
    return merged


def _write_events(writer: _LogWriter, bursts: list[list], site: dict, known: list[str], sizes_kb: dict,
                  rng: random.Random, threads: _Threads, target: int = 0, noise: int = 0,
                  wrap_first_claim: list | None = None, corrupt: bool = False, prefix: list = (),
                  added_at: dict | None = None) -> None:
    """Write ``prefix``, then the bursts of events interleaved with noise; pad up to ``target``
    bytes if set (each burst then stays together, spread over the padded file).

    ``known`` (packages the log has seen added and that are still active) grows as adds are written;
    ``added_at`` gets, per package, the UTC time its compressed copy was written (end of its add).
    """
    pools: dict[int, list] = {}
    adding = re.compile(r"^Start adding package (\S{8})\.\.\.$")
    created = "~Successfully created/updated the package "

    def corruption(kind: str, thread: int = 0, text: str = "") -> None:
        if kind == "garbage":
            writer.garbage(rng.randbytes(rng.randint(8, 200)))
        elif kind == "nul":
            writer.garbage(b"\x00" * rng.randint(16, 512))
        else:       # a truncated entry (the service died mid-write)
            thread = thread or threads.main
            full = f"{text}  $$<{COMPONENT}><{writer.stamp()}><thread={thread} (0x{thread:X})>"
            writer.text(full[: rng.randint(5, len(full) - 2)] + "\r\n")

    def put(atom):
        for text, thread, same_ms in atom:
            if thread is None:          # a corruption marker (see _write_distmgr_logs)
                corruption(*text)
                continue
            match = adding.match(text)
            if match and match.group(1) in sizes_kb and match.group(1) not in known:
                known.append(match.group(1))
            wrap = False
            if wrap_first_claim is not None and not wrap_first_claim and text.startswith("Start deleting the package"):
                wrap = True
                wrap_first_claim.append(text)
            writer.entry(text, thread, wrap=wrap, advance=not same_ms)
            if added_at is not None and text.startswith(created):
                added_at.setdefault(text[len(created):], _local_to_utc(writer.clock))

    def put_noise():
        # Lines come from a pool per state of ``known`` (it only grows): rendering each line
        # afresh is what made 20 MB logs slow.
        pool = pools.get(len(known))
        if pool is None:
            pool = pools[len(known)] = [_noise_line(rng, site, known, sizes_kb) for _unused in range(1024)]
        text, role = pool[int(rng.random() * 1024)]
        thread = threads.main if role == "main" else threads.any_pkg()
        if corrupt and rng.random() < 0.03:
            corruption(rng.choice(["garbage", "nul", "truncated"]), thread, text)
            return
        writer.entry(text, thread)
        if text.startswith("~Sleep"):
            writer.clock += _dt.timedelta(seconds=1800)

    for event in prefix:
        put(event)
    events = [atom for burst in bursts for atom in burst]
    if target <= 0:
        slots = sorted(rng.sample(range(len(events) + noise), len(events))) if events else []
        slot_set = set(slots)
        event_iter = iter(events)
        for position in range(len(events) + noise):
            if position in slot_set:
                put(next(event_iter))
            else:
                put_noise()
        return
    # Padded: burst k starts once the file reaches (k+1)/(B+1) of the target; noise fills the rest.
    average = 150 * (2 if writer.codec == "utf-16-le" else 1)
    bursts = [burst for burst in bursts if burst]
    estimates = [int(len(burst) * 1.4 * average) for burst in bursts]

    def put_burst(burst):
        for atom in burst:
            put(atom)
            if rng.random() < 0.3:
                put_noise()

    index = 0
    while True:
        reserve = sum(estimates[index:])
        if index < len(bursts) and writer.written >= target * (index + 1) / (len(bursts) + 1) - estimates[index] / 2:
            put_burst(bursts[index])
            index += 1
            continue
        if writer.written + reserve + average // 2 >= target:
            break
        put_noise()
    for burst in bursts[index:]:
        put_burst(burst)


def _write_distmgr_logs(site: dict, logs_dir: Path, seed, active_ids: list[str], pck_sizes: dict,
                        shared_end: float | None = None) -> dict:
    """Distmgr.log (and Distmgr.lo_ with roll-over) for a site whose logging is on.

    Returns {package ID: UTC time its compressed copy was written, as the log tells}. With a shared
    padding (``log_shared``) Distmgr.log holds only the site's own entries and its time is
    ``shared_end``, the last entry of the shared part that follows it.
    """
    added_at: dict[str, float] = {}
    rng = _rng(seed, "log", site["site_code"])
    threads = _Threads(rng)
    corrupt = bool(site["faults"].get("corrupt_log"))
    packages = site["packages"]

    def kb(pid):
        return max(1, math.ceil(pck_sizes.get(pid, 2048) / 1024))

    sizes_kb = {pid: kb(pid) for pid in active_ids}       # noise only ever names active packages
    known: list[str] = []
    # Every package was added first; the deletions the log records come later.
    added = list(active_ids) + list(packages["deleting"]) + [lo["id"] for lo in packages["leftovers"]] \
        + list(packages["deleted"]) + list(packages["reparse_points"])
    # A reparse point stands where a claimed leftover would: only the link check protects it.
    claims_now = ([lo["id"] for lo in packages["leftovers"] if lo["log_claim"] is True]
                  + list(packages["deleted"]) + list(packages["reparse_points"]))
    claims_old = [lo["id"] for lo in packages["leftovers"] if lo["log_claim"] == "rollover"]

    add_events = _merge([_package_sequence("add", p, threads, kb(p), rng) for p in added], rng)
    old_claim_events = _merge([_package_sequence("claim", p, threads, 0, rng) for p in claims_old], rng)
    new_events = _merge([_package_sequence("claim", p, threads, 0, rng) for p in claims_now]
                        + [_package_sequence("deleting", p, threads, 0, rng) for p in packages["deleting"]], rng)
    opening = [[(f"~Distribution Manager started, thread ID = {threads.main:X}", threads.main, False)]]
    if corrupt:
        # at least one of each: binary garbage, a run of NULs, truncated entries (one of them a
        # deletion claim cut inside its package ID), then more at random among the noise
        cut = (claims_now or added or [site["site_code"] + "00001"])[0]
        marks = [[(("garbage",), None, False)], [(("nul",), None, False)],
                 [(("truncated", 0, "~Exiting package processing thread."), None, False)],
                 [(("truncated", 0, f"~Successfully deleted the package {cut[:5]}"), None, False)]]
        new_events = _merge([new_events, marks], rng)

    def finish(writer: _LogWriter) -> None:
        writer.close()
        # last write = last entry; Pacific time is UTC-7 (daylight) or UTC-8 (standard)
        mtime = _local_to_utc(writer.clock)
        os.utime(writer.path, (mtime, mtime))

    clock = EPOCH_1999 + _dt.timedelta(minutes=rng.randint(0, 600))
    wrap_state = [] if site["log_wrapped_entry"] else None
    if site["log_rollover"]:
        writer = _LogWriter(logs_dir / "Distmgr.lo_", site["log_encoding"], clock, rng)
        _write_events(writer, [add_events, old_claim_events], site, known, sizes_kb, rng, threads,
                      noise=40 + rng.randint(0, 40), corrupt=corrupt, prefix=opening,
                      wrap_first_claim=wrap_state if not new_events else None, added_at=added_at)
        finish(writer)
        clock = writer.clock + _dt.timedelta(minutes=rng.randint(1, 30))
        bursts, prefix = [new_events], []
    else:
        bursts, prefix = [add_events, old_claim_events, new_events], opening
    writer = _LogWriter(logs_dir / "Distmgr.log", site["log_encoding"], clock, rng)
    _write_events(writer, bursts, site, known, sizes_kb, rng, threads,
                  target=0 if site["log_shared"] else site["log_bytes"],
                  noise=30 + rng.randint(0, 40), corrupt=corrupt, wrap_first_claim=wrap_state, prefix=prefix,
                  added_at=added_at)
    finish(writer)
    if site["log_shared"] and shared_end is not None:
        os.utime(writer.path, (shared_end, shared_end))
    return added_at


SHARED_LOG_START = EPOCH_1999 + _dt.timedelta(days=2)    # after every site's own first entries
_SHARED_SITE = {"name": "smslab", "install_dir": DEFAULT_INSTALL_DIR, "drives": ["D"], "site_code": "LAB"}


def shared_log(state_dir: Path, seed, size: int) -> tuple[str, float]:
    """Write (once) ``size`` bytes of Distribution Manager noise shared by hosts; return its path
    relative to ``state_dir/shared`` and the UTC time of its last entry.

    Noise lines never match the probe's filter and name no package, so the same bytes fit every
    site. An existing file of the same seed and size is reused (its sidecar .json holds the time).
    """
    name = f"logs/{re.sub(r'[^A-Za-z0-9_.-]', '_', str(seed))}-{size}.log"
    target = Path(state_dir) / "shared" / name
    sidecar = target.with_suffix(".json")
    if target.is_file() and sidecar.is_file():
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
        if meta.get("size") == target.stat().st_size:
            return name, float(meta["end"])
    target.parent.mkdir(parents=True, exist_ok=True)
    rng = _rng(seed, "shared-log", size)
    tmp = target.with_suffix(".tmp")
    writer = _LogWriter(tmp, "ascii", SHARED_LOG_START, rng)
    _write_events(writer, [], _SHARED_SITE, [], {}, rng, _Threads(rng), target=size)
    writer.close()
    end = _local_to_utc(writer.clock)
    os.utime(tmp, (end, end))
    os.replace(tmp, target)
    sidecar.write_text(json.dumps({"seed": str(seed), "size": target.stat().st_size, "end": end}) + "\n",
                       encoding="utf-8")
    return name, end
