"""A rerun on a log with the same size and last write time as the last scan answers that scan's matches without
opening the file; anything else (a byte appended, a rewritten log of the same size, another ANSI code page, a
server that reports no times, a scan cut short) opens it and answers what a scan answers."""

from __future__ import annotations

import pytest

from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.files import FILETIME_EPOCH, FileInfo
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.log_reader import LogCache, search_log
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.regex import compile_script_regex
from fake_host import FakeFiles

PATTERN = compile_script_regex("deleting the package|deleted the package")
LOG = "C:\\SMS\\Logs\\Distmgr.log"
FIRST = b"Successfully deleted the package 61000012\r\nnext line\r\nStart deleting the package 61000013 (no end"


class StampedFiles(FakeFiles):
    """A listing with the last write time (stamps[1]) from the entry's mtime; ``no_times``: a server without."""

    no_times = False

    def stat(self, path, operation):
        info = super().stat(path, operation)
        if info is None or self.no_times:
            return info
        write = FILETIME_EPOCH + int(info.last_write * 10_000_000)
        return FileInfo(info.name, info.size, info.last_write, info.attributes, stamps=(1, write, write))


@pytest.fixture
def files():
    made = StampedFiles()
    made.add_file(LOG, FIRST, mtime=946684800.0)
    return made


def scan(files, tmp_path, ansi="cp1252"):
    cache = LogCache(str(tmp_path), "sms610")
    entry, stats = search_log(files, LOG, PATTERN, cache, "log", ansi)
    cache.save()
    return entry["matches"], stats


def test_an_unchanged_log_is_not_opened_and_answers_the_same(files, tmp_path):
    first, first_stats = scan(files, tmp_path)
    assert first and first_stats["bytes_read"] == len(FIRST)
    again, stats = scan(files, tmp_path)
    assert again == first and stats["bytes_read"] == 0 and stats["cache"].startswith("unchanged")


@pytest.mark.parametrize("change", ["appended", "rewritten, same size, new time", "another code page", "no times"])
def test_any_change_opens_the_log_and_answers_what_a_scan_answers(files, tmp_path, change):
    scan(files, tmp_path)
    ansi = "cp1252"
    if change == "appended":           # the unterminated last line ends: its match is complete now
        files.add_file(LOG, FIRST + b")\r\nSuccessfully deleted the package 61000014\r\n", mtime=946684801.0)
    elif change == "rewritten, same size, new time":
        files.add_file(LOG, FIRST.replace(b"61000012", b"61000099"), mtime=946684801.0)
    elif change == "another code page":
        ansi = "cp1250"
    else:
        files.no_times = True
    matches, stats = scan(files, tmp_path, ansi)
    assert stats["bytes_read"] > 0
    fresh, _stats = scan(files, tmp_path / "fresh", ansi)           # an empty cache: a full scan
    assert matches == fresh
