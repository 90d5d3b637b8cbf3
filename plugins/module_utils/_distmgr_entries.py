"""Distmgr.log entries from text lines: the entry assembler, its bounds and the entry's fields.

A helper private to this collection: import its names through ``distmgr_log``. The assembler is the one state machine
of both ways in (every line, and the fast path's candidate lines), so they cannot disagree on where an entry
starts, ends or is truncated.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Iterable, Iterator

__all__ = ["Assembler", "LogEntry", "MAX_ENTRY_CHARS", "MAX_ENTRY_LINES", "ParseStats", "iter_entries"]

MAX_ENTRY_LINES = 4
MAX_ENTRY_CHARS = 8192

_MARKER = "$$<"
# The end of an entry: the thread tag is closed (SMS 2.0 "<thread=297 (0x129)>",
# SMS 1.2 "<thread=D7>").
_COMPLETE_RE = re.compile(r"<thread=[^<>]*>")
_ENTRY_RE = re.compile(
    r"\$\$<(?P<component>[^<>]*)>\s*<(?P<date>[^<>]*)>\s*<thread=(?P<thread>[^<>]*)>"
)
_THREAD_RE = re.compile(r"\s*(?P<dec>\d+)\s*\(\s*0x(?P<hex>[0-9A-Fa-f]+)\s*\)\s*")
_THREAD_HEX_RE = re.compile(r"\s*(?P<hex>[0-9A-Fa-f]+)\s*")
_DATE_RE = re.compile(
    r"\s*(?:[A-Za-z]{3}\s+)?(?P<mon>[A-Za-z]{3})\s+(?P<day>\d{1,2})\s+"
    r"(?P<H>\d{1,2}):(?P<M>\d{2}):(?P<S>\d{2})(?:\.(?P<ms>\d{1,3}))?\s+(?P<Y>\d{4})"
    r"(?P<tz>[^~]*)~?\s*"
)
_MONTHS = {
    m: i
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}


@dataclass
class ParseStats:
    """Counters of one parse: physical lines, entries, skipped lines, truncated entries, bytes.

    ``invalid_package_ids`` counts deletion/adding messages whose ID is not a valid
    package ID. In the fast path, ``entries`` and ``skipped_lines`` count only the
    lines that were inspected (candidates and their continuations).
    """

    lines: int = 0
    entries: int = 0
    skipped_lines: int = 0
    truncated_entries: int = 0
    bytes: int = 0
    invalid_package_ids: int = 0


@dataclass(frozen=True)
class LogEntry:
    """One log entry. ``timestamp`` is naive local time; ``tz_name`` is the time zone as logged."""

    text: str
    component: str
    timestamp: datetime | None
    tz_name: str | None
    thread_id: int | None
    source: str
    line_no: int


# --------------------------------------------------------------------------- parsing


def _parse_timestamp(date_text: str) -> tuple[datetime | None, str | None]:
    # Fast path for the usual "Fri Oct 15 17:09:46.677 1999 Pacific Daylight Time".
    parts = date_text.split()
    if len(parts) >= 5 and len(parts[3]) == 12 and parts[3][2] == ":" and parts[3][8] == ".":
        clock = parts[3]
        month = _MONTHS.get(parts[1].lower())
        if (
            month is not None and parts[2].isdigit() and parts[4].isdigit()
            and clock[:2].isdigit() and clock[3:5].isdigit() and clock[6:8].isdigit()
            and clock[9:].isdigit() and clock[5] == ":" and "~" not in date_text
        ):
            try:
                ts = datetime(
                    int(parts[4]), month, int(parts[2]), int(clock[:2]), int(clock[3:5]),
                    int(clock[6:8]), int(clock[9:]) * 1000,
                )
            except ValueError:
                ts = None
            return ts, " ".join(parts[5:]) or None
    m = _DATE_RE.fullmatch(date_text)
    if m is None:
        return None, None
    tz = " ".join(m.group("tz").split()) or None
    month = _MONTHS.get(m.group("mon").lower())
    if month is None:
        return None, tz
    ms = m.group("ms")
    try:
        ts = datetime(
            int(m.group("Y")), month, int(m.group("day")),
            int(m.group("H")), int(m.group("M")), int(m.group("S")),
            int(ms.ljust(3, "0")) * 1000 if ms else 0,
        )
    except ValueError:
        return None, tz
    return ts, tz


def _parse_thread(thread_text: str) -> int | None:
    m = _THREAD_RE.fullmatch(thread_text)
    if m is not None:
        return int(m.group("dec"))
    m = _THREAD_HEX_RE.fullmatch(thread_text)
    if m is not None:  # SMS 1.2: hexadecimal thread id
        return int(m.group("hex"), 16)
    return None


class Assembler:
    """Joins wrapped physical lines into entries (the state machine of the parser)."""

    __slots__ = ("source", "stats", "parts", "start_line", "chars")

    def __init__(self, source: str, stats: ParseStats) -> None:
        self.source = source
        self.stats = stats
        self.parts: list[str] | None = None
        self.start_line = 0
        self.chars = 0

    @property
    def pending(self) -> bool:
        return self.parts is not None

    def finish(self) -> None:
        """End of input (or of a contiguous run of lines): a pending entry is truncated."""
        if self.parts is not None:
            self.parts = None
            self.stats.truncated_entries += 1

    def feed(self, line: str, line_no: int) -> LogEntry | None:
        """Feed one physical line (no line ending); return an entry when one completes."""
        marker = line.find(_MARKER)
        if self.parts is not None:
            if marker < 0:
                self.parts.append(line)
                self.chars += len(line)
                text = "\n".join(self.parts)
                if _COMPLETE_RE.search(text, text.find(_MARKER)):
                    nlines = len(self.parts)
                    self.parts = None
                    return self._parse(text, self.start_line, nlines)
                if len(self.parts) >= MAX_ENTRY_LINES or self.chars > MAX_ENTRY_CHARS:
                    self.finish()
                return None
            self.finish()  # a new entry starts: the pending one never ended
        if marker < 0:
            self.stats.skipped_lines += 1
            return None
        if _COMPLETE_RE.search(line, marker):
            return self._parse(line, line_no, 1)
        if len(line) > MAX_ENTRY_CHARS:
            self.stats.truncated_entries += 1
            return None
        self.parts = [line]
        self.start_line = line_no
        self.chars = len(line)
        return None

    def _parse(self, text: str, line_no: int, nlines: int) -> LogEntry | None:
        m = _ENTRY_RE.search(text, text.find(_MARKER))
        if m is None:
            self.stats.skipped_lines += nlines
            return None
        body = " ".join(text[: m.start()].split())
        if body.startswith("~"):
            body = body[1:].lstrip()
        timestamp, tz_name = _parse_timestamp(m.group("date"))
        self.stats.entries += 1
        return LogEntry(
            text=body,
            component=m.group("component").strip(),
            timestamp=timestamp,
            tz_name=tz_name,
            thread_id=_parse_thread(m.group("thread")),
            source=self.source,
            line_no=line_no,
        )


def iter_entries(
    lines: Iterable[str], source: str = "", stats: ParseStats | None = None
) -> Iterator[LogEntry]:
    """Yield the entries of an iterable of text lines (line endings are stripped)."""
    stats = stats if stats is not None else ParseStats()
    asm = Assembler(source, stats)
    line_no = 0
    for line in lines:
        line_no += 1
        stats.lines += 1
        if line.endswith("\n"):
            line = line[:-1]
        if line.endswith("\r"):
            line = line[:-1]
        if "\x00" in line:
            line = line.replace("\x00", "")
        entry = asm.feed(line, line_no)
        if entry is not None:
            yield entry
    asm.finish()
