from __future__ import annotations

import io
import random
import time
import tracemalloc
from datetime import datetime
from pathlib import Path

import pytest

from ansible_collections.sms.remediation.plugins.module_utils.distmgr_log import (
    LogEntry,
    ParseStats,
    entries_from_probe_matches,
    iter_entries,
    iter_entries_from_stream,
    iter_package_events,
    iter_package_events_from_stream,
    package_histories,
)

# The KB as the project's shared seeds hold it, next to the repository (../shared/seeds/). The excerpt below
# is carried here, so every other test runs from any clone; this one checks the copy against the KB.
# The KB's own text (a copy of ../shared/seeds/Q244405.txt kept with the tests, so every clone has it).
KB_FILE = Path(__file__).resolve().parents[2] / "fixtures" / "Q244405.txt"

# The KB's excerpt, exactly as wrapped in the KB (the KB indents it with one tab).
KB_EXCERPT = [
    "~Starting package processing thread,thread ID = 129  $$<SMS_DISTRIBUTION_MANAGER>",
    "<Fri Oct 15 17:09:46.507 1999 Pacific Daylight Time><thread=225 (0xE1)>",
    "...",
    "Start deleting the package 61000012...  $$<SMS_DISTRIBUTION_MANAGER><Fri Oct 15 17:09:46.677 1999 Pacific Daylight Time><thread=297 ",
    "(0x129)>",
    "~Successfully deleted the package 61000012  $$<SMS_DISTRIBUTION_MANAGER><Fri Oct 15 17:09:46.677 1999",
]
TAIL = "  $$<SMS_DISTRIBUTION_MANAGER><{date} 1999 Pacific Daylight Time><thread={t} (0x{t:X})>"


def line(text: str, t: int = 297, date: str = "Fri Oct 15 17:09:46.677", comp: str | None = None) -> str:
    tail = TAIL.format(date=date, t=t)
    if comp:
        tail = tail.replace("SMS_DISTRIBUTION_MANAGER", comp)
    return text + tail


def events_of_bytes(data: bytes, **kw) -> list[tuple[str, str, int]]:
    return [(e.package_id, e.kind, e.entry.line_no)
            for e in iter_package_events_from_stream(io.BytesIO(data), **kw)]


def events_full(data: bytes) -> list[tuple[str, str, int]]:
    return [(e.package_id, e.kind, e.entry.line_no)
            for e in iter_package_events(iter_entries_from_stream(io.BytesIO(data)))]


def test_kb_excerpt_is_the_kb_text():
    kb_lines = [ln[1:] if ln.startswith("\t") else ln for ln in KB_FILE.read_text().splitlines()]
    start = kb_lines.index(KB_EXCERPT[0])
    assert kb_lines[start:start + len(KB_EXCERPT)] == KB_EXCERPT


def test_kb_excerpt_entries():
    stats = ParseStats()
    entries = list(iter_entries(KB_EXCERPT, source="kb", stats=stats))
    assert entries == [
        LogEntry("Starting package processing thread,thread ID = 129", "SMS_DISTRIBUTION_MANAGER",
                 datetime(1999, 10, 15, 17, 9, 46, 507000), "Pacific Daylight Time", 225, "kb", 1),
        LogEntry("Start deleting the package 61000012...", "SMS_DISTRIBUTION_MANAGER",
                 datetime(1999, 10, 15, 17, 9, 46, 677000), "Pacific Daylight Time", 297, "kb", 4),
    ]
    # "..." is skipped; the KB cuts the "Successfully deleted" entry: truncated, never trusted.
    assert stats == ParseStats(lines=6, entries=2, skipped_lines=1, truncated_entries=1, bytes=0)


def test_kb_excerpt_with_tab_indent_and_crlf():
    entries = list(iter_entries(["\t" + ln + "\r\n" for ln in KB_EXCERPT]))
    assert [(e.text, e.thread_id, e.line_no) for e in entries] == [
        ("Starting package processing thread,thread ID = 129", 225, 1),
        ("Start deleting the package 61000012...", 297, 4),
    ]


