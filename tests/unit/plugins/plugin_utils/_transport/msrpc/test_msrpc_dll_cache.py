"""A rerun recognises Distmgr.dll by its folder entry (size, creation, last write and change times) and takes its
sha256 and version from the host's cache instead of reading it again; any change of the entry, an old cache
entry, a server that reports no times, or a read that does not match the listed size reads the file."""

from __future__ import annotations

import hashlib
import time

import pytest

from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc import probe as probe_module
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.files import FILETIME_EPOCH, FileInfo
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.log_reader import LogCache
from fake_host import FakeFiles, FakeHost

DLL = "C:\\SMS\\bin\\i386\\Distmgr.dll"


class StampedFiles(FakeFiles):
    """Folder entries with the three times an NTFS listing gives (``stamps``; ``None``: a server without them)."""

    stamps_given = True
    listed_size_offset = 0           # the listing says a size other than the bytes a read returns

    def stat(self, path, operation):
        info = super().stat(path, operation)
        if info is None or not self.stamps_given:
            return info
        write = FILETIME_EPOCH + int(info.last_write * 10_000_000)
        return FileInfo(info.name, info.size + self.listed_size_offset, info.last_write, info.attributes,
                        stamps=(write - 10, write, write + 10))


@pytest.fixture
def host(tmp_path, monkeypatch):
    made = FakeHost()
    made.files = StampedFiles()
    made.files.add_file(DLL, b"MZ" + bytes(4000), mtime=946684800.0)
    made.log_cache = LogCache(str(tmp_path), "sms610")
    made.reads = []

    def read_all(files, path, operation, limit, missing_ok=False):
        made.reads.append(path)
        return files.read_all(path, operation, limit)
    monkeypatch.setattr(probe_module.smb1_readahead, "read_all", read_all)
    return made


def dll(host) -> dict:
    entry = probe_module._Probe(host, {}).platform_dll("C:\\SMS", "i386")
    host.log_cache.save()
    return entry


def test_a_rerun_takes_the_dll_from_the_cache_and_the_cache_survives_the_run(host, tmp_path):
    first = dll(host)
    assert first["exists"] and first["sha256"] == hashlib.sha256(host.files.data(DLL)).hexdigest()
    host.log_cache = LogCache(str(tmp_path), "sms610")                  # the next run reads the file
    assert dll(host) == first
    assert host.reads == [DLL]


@pytest.mark.parametrize("change", ["content and time", "size only"])
def test_a_replaced_dll_is_read_again(host, change):
    dll(host)
    if change == "size only":       # the same times (a copy that kept them), another size
        host.files.entries[DLL.lower()]["data"] = b"MZ" + bytes(5000)
    else:                           # the hotfix's swap: another file, another last write time
        host.files.add_file(DLL, b"MZ" + bytes(3999) + b"\x01", mtime=946684900.0)
    again = dll(host)
    assert host.reads == [DLL, DLL]
    assert again["sha256"] == hashlib.sha256(host.files.data(DLL)).hexdigest()


def test_an_entry_older_than_a_day_is_not_used(host):
    dll(host)
    kept = host.log_cache.host_fact(probe_module.DLL_FACT)
    entry = dict(kept[DLL.lower()], at=time.time() - probe_module.DLL_MAX_AGE_S - 1)
    host.log_cache.put_host_fact(probe_module.DLL_FACT, {DLL.lower(): entry})
    dll(host)
    assert host.reads == [DLL, DLL]


def test_a_server_that_reports_no_times_has_its_dll_read_each_time(host):
    host.files.stamps_given = False
    dll(host)
    dll(host)
    assert host.reads == [DLL, DLL] and host.log_cache.host_fact(probe_module.DLL_FACT) is None


def test_bytes_that_do_not_match_the_listed_size_are_not_kept(host):
    host.files.listed_size_offset = 1        # the file changed between the listing and the read
    dll(host)
    dll(host)
    assert host.reads == [DLL, DLL] and host.log_cache.host_fact(probe_module.DLL_FACT) is None


def test_a_missing_dll_is_not_read(host):
    entry = probe_module._Probe(host, {}).platform_dll("C:\\SMS", "alpha")
    assert entry["exists"] is False and host.reads == []
