"""The log filter's fast path (word_search: only lines whose bytes hold a word are decoded) keeps exactly the
lines the line-by-line filter keeps and the probe script keeps (the lab's twin of its line loop), for any
code page, any split of the bytes and any batch size."""

from __future__ import annotations

import io
import re
import sys

import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.log_reader import (
    BEST_FIT, LineFilter)
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.regex import compile_script_regex
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.word_search import (
    WORD_CHARS, candidate_lines, fold_table, literal_words)
from smslab.handlers.sms_scripts import probe as lab_probe

PATTERN = compile_script_regex("deleting the package|deleted the package|adding package")
KID_PATTERN = compile_script_regex("kid is|dis")        # words whose letters other characters fold to
END = "  $$<SMS_DISTRIBUTION_MANAGER><Fri Oct 15 17:09:46.677 1999 Pacific Daylight Time><thread=297 (0x129)>"
CODECS = ("cp1252", "cp1254", "cp850", "utf-8")

_TEXTS = st.lists(st.one_of(
    st.just("Start deleting the package 61000012..." + END),
    st.just("Successfully DELETED the package 61000012"),           # wrapped: the next line belongs to it
    st.just(END.strip()),
    st.just("~Start adding package 60000014" + END),
    st.just("D\u0131S and K\u0130D IS"),                             # dotless i, capital I with a dot
    st.just("\u017fkid \u212aid is"),                                # long s, Kelvin sign (UTF-8 only)
    st.text(alphabet="abc xyz~<>$\u00e9\u0131\u0130ISDK", max_size=30),
    st.just("x" * 5000 + " deleted the package 61000099"),           # past the 4096-character cut
    st.just("y" * 17000 + " adding package"),                        # past the 16 KiB kept of a line
    st.just("caf\u00e9 deleted the package 61000013 \x81"),
), max_size=20)


def encode(lines: list[str], codec: str, crlf: bool, final_newline: bool) -> bytes:
    text = ("\r\n" if crlf else "\n").join(lines) + (("\r\n" if crlf else "\n") if final_newline else "")
    return text.encode(codec, errors="replace")


def script_matches(data: bytes, codec: str, pattern) -> list:
    """What sms_probe.ps1 answers for these bytes read in ``codec`` (the lab's twin of its StreamReader loop)."""
    return lab_probe._scan_lines(lab_probe._stream_lines(io.BytesIO(data), codec), pattern)[0]


def filtered(data: bytes, codec: str, pattern, chunk: int, batch: int, fast: bool) -> tuple[list, LineFilter]:
    line_filter = LineFilter(pattern, codec=codec, batch_bytes=batch, fast=fast)
    for start in range(0, len(data), chunk):
        line_filter.feed(data[start:start + chunk])
    return line_filter.result(), line_filter


@settings(max_examples=200, deadline=None)
@given(lines=_TEXTS, codec=st.sampled_from(CODECS), pattern=st.sampled_from([PATTERN, KID_PATTERN]),
       crlf=st.booleans(), final_newline=st.booleans(), chunk=st.integers(1, 30000), batch=st.integers(1, 40000))
def test_the_fast_path_keeps_what_the_line_loop_and_the_script_keep(lines, codec, pattern, crlf, final_newline,
                                                                    chunk, batch):
    data = encode(lines, codec, crlf, final_newline)
    fast, fast_filter = filtered(data, codec, pattern, chunk, batch, fast=True)
    slow, slow_filter = filtered(data, codec, pattern, chunk, batch, fast=False)
    assert fast == slow == script_matches(data, codec, pattern)
    assert fast_filter.state == slow_filter.state          # what the cache keeps: offset, lines, pending


@pytest.mark.parametrize("codec", CODECS)
def test_every_split_of_a_log_with_wrapped_entries_and_folded_letters_gives_the_script_s_matches(codec):
    lines = ["noise", "Successfully deleted the package 61000012", "its entry ends here" + END,
             "~Start adding package 60000014", "Start deleting the package 61000015" + END[:40],
             END[40:], "D\u0131S and K\u0130D IS", "\u017fkid \u212aid is", "dis", "last"]
    data = encode(lines, codec, crlf=True, final_newline=False)
    for pattern in (PATTERN, KID_PATTERN):
        expected = script_matches(data, codec, pattern)
        assert expected
        for size in range(1, len(data) + 1):          # every block boundary: feed and batch the same size
            assert filtered(data, codec, pattern, size, size, fast=True)[0] == expected, size