def test_kb_excerpt_completed_gives_claim():
    lines = KB_EXCERPT[:-1] + [KB_EXCERPT[-1], " Pacific Daylight Time><thread=297 (0x129)>~"]
    events = list(iter_package_events(iter_entries(lines, source="Distmgr.log")))
    assert [(e.package_id, e.kind, e.entry.line_no) for e in events] == [
        ("61000012", "deleting", 4), ("61000012", "deleted", 6)]
    assert events[1].entry.tz_name == "Pacific Daylight Time"
    hist = package_histories(events)
    assert list(hist) == ["61000012"]
    assert hist["61000012"].last_kind == "deleted"
    assert hist["61000012"].deleted_claim is events[1].entry
    assert hist["61000012"].events == 2
    data = ("\r\n".join(lines) + "\r\n").encode()
    assert events_of_bytes(data) == [("61000012", "deleting", 4), ("61000012", "deleted", 6)]


def realistic_log() -> list[str]:
    return [
        line("~Starting package processing thread,thread ID = 129", t=225),
        line("~Starting package processing thread,thread ID = 12A", t=226),
        line("Start deleting the package 61000012...", t=297),
        line("Start adding package 61000013...", t=298),
        line("~The package share directory D:\\SMSPKGD$\\61000012 is not empty, cannot remove the share", t=297),
        line("~Package 61000013 doesn't have a compressed copy of the source directory, starting the compression.", t=298),
        line("~Successfully deleted the package 61000012", t=297),
        "garbage without a marker",
        line("~Start deleting the package 60000001...", t=300),
        line("~Successfully deleted the package 60000001~", t=300),
        line("~start ADDING package 60000001...", t=301),
        line("~Exiting package processing thread.", t=298),
    ]


def test_realistic_interleaved_threads():
    lines = realistic_log()
    stats = ParseStats()
    events = list(iter_package_events(iter_entries(lines, "Distmgr.log", stats), stats))
    assert [(e.package_id, e.kind, e.entry.thread_id, e.entry.line_no) for e in events] == [
        ("61000012", "deleting", 297, 3),
        ("61000013", "adding", 298, 4),
        ("61000012", "deleted", 297, 7),
        ("60000001", "deleting", 300, 9),
        ("60000001", "deleted", 300, 10),
        ("60000001", "adding", 301, 11),
    ]
    assert stats == ParseStats(lines=12, entries=11, skipped_lines=1, truncated_entries=0)
    hist = package_histories(events)
    assert hist["61000012"].deleted_claim.line_no == 7
    assert hist["60000001"].deleted_claim is None  # re-created after the claim
    assert hist["60000001"].last_kind == "adding"
    assert hist["61000013"].deleted_claim is None
    data = ("\r\n".join(lines) + "\r\n").encode()
    fast = events_of_bytes(data)
    assert fast == [(e.package_id, e.kind, e.entry.line_no) for e in events]
    assert fast == events_full(data)


def test_rollover_order_oldest_first():
    older = [line("~Successfully deleted the package 61000012")]
    newer = [line("~Start adding package 61000012...")]

    def run(*files):
        events = []
        for name, lines in files:
            events += iter_package_events(iter_entries(lines, source=name))
        return package_histories(events)

    hist = run(("Distmgr.lo_", older), ("Distmgr.log", newer))
    assert hist["61000012"].deleted_claim is None
    hist = run(("Distmgr.lo_", newer), ("Distmgr.log", older))
    assert hist["61000012"].deleted_claim.source == "Distmgr.log"
    # a second deletion after a re-creation is a new standing claim
    hist = run(("Distmgr.lo_", older + newer), ("Distmgr.log", older))
    assert hist["61000012"].deleted_claim.source == "Distmgr.log"
    assert hist["61000012"].events == 3


def test_invalid_ids_ignored_and_counted():
    lines = [
        line("Start deleting the package 6100001..."),
        line("~Successfully deleted the package \uff16\uff11\uff10\uff10\uff10\uff10\uff11\uff12"),
        line("~Successfully deleted the package 6100001G"),
        line("~Successfully deleted the package 61000012"),
    ]
    stats = ParseStats()
    events = list(iter_package_events(iter_entries(lines, stats=stats), stats))
    assert [(e.package_id, e.kind) for e in events] == [("61000012", "deleted")]
    assert stats.invalid_package_ids == 3
    data = "\n".join(lines).encode("utf-8")
    fast_stats = ParseStats()
    assert events_of_bytes(data, stats=fast_stats) == [("61000012", "deleted", 4)]
    assert fast_stats.invalid_package_ids == 3


