"""Streaming parser for SMS 2.0 Distmgr.log / Distmgr.lo_ (constant memory).

SMS 2.0 entry format (KB Q244405, Q248969)::

    ~<text>  $$<COMPONENT><Ddd Mon DD HH:MM:SS.mmm YYYY <TZ name>><thread=<dec> (0x<HEX>)>~

An entry may be wrapped over several physical lines (the KB excerpt wraps them). A
physical line with ``$$<`` whose thread tag is not closed continues on the next
line(s), up to ``MAX_ENTRY_LINES`` lines or ``MAX_ENTRY_CHARS`` characters; past
that bound, or when the next line starts a new entry, or at the end of the input,
it is counted as truncated and dropped (a truncated deletion claim is never
trusted). A line without ``$$<`` that does not complete a pending entry is
counted as skipped.

Two ways in:

* ``iter_entries`` / ``iter_entries_from_stream``: every entry, for callers that
  want the whole log;
* ``iter_package_events_from_stream``: the fast path. It scans large byte chunks
  for the candidate phrases and decodes and parses only those lines (plus the
  continuation lines of a wrapped candidate).

One file of ~600 lines on purpose: both ways in share the entry assembler and its bounds, and the fast path
is only correct while it agrees with the full parser line for line (the tests compare them on the same bytes).
"""
from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO, Iterable, Iterator

from ansible_collections.sms.remediation.plugins.module_utils.package_ids import (
    PackageIdError,
    validate_package_id,
)

__all__ = [
    "DEFAULT_COMPONENT",
    "LogEntry",
    "MAX_ENTRY_CHARS",
    "MAX_ENTRY_LINES",
    "PackageEvent",
    "PackageHistory",
    "ParseStats",
    "entries_from_probe_matches",
    "iter_entries",
    "iter_entries_from_stream",
    "iter_package_events",
    "iter_package_events_from_stream",
    "log_entry_from_dict",
    "log_entry_to_dict",
    "package_histories",
]

DEFAULT_COMPONENT = "SMS_DISTRIBUTION_MANAGER"
MAX_ENTRY_LINES = 4
MAX_ENTRY_CHARS = 8192
# A physical line longer than this (no newline in sight: binary garbage, NUL padding)
# is cut into pieces (of about one read chunk), each counted as one line, so memory
# stays bounded.
MAX_LINE_BYTES = 64 * 1024
CHUNK_SIZE = 2 * 1024 * 1024

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
# The messages are fixed strings (single spaces), like the probe's LogPattern.
_EVENT_RE = re.compile(
    r"(?P<phrase>start deleting the package|successfully deleted the package"
    r"|start adding package)\s+(?P<id>[^\s.,;:~'\"()\[\]<>]+)",
    re.IGNORECASE,
)
# Byte needles of the fast path (searched in the lower-cased chunk): every _EVENT_RE
# match contains one of them.
_NEEDLES = (b"deleting the package", b"deleted the package", b"adding package")


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


@dataclass(frozen=True)
class PackageEvent:
    """A deletion/adding message about a package: kind is deleting, deleted or adding."""

    package_id: str
    kind: str
    entry: LogEntry


@dataclass
class PackageHistory:
    """What the logs say about one package, events processed oldest first.

    ``deleted_claim`` is the "Successfully deleted" entry of the last deletion when
    no "Start adding package" followed it (the package was not re-created), else None.
    """

    package_id: str
    last_kind: str
    last_event: PackageEvent
    deleted_claim: LogEntry | None = None
    events: int = 0


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


class _Assembler:
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
    asm = _Assembler(source, stats)
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


# --------------------------------------------------------------------------- bytes


def _decode_line(raw: bytes) -> str:
    """Decode one physical line: UTF-8, else cp1252 (never raises); drop CR and NULs."""
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("cp1252", "replace")
    if "\x00" in text:
        text = text.replace("\x00", "")
    return text


def _sniff(binary_file: BinaryIO, stats: ParseStats) -> tuple[bytes, str | None]:
    """Read the first bytes; return (bytes to process first, UTF-16 codec name or None).

    A byte order mark is consumed here (and counted in ``stats.bytes``).
    """
    head = binary_file.read(4096)
    for bom, codec in ((codecs.BOM_UTF8, None), (codecs.BOM_UTF16_LE, "utf-16-le"),
                       (codecs.BOM_UTF16_BE, "utf-16-be")):
        if head.startswith(bom):
            stats.bytes += len(bom)
            return head[len(bom):], codec
    # BOM-less UTF-16: mostly NULs in odd (LE) or even (BE) positions.
    if len(head) >= 16:
        even, odd = head[0::2], head[1::2]
        if odd.count(0) > 0.9 * len(odd) and even.count(0) < 0.1 * len(even):
            return head, "utf-16-le"
        if even.count(0) > 0.9 * len(even) and odd.count(0) < 0.1 * len(odd):
            return head, "utf-16-be"
    return head, None