def test_the_fast_path_decodes_only_the_lines_that_can_match():
    noise = ("~Used 0 out of 3 allowed processing threads." + END + "\r\n").encode("cp1252")
    wrapped = ("~Start deleting the package 61000012..." + END[:60] + "\r\n" + END[60:] + "\r\n").encode("cp1252")
    data = noise * 20000 + wrapped + noise * 20000
    matches, line_filter = filtered(data, "cp1252", PATTERN, 60 * 1024, 1 << 20, fast=True)
    assert matches == script_matches(data, "cp1252", PATTERN)
    assert [m["line"] for m in matches] == [20001]
    assert line_filter.lines_decoded == 2                  # the match and the line that ends its entry
    assert line_filter.state.lines == 40002


@pytest.mark.parametrize("codec, folded", [("cp1252", {}), ("cp1254", {0xDD: "i", 0xFD: "i"}),
                                           ("cp850", {0xD5: "i"})])
def test_code_pages_fold_the_characters_re_matches_to_ascii_letters(codec, folded):
    table = fold_table(codec, BEST_FIT)
    assert {byte: chr(table[byte]) for byte in range(0x80, 0x100) if table[byte]} == folded
    assert table[ord("A")] == table[ord("a")] == ord("a") and table[ord("\n")] == ord("\n")


def test_multi_byte_code_pages_have_no_fold_table_and_are_filtered_line_by_line():
    assert fold_table("utf-8", "replace") is None and fold_table("cp932", BEST_FIT) is None
    data = "\u8868 deleted the package 61000012\n".encode("cp932") * 3
    matches, line_filter = filtered(data, "cp932", PATTERN, 7, 5, fast=True)
    assert matches == script_matches(data, "cp932", PATTERN) and line_filter.lines_decoded == 3


def test_a_non_ascii_utf8_block_is_filtered_line_by_line():
    ascii_block = ("nothing\n" * 10).encode()
    other = "caf\u00e9\nStart \u212aid deleting the package 1\n".encode()
    matches, line_filter = filtered(ascii_block + other, "utf-8", PATTERN, 40, 40, fast=True)
    assert matches == script_matches(ascii_block + other, "utf-8", PATTERN)
    assert line_filter.lines_decoded == 2      # the ASCII block decoded nothing; the other one every line


@pytest.mark.parametrize("pattern, words", [
    ("deleting the package|adding package", (b"deleting the package", b"adding package")),
    ("Package 6100|package 6100", (b"package 6100",)),
    ("deleting.the package", None), ("deleting|", None), ("(?i)deleting", None), ("caf\u00e9", None),
    ("a\\|b", None), ("^deleting", None),
])
def test_only_plain_words_take_the_fast_path(pattern, words):
    assert literal_words(compile_script_regex(pattern)) == words


def test_flags_beyond_ignorecase_take_the_line_loop():
    assert literal_words(re.compile("deleting", re.IGNORECASE | re.MULTILINE)) is None
    assert literal_words(re.compile(b"deleting")) is None


def test_a_line_is_a_candidate_once_whatever_its_words():
    block = b"deleting the package deleting the package adding package\nnone\nADDING PACKAGE\n"
    assert candidate_lines(block, fold_table("cp1252", BEST_FIT), literal_words(PATTERN)) == [0, 62]


def test_every_unicode_character_re_folds_to_an_ascii_word_character_is_known():
    """The reason UTF-8 folds only ASCII blocks: outside ASCII, re.IGNORECASE maps four characters onto ASCII
    letters, which are several bytes long in UTF-8 (a byte-for-byte fold cannot see them)."""
    everything = "".join(chr(code) for code in range(0x80, sys.maxunicode + 1) if not 0xD800 <= code < 0xE000)
    letters = "".join(sorted(set("".join(WORD_CHARS).lower()) & set("abcdefghijklmnopqrstuvwxyz")))
    found = set(re.findall(f"[{letters}]", everything, re.IGNORECASE))
    assert found == {"\u0130", "\u0131", "\u017f", "\u212a"}
    assert all(len(char.encode("utf-8")) > 1 for char in found)