def test_other_component_ignored_unless_asked():
    lines = [line("~Successfully deleted the package 61000012", comp="SMS_SCHEDULER")]
    assert list(iter_package_events(iter_entries(lines))) == []
    events = list(iter_package_events(iter_entries(lines), component=None))
    assert [(e.package_id, e.entry.component) for e in events] == [("61000012", "SMS_SCHEDULER")]


def test_mixed_encodings_in_one_file():
    data = (
        line("~Start deleting the package 61000012... caf\u00e9").encode("utf-8") + b"\r\n"
        + line("~Successfully deleted the package 61000012 r\u00e9pertoire").encode("cp1252") + b"\r\n"
        + b"\x81\x8d\x90 undefined cp1252 bytes\r\n"
    )
    stats = ParseStats()
    entries = list(iter_entries_from_stream(io.BytesIO(data), "x", stats))
    assert [e.text for e in entries] == [
        "Start deleting the package 61000012... caf\u00e9",
        "Successfully deleted the package 61000012 r\u00e9pertoire",
    ]
    assert stats == ParseStats(lines=3, entries=2, skipped_lines=1, bytes=len(data))
    assert events_of_bytes(data) == [("61000012", "deleting", 1), ("61000012", "deleted", 2)]


@pytest.mark.parametrize("encoding, bom", [("utf-16-le", b"\xff\xfe"), ("utf-16-be", b"\xfe\xff"),
                                           ("utf-16-le", b""), ("utf-8", b"\xef\xbb\xbf")])
def test_utf16_and_boms(encoding, bom):
    lines = realistic_log()
    data = bom + ("\r\n".join(lines) + "\r\n").encode(encoding)
    expected = [
        ("61000012", "deleting", 3), ("61000013", "adding", 4), ("61000012", "deleted", 7),
        ("60000001", "deleting", 9), ("60000001", "deleted", 10), ("60000001", "adding", 11),
    ]
    assert events_full(data) == expected
    assert events_of_bytes(data) == expected
    assert events_of_bytes(data, chunk_size=7) == expected
    stats = ParseStats()
    assert len(list(iter_entries_from_stream(io.BytesIO(data), stats=stats, chunk_size=5))) == 11
    assert stats.bytes == len(data)
    assert stats.lines == 12


def test_empty():
    stats = ParseStats()
    assert list(iter_entries_from_stream(io.BytesIO(b""), stats=stats)) == []
    assert stats == ParseStats()
    assert events_of_bytes(b"") == []
    assert list(iter_entries([])) == []
    assert package_histories([]) == {}


def test_binary_garbage_never_raises():
    rng = random.Random(244405)
    garbage = rng.randbytes(300_000)
    good = line("~Successfully deleted the package 61000012").encode()
    data = garbage + b"\n" + good + b"\n" + garbage
    stats = ParseStats()
    entries = list(iter_entries_from_stream(io.BytesIO(data), stats=stats))
    assert "Successfully deleted the package 61000012" in [e.text for e in entries]
    assert stats.bytes == len(data)
    assert [(p, k) for p, k, _unused in events_of_bytes(data)] == [("61000012", "deleted")]
    assert [(p, k) for p, k, _unused in events_of_bytes(data, chunk_size=4096)] == [("61000012", "deleted")]


def test_nul_bytes_and_nul_padding():
    padded = b"\x00" * 200_000  # a log pre-allocated with NULs, no newline
    entry = line("~Successfully deleted the package 61000012").encode()
    interleaved = b"\x00".join(bytes([c]) for c in entry)  # NULs between the bytes
    data = padded + b"\n" + entry + b"\r\n" + interleaved + b"\r\n" + padded
    entries = list(iter_entries_from_stream(io.BytesIO(data)))
    assert [e.text for e in entries] == ["Successfully deleted the package 61000012"] * 2
    assert events_of_bytes(data)[0][:2] == ("61000012", "deleted")


