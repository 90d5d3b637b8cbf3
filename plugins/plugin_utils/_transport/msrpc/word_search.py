# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which lines of a block of log bytes can match a LogPattern made of plain words (``a b|c d``), found on the
bytes with ``bytes.translate`` and ``bytes.find`` (C speed) instead of decoding and searching each line
(private to this collection).

This only narrows the lines down: ``LineFilter`` then decodes those few lines and applies the real pattern,
so a line is kept exactly when the probe script would keep it. What must hold is that no matching line is
missed: a line whose decoded text contains a word case-insensitively (Python's ``re.IGNORECASE``, one
character for one character) contains the folded word in its folded bytes. ``fold_table`` maps each byte
of a single-byte code page to the ASCII letter it matches under ``re.IGNORECASE`` (``A`` and ``a`` to
``a``, and in cp1254 also ``İ`` and ``ı`` to ``i``), and checks that mapping against ``re`` itself for
every byte and every character a word may hold; any code page it cannot prove is scanned line by line."""

from __future__ import annotations

import functools
import re
import string

# what a plain word may hold: printable ASCII without the regex syntax characters (a newline never)
WORD_CHARS = frozenset(string.printable[:95]) - frozenset("\\.^$*+?{}[]()|\t\n\r\x0b\x0c")
_ALLOWED_FLAGS = re.IGNORECASE | re.UNICODE
NEUTRAL = 0x00                      # what a byte that matches no word character folds to (never in a word)


def literal_words(pattern: re.Pattern) -> tuple[bytes, ...] | None:
    """The folded words of ``a|b|c`` (each a run of WORD_CHARS), or None for any other pattern."""
    if not isinstance(pattern.pattern, str) or pattern.flags & ~_ALLOWED_FLAGS:
        return None
    words = pattern.pattern.split("|")
    if not all(words) or not all(set(word) <= WORD_CHARS for word in words):
        return None
    return tuple(dict.fromkeys(word.lower().encode("ascii") for word in words))


@functools.lru_cache(maxsize=None)
def fold_table(codec: str, errors: str) -> bytes | None:
    """A ``bytes.translate`` table for a single-byte code page, or None when the codec is not one or the
    folding cannot be proved for it. ``ascii`` gives the table for the ASCII bytes of any ASCII-compatible
    codec (UTF-8 included); its callers must then only use it on ASCII-only blocks."""
    chars = _single_byte_chars(codec, errors)
    if chars is None:
        return None
    # the characters of the code page re.IGNORECASE matches to each word character (one search each)
    text = "".join(char for char in chars if char is not None)
    matched = {word_char: set(re.findall(re.escape(word_char), text, re.IGNORECASE)) for word_char in WORD_CHARS}
    table = bytearray(256)
    for byte, char in enumerate(chars):
        if char is None:
            table[byte] = NEUTRAL
        elif char.isascii():
            table[byte] = ord(char.lower())
        else:
            letters = [letter for letter in string.ascii_lowercase if char in matched[letter]]
            table[byte] = ord(letters[0]) if len(letters) == 1 else NEUTRAL
    bytes_of, folded_to = {}, {}
    for byte, char in enumerate(chars):
        bytes_of.setdefault(char, set()).add(byte)
        folded_to.setdefault(table[byte], set()).add(byte)
    for word_char in WORD_CHARS:     # the proof: folding agrees with re.IGNORECASE for every byte
        matching = set().union(*(bytes_of[char] for char in matched[word_char]))
        if matching != folded_to.get(ord(word_char.lower()), set()):
            return None
    return bytes(table)


def _single_byte_chars(codec: str, errors: str) -> list[str | None] | None:
    """Each byte's character when every byte is one character whatever surrounds it, else None."""
    if codec == "ascii":
        return [chr(byte) if byte < 0x80 else None for byte in range(256)]
    try:
        chars = [bytes([byte]).decode(codec, errors) for byte in range(256)]
    except (UnicodeDecodeError, LookupError):
        return None
    if any(len(char) != 1 for char in chars) or chars[0x0A] != "\n":
        return None
    high = bytes(range(0x80, 0x100))
    high_text = "".join(chars[0x80:])
    pairs = bytearray(256)
    pairs[1::2] = high
    for first in high:                 # a lead byte would join the next one (UTF-8, cp932 ...)
        pairs[0::2] = bytes([first]) * 128
        text = bytes(pairs).decode(codec, errors)
        if len(text) != 256 or text[1::2] != high_text or text[0::2] != chars[first] * 128:
            return None
    return chars


def candidate_lines(block: bytes, table: bytes, words: tuple[bytes, ...]) -> list[int]:
    """The start offsets, in order, of the lines of ``block`` whose folded bytes hold one of ``words``."""
    folded = block.translate(table)
    starts = set()
    for word in words:
        at = folded.find(word)
        while at >= 0:
            starts.add(block.rfind(b"\n", 0, at) + 1)
            line_end = block.find(b"\n", at)
            if line_end < 0:
                break
            at = folded.find(word, line_end + 1)
    return sorted(starts)