def _iter_regions(
    binary_file: BinaryIO, head: bytes, stats: ParseStats, chunk_size: int
) -> Iterator[bytes]:
    """Yield byte regions made of whole lines, each ending with b"\\n" (bounded memory)."""
    carry = head
    stats.bytes += len(head)
    eof = False
    while not eof:
        chunk = binary_file.read(chunk_size)
        if not chunk:
            eof = True
        else:
            stats.bytes += len(chunk)
        buf = carry + chunk if carry else chunk
        if eof:
            if buf:
                yield buf if buf.endswith(b"\n") else buf + b"\n"
            return
        cut = buf.rfind(b"\n")
        if cut < 0:
            if len(buf) > MAX_LINE_BYTES:  # a runaway line: cut it
                yield buf + b"\n"
                carry = b""
            else:
                carry = buf
            continue
        region, carry = buf[: cut + 1], buf[cut + 1 :]
        if len(carry) > MAX_LINE_BYTES:
            region, carry = buf + b"\n", b""
        yield region


def _iter_utf16_lines(
    binary_file: BinaryIO, head: bytes, codec: str, stats: ParseStats, chunk_size: int
) -> Iterator[str]:
    """Yield the text lines of a UTF-16 stream, decoded incrementally."""
    decoder = codecs.getincrementaldecoder(codec)(errors="replace")
    carry = ""
    data = head
    stats.bytes += len(head)
    while True:
        final = not data
        text = carry + decoder.decode(data, final=final)
        lines = text.split("\n")
        carry = lines.pop()
        if len(carry) > MAX_LINE_BYTES:
            lines.append(carry)
            carry = ""
        yield from lines
        if final:
            if carry:
                yield carry
            return
        data = binary_file.read(chunk_size)
        stats.bytes += len(data)


def _iter_stream_lines(
    binary_file: BinaryIO, stats: ParseStats, chunk_size: int
) -> Iterator[str]:
    head, codec = _sniff(binary_file, stats)
    if codec is not None:
        yield from _iter_utf16_lines(binary_file, head, codec, stats, chunk_size)
        return
    for region in _iter_regions(binary_file, head, stats, chunk_size):
        parts = region.split(b"\n")
        parts.pop()  # the region ends with b"\n"
        for raw in parts:
            yield _decode_line(raw)


