"""Distmgr.log bytes to text lines: byte order marks, BOM-less UTF-16, UTF-8 else the ANSI code page, per line.

A helper private to this collection: import its names through ``distmgr_log``. A byte order mark decides; UTF-16
without one is recognised by its zero bytes; otherwise each line is UTF-8 if it decodes, else cp1252 (never
raises). Memory stays bounded: the input is read in chunks and a runaway line is cut.
"""
from __future__ import annotations

import codecs
from typing import BinaryIO, Iterator

from ansible_collections.sms.remediation.plugins.module_utils._distmgr_entries import ParseStats

__all__ = ["CHUNK_SIZE", "MAX_LINE_BYTES", "decode_line", "iter_regions", "iter_stream_lines",
           "iter_utf16_lines", "sniff"]

# A physical line longer than this (no newline in sight: binary garbage, NUL padding)
# is cut into pieces (of about one read chunk), each counted as one line, so memory
# stays bounded.
MAX_LINE_BYTES = 64 * 1024
CHUNK_SIZE = 2 * 1024 * 1024


def decode_line(raw: bytes) -> str:
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


def sniff(binary_file: BinaryIO, stats: ParseStats) -> tuple[bytes, str | None]:
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


def iter_regions(
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


def iter_utf16_lines(
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


def iter_stream_lines(
    binary_file: BinaryIO, stats: ParseStats, chunk_size: int
) -> Iterator[str]:
    head, codec = sniff(binary_file, stats)
    if codec is not None:
        yield from iter_utf16_lines(binary_file, head, codec, stats, chunk_size)
        return
    for region in iter_regions(binary_file, head, stats, chunk_size):
        parts = region.split(b"\n")
        parts.pop()  # the region ends with b"\n"
        for raw in parts:
            yield decode_line(raw)