def test_truncated_mid_entry():
    lines = [line("~Start deleting the package 61000012..."),
             "~Successfully deleted the package 61000012  $$<SMS_DISTRIBUTION_MANAGER><Fri Oct 15 17:09"]
    stats = ParseStats()
    events = list(iter_package_events(iter_entries(lines, stats=stats)))
    assert [e.kind for e in events] == ["deleting"]
    assert stats.truncated_entries == 1
    data = "\n".join(lines).encode()  # no final newline: cut mid-entry
    fast_stats = ParseStats()
    assert events_of_bytes(data, stats=fast_stats) == [("61000012", "deleting", 1)]
    assert fast_stats.truncated_entries == 1
    assert fast_stats.lines == 2


def test_wrapped_entry_bound_and_new_entry_interrupts():
    lines = [
        "~Successfully deleted the package 61000012  $$<SMS_DISTRIBUTION_MANAGER><Fri Oct 15",
        "a", "b", "c",  # 4 physical lines without the thread tag: truncated
        " 17:09:46.677 1999 Pacific Daylight Time><thread=1 (0x1)>",
        "~Successfully deleted the package 61000013  $$<SMS_DISTRIBUTION_MANAGER><Fri Oct 15",
        line("~Start adding package 61000013..."),  # a new entry: the pending one is truncated
    ]
    stats = ParseStats()
    events = list(iter_package_events(iter_entries(lines, stats=stats)))
    assert [(e.package_id, e.kind, e.entry.line_no) for e in events] == [("61000013", "adding", 7)]
    assert stats == ParseStats(lines=7, entries=1, skipped_lines=1, truncated_entries=2)
    data = "\n".join(lines).encode()
    for chunk in (3, 50, 1 << 20):
        assert events_of_bytes(data, chunk_size=chunk) == [("61000013", "adding", 7)]


def test_wrapped_over_three_lines_and_chunk_boundaries():
    lines = [
        "filler",
        "Start deleting the package 61000012...  $$<SMS_DISTRIBUTION_MANAGER>",
        "<Fri Oct 15 17:09:46.677 1999",
        " Pacific Daylight Time><thread=297 ",
        "(0x129)>",
        "~Successfully deleted the package 61000012  $$<SMS_DISTRIBUTION_MANAGER><Fri Oct 15 17:09:46.677 1999",
        " Pacific Daylight Time><thread=297 (0x129)>",
    ]
    data = "\r\n".join(lines).encode()
    expected = [("61000012", "deleting", 2), ("61000012", "deleted", 6)]
    assert events_full(data) == expected
    for chunk in range(1, 40):
        assert events_of_bytes(data, chunk_size=chunk) == expected, chunk
    entry = next(iter_entries(lines[1:5]))
    assert (entry.timestamp, entry.tz_name, entry.thread_id) == (
        datetime(1999, 10, 15, 17, 9, 46, 677000), "Pacific Daylight Time", 297)


def test_timestamps_and_thread_variants():
    entries = list(iter_entries([
        line("~a", date="Fri Feb 30 17:09:46.677"),                 # impossible date
        "~b  $$<SMS_SCHEDULER><Wed Nov 06 08:49:37 1996~><thread=D7>",  # SMS 1.2 format
        "~c  $$<SMS_DISTRIBUTION_MANAGER><garbage date><thread=x>",
        "~d  $$<SMS_DISTRIBUTION_MANAGER><Fri Oct 15 17:09:46.5 1999 Pacific Standard Time><thread=9 (0x9)>",
    ]))
    assert [(e.text, e.timestamp, e.tz_name, e.thread_id) for e in entries] == [
        ("a", None, "Pacific Daylight Time", 297),
        ("b", datetime(1996, 11, 6, 8, 49, 37), None, 0xD7),
        ("c", None, None, None),
        ("d", datetime(1999, 10, 15, 17, 9, 46, 500000), "Pacific Standard Time", 9),
    ]


def test_overlong_line_is_bounded():
    data = b"x" * (3 * 1024 * 1024) + b"\n" + line("~Start adding package 61000012...").encode() + b"\n"
    # the 3 MB line is cut into 32 pieces of one 100 KB read each, counted as lines
    assert events_of_bytes(data, chunk_size=100_000) == [("61000012", "adding", 33)]
    stats = ParseStats()
    entries = list(iter_entries_from_stream(io.BytesIO(data), stats=stats, chunk_size=100_000))
    assert [(e.text, e.line_no) for e in entries] == [("Start adding package 61000012...", 33)]
    assert stats.skipped_lines == 32