def iter_entries_from_stream(
    binary_file: BinaryIO,
    source: str = "",
    stats: ParseStats | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> Iterator[LogEntry]:
    """Yield every entry of a binary file object (UTF-16 with BOM, else UTF-8/cp1252 per line)."""
    stats = stats if stats is not None else ParseStats()
    yield from iter_entries(_iter_stream_lines(binary_file, stats, chunk_size), source, stats)


# --------------------------------------------------------------------------- events


def _events_of(
    entry: LogEntry, component: str | None, stats: ParseStats | None
) -> Iterator[PackageEvent]:
    if component is not None and entry.component.upper() != component.upper():
        return
    for m in _EVENT_RE.finditer(entry.text):
        phrase = m.group("phrase").lower()
        kind = "deleted" if phrase.startswith("successfully") else (
            "deleting" if "deleting" in phrase else "adding"
        )
        try:
            package_id = validate_package_id(m.group("id"))
        except PackageIdError:
            if stats is not None:
                stats.invalid_package_ids += 1
            continue
        yield PackageEvent(package_id=package_id, kind=kind, entry=entry)


def iter_package_events(
    entries: Iterable[LogEntry],
    stats: ParseStats | None = None,
    component: str | None = DEFAULT_COMPONENT,
) -> Iterator[PackageEvent]:
    """Yield deleting/deleted/adding events of valid package IDs, in entry order.

    Only entries of ``component`` count (None: any component). Messages with an
    invalid package ID are ignored and counted in ``stats.invalid_package_ids``.
    """
    for entry in entries:
        yield from _events_of(entry, component, stats)


def iter_package_events_from_stream(
    binary_file: BinaryIO,
    source: str = "",
    stats: ParseStats | None = None,
    component: str | None = DEFAULT_COMPONENT,
    chunk_size: int = CHUNK_SIZE,
) -> Iterator[PackageEvent]:
    """Fast path: yield the package events of a binary log, parsing only candidate lines.

    Reads ``chunk_size`` bytes at a time, finds the phrases "the package" and
    "adding package" (case-insensitive) at the byte level and decodes and parses only
    those lines and the continuation lines of wrapped candidates.
    """
    stats = stats if stats is not None else ParseStats()
    head, codec = _sniff(binary_file, stats)
    if codec is not None:
        lines = _iter_utf16_lines(binary_file, head, codec, stats, chunk_size)
        yield from iter_package_events(iter_entries(lines, source, stats), stats, component)
        return
    asm = _Assembler(source, stats)
    line_no = 0  # lines before the current position
    for region in _iter_regions(binary_file, head, stats, chunk_size):
        size = len(region)
        lower = region.lower()
        hits = [lower.find(needle) for needle in _NEEDLES]
        pos = 0
        while pos < size:
            if asm.pending:  # continuation lines of a wrapped candidate
                end = region.find(b"\n", pos)
                line_no += 1
                entry = asm.feed(_decode_line(region[pos:end]), line_no)
                pos = end + 1
                if entry is not None:
                    yield from _events_of(entry, component, stats)
                continue
            for i, hit in enumerate(hits):
                if 0 <= hit < pos:
                    hits[i] = lower.find(_NEEDLES[i], pos)
            hit = min((h for h in hits if h >= 0), default=-1)
            if hit < 0:
                break
            nl = region.rfind(b"\n", pos, hit)
            start = pos if nl < 0 else nl + 1
            line_no += region.count(b"\n", pos, start) + 1
            end = region.find(b"\n", hit)
            entry = asm.feed(_decode_line(region[start:end]), line_no)
            pos = end + 1
            if entry is not None:
                yield from _events_of(entry, component, stats)
        if pos < size:
            line_no += region.count(b"\n", pos)
        stats.lines = line_no
    asm.finish()
    stats.lines = line_no


def entries_from_probe_matches(
    files: list[dict], stats: ParseStats | None = None
) -> Iterator[LogEntry]:
    """Yield the entries of the probe's ``distmgr_log.files`` list, files in the given order.

    Each match is ``{"line": n, "text": s}`` where ``s`` may hold one "\\n" (a wrapped
    entry and its next line); the source of each entry is the file's path.
    """
    stats = stats if stats is not None else ParseStats()
    for index, file_info in enumerate(files or []):
        if not isinstance(file_info, dict):
            raise ValueError(f"distmgr_log.files[{index}]={file_info!r}: expected a dict")
        path = file_info.get("path") or ""
        matches = file_info.get("matches") or []
        if not isinstance(matches, list):
            raise ValueError(f"distmgr_log.files[{index}].matches in {path!r}: expected a list")
        asm = _Assembler(path, stats)
        for match in matches:
            if not isinstance(match, dict):
                raise ValueError(f"match {match!r} in {path!r}: expected a dict with line and text")
            line = match.get("line")
            text = match.get("text")
            if isinstance(line, bool) or not isinstance(line, int) or line < 1:
                raise ValueError(f"match line {line!r} in {path!r}: expected a positive integer")
            if not isinstance(text, str):
                raise ValueError(f"match text {text!r} in {path!r} line {line}: expected a string")
            for offset, physical in enumerate(text.split("\n")):
                stats.lines += 1
                physical = physical.rstrip("\r").replace("\x00", "")
                entry = asm.feed(physical, line + offset)
                if entry is not None:
                    yield entry
            asm.finish()  # matches are not contiguous: an unfinished entry is truncated


def package_histories(events: Iterable[PackageEvent]) -> dict[str, PackageHistory]:
    """Fold events (oldest first: Distmgr.lo_ then Distmgr.log) into a history per package ID.

    A "deleted" event sets the standing claim; a later "adding" (re-creation) clears it.
    """
    histories: dict[str, PackageHistory] = {}
    for event in events:
        history = histories.get(event.package_id)
        if history is None:
            history = PackageHistory(event.package_id, event.kind, event)
            histories[event.package_id] = history
        history.last_kind = event.kind
        history.last_event = event
        history.events += 1
        if event.kind == "deleted":
            history.deleted_claim = event.entry
        elif event.kind == "adding":
            history.deleted_claim = None
    return histories


def log_entry_to_dict(entry: LogEntry | None) -> dict | None:
    """JSON-safe view of a LogEntry (None stays None); ``log_entry_from_dict`` reads it back."""
    if entry is None:
        return None
    return {
        "text": entry.text,
        "time": entry.timestamp.isoformat() if entry.timestamp is not None else None,
        "tz_name": entry.tz_name,
        "thread": entry.thread_id,
        "source": entry.source,
        "line": entry.line_no,
        "component": entry.component,
    }


def log_entry_from_dict(raw) -> LogEntry | None:
    """A LogEntry from ``log_entry_to_dict`` (None, or a dict without text, reads as no entry)."""
    if not isinstance(raw, dict) or not isinstance(raw.get("text"), str):
        return None
    try:
        timestamp = datetime.fromisoformat(raw["time"]) if isinstance(raw.get("time"), str) else None
    except ValueError:
        timestamp = None
    line = raw.get("line")
    return LogEntry(text=raw["text"], component=str(raw.get("component") or ""), timestamp=timestamp,
                    tz_name=raw.get("tz_name"), thread_id=raw.get("thread"), source=str(raw.get("source") or ""),
                    line_no=line if isinstance(line, int) else 0)
