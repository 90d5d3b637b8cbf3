"""The msrpc log filter gives the probe script's matches (oracle: the lab's twin of its line loop), and the
per-host cache makes a rerun read only what was appended."""

from __future__ import annotations

import io
import json
import re

from hypothesis import given, settings, strategies as st

from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc import log_reader
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.log_reader import (
    HEAD_BYTES, LineFilter, LogCache, log_encoding, search_log)
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.regex import compile_script_regex
from fake_host import FakeFiles
from smslab.handlers.sms_scripts import probe as lab_probe

PATTERN = compile_script_regex("deleting the package|deleted the package|adding package")
LOG = "C:\\SMS\\Logs\\Distmgr.log"
END = "  $$<SMS_DISTRIBUTION_MANAGER><Fri Oct 15 17:09:46.677 1999 Pacific Daylight Time><thread=297 (0x129)>"


def script_matches(data: bytes, pattern=PATTERN) -> list:
    """What sms_probe.ps1 answers for these bytes (the lab's twin of its StreamReader loop)."""
    encoding = log_encoding(data[:HEAD_BYTES], "cp1252")
    return lab_probe._scan_lines(lab_probe._stream_lines(io.BytesIO(data), encoding), pattern)[0]


def scan(files, cache=None, path=LOG):
    entry, stats = search_log(files, path, PATTERN, cache)
    if cache is not None:
        cache.save()
    return entry["matches"], stats


def host_with(data: bytes) -> FakeFiles:
    files = FakeFiles()
    files.add_file(LOG, data)
    return files


_LINES = st.lists(st.one_of(
    st.just("Start deleting the package 61000012..." + END),
    st.just("Successfully deleted the package 61000012"),          # wrapped: the next line belongs to it
    st.just(END.strip()),
    st.just("START ADDING PACKAGE 60000014" + END),
    st.text(alphabet="abc xyz~<>$", max_size=30),
    st.just("x" * 5000 + " deleted the package 61000099"),         # past the 4096-character cut
    st.just("caf\xe9 deleted the package 61000013 \x81"),             # ANSI bytes, one undefined in 1252
), max_size=25)


@settings(max_examples=150, deadline=None)
@given(lines=_LINES, crlf=st.booleans(), final_newline=st.booleans(), chunk=st.integers(1, 700))
def test_the_filter_answers_what_the_script_answers(lines, crlf, final_newline, chunk):
    text = ("\r\n" if crlf else "\n").join(lines) + ("\r\n" if crlf and final_newline else "\n" if final_newline else "")
    data = text.encode("latin-1")          # one byte per character: 0x81 is undefined in cp1252
    expected = script_matches(data)
    line_filter = LineFilter(PATTERN)
    for start in range(0, len(data), chunk):      # any split of the bytes gives the same lines
        line_filter.feed(data[start:start + chunk])
    assert line_filter.result() == expected


def test_a_utf8_bom_and_utf16_logs_decode_as_the_script_decodes():
    body = "Start deleting the package 61000012\n" + END + "\nSuccessfully deleted the package 61000012" + END + "\n"
    for data in (b"\xef\xbb\xbf" + body.encode("utf-8"), b"\xff\xfe" + body.encode("utf-16-le"),
                 body.encode("utf-16-le")):
        matches, _stats = scan(host_with(data))
        assert matches == script_matches(data)
        assert [m["line"] for m in matches] == [1, 3]


def test_a_rerun_on_an_unchanged_log_reads_only_its_head(tmp_path):
    lines = [f"line {n} nothing here" for n in range(40000)]
    lines[100] = "Start deleting the package 61000012..." + END
    data = ("\n".join(lines) + "\n").encode()
    files = host_with(data)
    first, stats = scan(files, LogCache(str(tmp_path), "sms610"))
    assert stats["bytes_read"] == len(data) and stats["cache"] == "full scan"
    cache = LogCache(str(tmp_path), "sms610")
    again, stats = scan(files, cache)
    assert again == first == script_matches(data)
    assert stats["bytes_read"] <= HEAD_BYTES and stats["cache"].startswith("resumed")


def test_an_appended_log_is_read_from_where_the_last_run_stopped(tmp_path):
    data = ("\n".join(f"line {n}" for n in range(5000)) + "\nSuccessfully deleted the package 61000012").encode()
    files = host_with(data)
    first, _stats = scan(files, LogCache(str(tmp_path), "h"))
    assert first == script_matches(data)          # the unfinished last line counts, as in the script
    appended = b"\n" + END.encode() + b"\nStart adding package 61000012" + END.encode() + b"\n"
    files.add_file(LOG, data + appended)
    again, stats = scan(files, LogCache(str(tmp_path), "h"))
    assert again == script_matches(data + appended)
    assert stats["bytes_read"] <= HEAD_BYTES + len(appended) + len("Successfully deleted the package 61000012")


def test_a_rolled_over_truncated_or_changed_log_is_scanned_again(tmp_path):
    data = ("\n".join(f"line {n}" for n in range(3000)) + "\n").encode()
    files = host_with(data)
    scan(files, LogCache(str(tmp_path), "h"))
    for new in (b"Start deleting the package 61000012" + END.encode() + b"\n",        # shorter: a new log
                b"X" + data[1:] + b"Successfully deleted the package 61000012" + END.encode() + b"\n"):  # head changed
        files.add_file(LOG, new)
        matches, stats = scan(files, LogCache(str(tmp_path), "h"))
        assert matches == script_matches(new)
        assert stats["cache"].startswith("full scan") and stats["bytes_read"] == len(new)


def test_another_pattern_or_an_unreadable_cache_means_a_full_scan(tmp_path):
    data = ("Start deleting the package 61000012" + END + "\n").encode()
    files = host_with(data)
    scan(files, LogCache(str(tmp_path), "h"))
    entry, stats = search_log(files, LOG, re.compile("line", re.I), LogCache(str(tmp_path), "h"))
    assert stats["cache"] == "full scan"
    cache_file = LogCache(str(tmp_path), "h").file
    with open(cache_file, "w", encoding="utf-8") as handle:
        handle.write("{not json")
    matches, stats = scan(files, LogCache(str(tmp_path), "h"))
    assert stats["cache"] == "full scan" and matches == script_matches(data)
    with open(cache_file, encoding="utf-8") as handle:
        json.load(handle)                            # rewritten whole


def test_a_missing_log_has_no_matches_and_drops_its_cache_entry(tmp_path):
    files = host_with(b"Start deleting the package 61000012\n")
    cache = LogCache(str(tmp_path), "h")
    scan(files, cache)
    files.delete(LOG, "test")
    entry, stats = search_log(files, LOG, PATTERN, cache)
    assert entry == {"path": LOG, "exists": False, "size": None, "matches": None}
    assert cache.get(LOG, PATTERN.pattern) is None


def test_the_read_chunk_is_below_every_dialects_read_size():
    assert log_reader.READ_CHUNK <= 60 * 1024