def test_fast_path_matches_full_parse_on_random_logs():
    rng = random.Random(7)
    pool = realistic_log() + KB_EXCERPT + ["", "\x00\x00", "Start deleting the package"]
    for _unused in range(30):
        lines = [rng.choice(pool) for _unused in range(rng.randint(0, 60))]
        data = "\n".join(lines).encode("cp1252", "replace")
        full = events_full(data)
        assert events_of_bytes(data) == full
        assert events_of_bytes(data, chunk_size=rng.randint(1, 300)) == full


def test_entries_from_probe_matches():
    files = [
        {"path": "C:\\SMS\\Logs\\Distmgr.lo_", "exists": True, "size": 10, "matches": [
            {"line": 3, "text": KB_EXCERPT[3] + "\n" + KB_EXCERPT[4]},
            {"line": 9, "text": KB_EXCERPT[5] + "\n" + "RESOLUTION"},  # never completes
        ]},
        {"path": "C:\\SMS\\Logs\\Distmgr.log", "exists": True, "size": 10, "matches": [
            {"line": 12, "text": line("~Successfully deleted the package 61000012")},
        ]},
        {"path": "C:\\SMS\\Logs\\missing.log", "exists": False, "size": None, "matches": []},
    ]
    stats = ParseStats()
    entries = list(entries_from_probe_matches(files, stats))
    assert [(e.source, e.line_no, e.text, e.thread_id) for e in entries] == [
        ("C:\\SMS\\Logs\\Distmgr.lo_", 3, "Start deleting the package 61000012...", 297),
        ("C:\\SMS\\Logs\\Distmgr.log", 12, "Successfully deleted the package 61000012", 297),
    ]
    assert stats.truncated_entries == 1
    hist = package_histories(iter_package_events(entries))
    assert hist["61000012"].deleted_claim.source == "C:\\SMS\\Logs\\Distmgr.log"


@pytest.mark.parametrize(
    "files, fragment",
    [
        (["x"], "distmgr_log.files[0]='x': expected a dict"),
        ([{"path": "p", "matches": "x"}], "distmgr_log.files[0].matches in 'p': expected a list"),
        ([{"path": "p", "matches": [{"line": 0, "text": "x"}]}], "match line 0 in 'p': expected a positive integer"),
        ([{"path": "p", "matches": [{"line": 1, "text": None}]}], "match text None in 'p' line 1: expected a string"),
    ],
)
def test_entries_from_probe_matches_errors(files, fragment):
    with pytest.raises(ValueError) as exc:
        list(entries_from_probe_matches(files))
    assert fragment in str(exc.value)


class RepeatingReader(io.RawIOBase):
    """A binary file of ``total`` bytes made of a repeated block, generated on read."""

    def __init__(self, block: bytes, total: int) -> None:
        self.block, self.total, self.pos = block, total, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        n = min(len(buf), self.total - self.pos)
        if n <= 0:
            return 0
        out = bytearray()
        offset = self.pos % len(self.block)
        while len(out) < n:
            out += self.block[offset: offset + n - len(out)]
            offset = 0
        buf[:n] = out
        self.pos += n
        return n


def test_200mb_log_streams_in_constant_memory():
    lines = []
    for i in range(2000):
        lines.append(line("~Package 61000013 uses the compressed copy of the source directory.", t=i % 500 + 1))
        lines.append(line("~The package share directory D:\\SMSPKGD$\\61000013 is not empty", t=5))
    lines[1000] = line("~Successfully deleted the package 61000012", t=7)
    lines[1001] = line("~Start adding package 61000012...", t=7)
    block = ("\r\n".join(lines) + "\r\n").encode()
    repeats = 200 * 1024 * 1024 // len(block) + 1
    total = repeats * len(block)
    stats = ParseStats()
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        kinds = [e.kind for e in iter_package_events_from_stream(
            io.BufferedReader(RepeatingReader(block, total), 1 << 20), "big", stats)]
        _unused, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    elapsed = time.perf_counter() - t0
    assert kinds == ["deleted", "adding"] * repeats
    assert stats.bytes == total >= 200 * 1024 * 1024
    assert stats.lines == 4000 * repeats
    assert stats.entries == 2 * repeats
    assert peak < 20 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"
    assert elapsed < 60, f"{elapsed:.1f}s"
