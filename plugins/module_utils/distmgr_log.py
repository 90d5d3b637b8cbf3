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

Three files, one job each: ``_distmgr_decoding`` (bytes to lines: BOM, UTF-16, code page),
``_distmgr_entries`` (lines to entries: the assembler and its bounds, shared by both ways in) and this one
(package events, the fast path, histories, the probe's matches); every name is importable from here. The fast
path is only correct while it agrees with the full parser line for line (the tests compare them on the same bytes).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO, Iterable, Iterator

from ansible_collections.sms.remediation.plugins.module_utils._distmgr_decoding import (
    CHUNK_SIZE,
    MAX_LINE_BYTES,
    decode_line,
    iter_regions,
    iter_stream_lines,
    iter_utf16_lines,
    sniff,
)
from ansible_collections.sms.remediation.plugins.module_utils._distmgr_entries import (
    MAX_ENTRY_CHARS,
    MAX_ENTRY_LINES,
    Assembler,
    LogEntry,
    ParseStats,
    iter_entries,
)
from ansible_collections.sms.remediation.plugins.module_utils.package_ids import (
    PackageIdError,
    validate_package_id,
)

__all__ = [
    "CHUNK_SIZE",
    "DEFAULT_COMPONENT",
    "LogEntry",
    "MAX_ENTRY_CHARS",
    "MAX_ENTRY_LINES",
    "MAX_LINE_BYTES",
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
# The messages are fixed strings (single spaces), like the probe's LogPattern.
_EVENT_RE = re.compile(
    r"(?P<phrase>start deleting the package|successfully deleted the package"
    r"|start adding package)\s+(?P<id>[^\s.,;:~'\"()\[\]<>]+)",
    re.IGNORECASE,
)
# Byte needles of the fast path (searched in the lower-cased chunk): every _EVENT_RE
# match contains one of them.
_NEEDLES = (b"deleting the package", b"deleted the package", b"adding package")


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


def iter_entries_from_stream(
    binary_file: BinaryIO,
    source: str = "",
    stats: ParseStats | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> Iterator[LogEntry]:
    """Yield every entry of a binary file object (UTF-16 with BOM, else UTF-8/cp1252 per line)."""
    stats = stats if stats is not None else ParseStats()
    yield from iter_entries(iter_stream_lines(binary_file, stats, chunk_size), source, stats)


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
    head, codec = sniff(binary_file, stats)
    if codec is not None:
        lines = iter_utf16_lines(binary_file, head, codec, stats, chunk_size)
        yield from iter_package_events(iter_entries(lines, source, stats), stats, component)
        return
    asm = Assembler(source, stats)
    line_no = 0  # lines before the current position
    for region in iter_regions(binary_file, head, stats, chunk_size):
        size = len(region)
        lower = region.lower()
        hits = [lower.find(needle) for needle in _NEEDLES]
        pos = 0
        while pos < size:
            if asm.pending:  # continuation lines of a wrapped candidate
                end = region.find(b"\n", pos)
                line_no += 1
                entry = asm.feed(decode_line(region[pos:end]), line_no)
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
            entry = asm.feed(decode_line(region[start:end]), line_no)
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
        asm = Assembler(path, stats)
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
