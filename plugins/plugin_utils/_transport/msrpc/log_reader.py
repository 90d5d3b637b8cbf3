# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Distmgr.log / Distmgr.lo_ read over SMB and filtered on the controller, with a per-host cache (private to this collection).

``LineFilter`` is ``Search-LogFile`` of sms_probe.ps1 in Python: the same physical line numbers, the same
4096-character cut, the same decoding (``Get-LogEncoding``: a UTF-8 / UTF-16 byte order mark, UTF-16
recognised by its zero bytes, else the host's ANSI code page, read from its registry), the same rule
that appends the next physical line to a match whose entry does not end
on it; the LogPattern is the controller's own Python pattern, case-insensitive. The matches then go
through the project's parser (``distmgr_log.entries_from_probe_matches``) exactly as the winrm path's do.
With a LogPattern of plain words (the default) and a single-byte code page, complete lines are taken a
megabyte at a time and only those whose bytes hold a word (``word_search``) are decoded and matched: the
same lines, numbers and entries as one line at a time, at C speed (``benchmarks/bench_log_parser.py``).

``LogCache`` keeps, per host and log file, the offset just past the last complete line scanned, the
sha256 of the file's first 4 KiB, and the scan's state (line count, matches, a pending continuation):
a rerun reads the head, checks it, and scans only the bytes appended since. A different head, a shorter
file, another pattern or an unreadable cache mean a full scan; the cache never decides a fact alone."""

from __future__ import annotations

import codecs
import hashlib
import json
import os
import re
import tempfile
import urllib.parse
from dataclasses import asdict, dataclass, field

from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc import smb1_readahead
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.files import SmbFiles
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.word_search import (
    candidate_lines, fold_table, literal_words)

MAX_LINE_CHARS = 4096            # sms_probe.ps1 $MaxLineChars
HEAD_BYTES = 4096                # the cache's identity of a file: sha256 of its first 4 KiB
READ_CHUNK = 60 * 1024
SCAN_CHUNK = 256 * 1024         # what the scan asks at once: several reads in flight on SMB1 (smb1_readahead)
MAX_LINE_BYTES = MAX_LINE_CHARS * 4  # 4096 characters are at most 16 KiB of UTF-8: the rest is not kept
BATCH_BYTES = 1024 * 1024        # complete lines are filtered a megabyte at a time (word_search)
CACHE_FORMAT = 1
ENTRY_END = re.compile(r"><thread=[^>]*\)>", re.IGNORECASE)   # sms_probe.ps1 $EntryEnd


@dataclass
class ScanState:
    """Where a scan stands; JSON-able so the cache can keep it."""
    offset: int = 0                   # bytes consumed: just past the last complete line
    lines: int = 0                    # complete physical lines seen
    matches: list = field(default_factory=list)
    pending: bool = False             # the last match waits for the next physical line


def _best_fit(error: UnicodeDecodeError):
    # Windows maps the bytes a single-byte code page leaves undefined (0x81 in 1252) to U+0081 and so on,
    # where Python's codec fails: do the same.
    return "".join(chr(b) for b in error.object[error.start:error.end]), error.end


BEST_FIT = "sms-remediation-best-fit"
codecs.register_error(BEST_FIT, _best_fit)


def ansi_codec(acp) -> str:
    """The Python codec of a Windows ANSI code page number (``Nls\\CodePage`` ``ACP``); cp1252 when unknown."""
    name = f"cp{str(acp).strip()}" if acp not in (None, "") else "cp1252"
    try:
        codecs.lookup(name)
    except LookupError:
        return "cp1252"
    return name


def log_encoding(head: bytes, ansi: str) -> str:
    """sms_probe.ps1 Get-LogEncoding over the first (up to 4096) bytes of a log: a Python codec name."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8"
    if head.startswith(codecs.BOM_UTF16_LE):
        return "utf-16-le"
    if head.startswith(codecs.BOM_UTF16_BE):
        return "utf-16-be"
    pairs = len(head) // 2
    even_zeros = head[0:pairs * 2:2].count(0)
    odd_zeros = head[1:pairs * 2:2].count(0)
    if pairs and odd_zeros * 2 >= pairs and even_zeros * 10 < pairs:
        return "utf-16-le"
    if pairs and even_zeros * 2 >= pairs and odd_zeros * 10 < pairs:
        return "utf-16-be"
    return ansi


class LineFilter:
    """Feed bytes in file order; complete lines are matched as they arrive, the last partial one is held.

    ``codec`` is a byte-per-line-safe codec (UTF-8 or an ANSI code page: a newline byte never sits
    inside a character); UTF-16 goes through ``feed_text_line``."""

    def __init__(self, pattern: re.Pattern, state: ScanState | None = None, codec: str = "cp1252",
                 batch_bytes: int = BATCH_BYTES, fast: bool = True):
        self.pattern = pattern
        self.errors = "replace" if codec == "utf-8" else BEST_FIT
        self.codec = codec
        self.state = state or ScanState()
        self.batch_bytes = batch_bytes
        self.lines_decoded = 0         # how many lines were decoded and matched one by one
        self._words = literal_words(pattern) if fast else None
        self._ascii_only = codec == "utf-8"           # UTF-8: only its ASCII blocks fold byte for byte
        self._table = None
        if self._words is not None:
            self._table = fold_table("ascii" if self._ascii_only else codec, self.errors)
        self._buffer = bytearray()     # bytes from the start of the first line not filtered yet
        self._tail = bytearray()       # a line longer than MAX_LINE_BYTES: only its start is kept
        self._tail_bytes = 0           # and its real length in the file so far

    def feed(self, data: bytes) -> None:
        if self._tail_bytes:
            newline = data.find(b"\n")
            if newline < 0:
                self._hold(data)
                return
            self._hold(data[:newline])
            self._end_long_line()
            data = data[newline + 1:]
        self._buffer += data
        if len(self._buffer) >= self.batch_bytes:
            self._drain()

    def feed_text_line(self, text: str) -> None:
        """A line already decoded (the UTF-16 path); no offsets are kept for it."""
        self._match(text[:MAX_LINE_CHARS].rstrip("\r"))

    def _drain(self) -> None:
        """Filter every complete line held; an unfinished one longer than MAX_LINE_BYTES keeps its start."""
        buffer = self._buffer
        end = buffer.rfind(b"\n") + 1
        if end:
            self._lines(bytes(buffer[:end]))
            del buffer[:end]
        if len(buffer) > MAX_LINE_BYTES:
            self._tail = bytearray(buffer[:MAX_LINE_BYTES])
            self._tail_bytes = len(buffer)
            buffer.clear()

    def _hold(self, piece: bytes) -> None:
        room = MAX_LINE_BYTES - len(self._tail)
        if room > 0:
            self._tail += piece[:room]
        self._tail_bytes += len(piece)

    def _end_long_line(self) -> None:
        self._line(bytes(self._tail))
        self.state.offset += self._tail_bytes + 1
        self._tail.clear()
        self._tail_bytes = 0

    def _lines(self, block: bytes) -> None:
        """Complete lines (``block`` ends with a newline): only the lines that can match are decoded."""
        state = self.state
        if self._table is None or (self._ascii_only and not block.isascii()):
            for raw in block.split(b"\n")[:-1]:
                self._line(raw[:MAX_LINE_BYTES])
            state.offset += len(block)
            return
        first_line = state.lines + 1
        counted, newlines = 0, 0       # newlines in block[:counted]
        next_start = 0                 # lines before it are done
        starts = candidate_lines(block, self._table, self._words)
        if state.pending:              # the last match waits for this block's first line
            starts.insert(0, 0)
        for start in starts:
            while start >= next_start:
                newlines += block.count(b"\n", counted, start)
                counted = start
                end = block.index(b"\n", start)
                state.lines = first_line + newlines - 1
                self._line(block[start:min(end, start + MAX_LINE_BYTES)])
                next_start = end + 1
                if not state.pending or next_start == len(block):
                    break
                start = next_start     # an entry that does not end on its line takes the next one too
        state.lines = first_line - 1 + block.count(b"\n")
        state.offset += len(block)

    def _line(self, raw: bytes) -> None:
        self.lines_decoded += 1
        text = raw.decode(self.codec, self.errors)[:MAX_LINE_CHARS].rstrip("\r")
        self._match(text)

    def _match(self, text: str) -> None:
        state = self.state
        state.lines += 1
        if state.pending:
            state.matches[-1]["text"] += "\n" + text
            state.pending = False
        if self.pattern.search(text):
            state.matches.append({"line": state.lines, "text": text})
            state.pending = not ENTRY_END.search(text)

    def result(self) -> list:
        """The matches as the probe would give them now: the held partial line counts as the last line.
        Every complete line is filtered first, so ``state`` then stands just past the last one."""
        self._drain()
        partial = self._tail if self._tail_bytes else self._buffer
        if not partial:
            return [dict(m) for m in self.state.matches]
        saved = ScanState(self.state.offset, self.state.lines, [dict(m) for m in self.state.matches],
                          self.state.pending)
        self._line(bytes(partial[:MAX_LINE_BYTES]))
        found, self.state = self.state.matches, saved
        return found


# ---- the cache ------------------------------------------------------------------------------------
class LogCache:
    """One JSON file per host under the cache folder (``q244405_msrpc_cache_dir``); private to the user."""

    def __init__(self, folder: str, host: str):
        self.folder = folder
        self.file = os.path.join(folder, urllib.parse.quote(host, safe="") + ".json")
        self._data = self._load()
        self.dirty = False

    def _load(self) -> dict:
        try:
            with open(self.file, encoding="utf-8") as handle:
                data = json.load(handle)
        except (OSError, ValueError):
            return {"format": CACHE_FORMAT, "files": {}}
        if not isinstance(data, dict) or data.get("format") != CACHE_FORMAT or not isinstance(data.get("files"), dict):
            return {"format": CACHE_FORMAT, "files": {}}
        return data

    def get(self, path: str, pattern: str) -> dict | None:
        entry = self._data["files"].get(path.lower())
        if not isinstance(entry, dict) or entry.get("pattern") != pattern:
            return None
        return entry

    def put(self, path: str, entry: dict) -> None:
        self._data["files"][path.lower()] = entry
        self.dirty = True

    def drop(self, path: str) -> None:
        if self._data["files"].pop(path.lower(), None) is not None:
            self.dirty = True

    def host_fact(self, name: str):
        """A fact of the host kept between runs (``probe.DRIVES_FACT``), or None."""
        facts = self._data.get("host")
        return facts.get(name) if isinstance(facts, dict) else None

    def put_host_fact(self, name: str, value) -> None:
        facts = self._data.get("host")
        if not isinstance(facts, dict):
            facts = self._data["host"] = {}
        if value is None:
            if facts.pop(name, None) is not None:
                self.dirty = True
        elif facts.get(name) != value:
            facts[name] = value
            self.dirty = True

    def save(self) -> None:
        """Written beside and swapped in; a cache that cannot be written only costs a full scan next time."""
        if not self.dirty:
            return
        try:
            os.makedirs(self.folder, mode=0o700, exist_ok=True)
            handle, temporary = tempfile.mkstemp(prefix=".tmp-", dir=self.folder)
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump(self._data, out)
            os.replace(temporary, self.file)
            self.dirty = False
        except OSError:
            pass


def _state_from(entry: dict) -> ScanState | None:
    try:
        state = ScanState(int(entry["offset"]), int(entry["lines"]), list(entry["matches"]), bool(entry["pending"]))
    except (KeyError, TypeError, ValueError):
        return None
    if state.offset < 0 or state.lines < 0 or not all(isinstance(m, dict) for m in state.matches):
        return None
    return state


# ---- one log file ---------------------------------------------------------------------------------
def _bom_length(head: bytes) -> int:
    for bom in (codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        if head.startswith(bom):
            return len(bom)
    return 0


def search_log(files: SmbFiles, path: str, pattern: re.Pattern, cache: LogCache | None,
               operation: str = "log", ansi: str = "cp1252") -> tuple[dict, dict]:
    """(the probe's ``distmgr_log.files[]`` entry, read statistics) for one log file."""
    entry = {"path": path, "exists": False, "size": None, "matches": None}
    info = files.stat(path, operation)
    if info is None or info.directory:
        if cache is not None:
            cache.drop(path)
        return entry, {"bytes_read": 0, "cache": "none"}
    size = info.size
    entry.update(exists=True, size=size)
    unchanged = _unchanged(cache, path, pattern, info, ansi)
    if unchanged is not None:
        entry["matches"] = unchanged
        return entry, {"bytes_read": 0, "cache": "unchanged (same size and last write time)"}
    before = files.bytes_read
    with files.open_read(path, operation) as handle:
        head = handle.read(0, min(HEAD_BYTES, size)) if size else b""
        codec, bom = log_encoding(head, ansi), _bom_length(head)
        if codec.startswith("utf-16"):
            entry["matches"] = _scan_utf16(handle, head, size, bom, codec, pattern)
            return entry, {"bytes_read": files.bytes_read - before, "cache": "not used (UTF-16)"}
        state, how = _resume(cache, path, pattern, head, size, codec)
        if state is None:
            state, how = ScanState(offset=bom), "full scan"
        line_filter = LineFilter(pattern, state, codec)
        position = state.offset
        while position < size:
            if position + READ_CHUNK <= len(head):
                block = head[position:position + READ_CHUNK]
            elif position < len(head):
                block = head[position:]
            else:
                block = smb1_readahead.read(handle, position, min(SCAN_CHUNK, size - position))
            if not block:
                break                     # the file shrank while we read it: what was read stands
            line_filter.feed(block)
            position += len(block)
        entry["matches"] = line_filter.result()
    if cache is not None:
        whole = {"size": size, "write": info.stamps[1], "ansi": ansi, "result": entry["matches"]} \
            if position >= size else {}          # the answer for exactly this file (see _unchanged)
        cache.put(path, {"pattern": pattern.pattern, "codec": codec, "head_len": len(head),
                         "head_sha256": hashlib.sha256(head).hexdigest(), **asdict(line_filter.state), **whole})
    return entry, {"bytes_read": files.bytes_read - before, "cache": how}


def _unchanged(cache, path: str, pattern: re.Pattern, info, ansi: str) -> list | None:
    """The matches of the last scan when the log has not been written since: the same size and the same last
    write time (100 ns) as then. SMS appends to its logs, and a rolled-over log is a new, shorter file (its
    creation time may be the old one's: NTFS tunnelling), so these two say whether a byte changed without
    opening it (a rerun read 2-4 KiB to compare the head, 2 round trips). None: scan."""
    cached = cache.get(path, pattern.pattern) if cache is not None else None
    if not cached or not info.stamps[1] or not isinstance(cached.get("result"), list):
        return None
    same = cached.get("size") == info.size and cached.get("write") == info.stamps[1] and cached.get("ansi") == ansi
    return cached["result"] if same else None


def _resume(cache, path, pattern, head: bytes, size: int, codec: str) -> tuple[ScanState | None, str]:
    if cache is None:
        return None, "full scan"
    cached = cache.get(path, pattern.pattern)
    if cached is None or cached.get("codec") != codec:
        return None, "full scan"
    state = _state_from(cached)
    head_len = cached.get("head_len")
    if state is None or not isinstance(head_len, int) or head_len > len(head) or state.offset > size:
        return None, "full scan (the file is shorter or the cache unreadable)"
    if hashlib.sha256(head[:head_len]).hexdigest() != cached.get("head_sha256"):
        return None, "full scan (the file's first 4 KiB changed: a new or rolled-over log)"
    return state, f"resumed at byte {state.offset}"


def _scan_utf16(handle, head: bytes, size: int, bom: int, codec: str, pattern: re.Pattern) -> list:
    decoder = codecs.getincrementaldecoder(codec)(errors="replace")
    line_filter = LineFilter(pattern, codec=codec)
    carry = ""
    position = bom
    data = head[bom:]
    while True:
        final = position + len(data) >= size or not data
        text = carry + decoder.decode(data, final=final)
        lines = text.split("\n")
        carry = lines.pop()
        for line in lines:
            line_filter.feed_text_line(line)
        if len(carry) > MAX_LINE_CHARS * 4:
            carry = carry[:MAX_LINE_CHARS * 4]
        position += len(data)
        if final:
            break
        data = smb1_readahead.read(handle, position, min(SCAN_CHUNK, size - position))
    if carry:
        line_filter.feed_text_line(carry)
    return line_filter.state.matches
