"""The probe keeps the fixed drives it enumerated in the host's cache: the next probe lists their package folders
without NetrShareEnum (a pipe, a bind and a call), and enumerates again when a drive's share is gone, when the
entry is older than a day, or when it is not a list of drive letters."""

from __future__ import annotations

import time

import pytest

from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc import probe as probe_module
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.log_reader import LogCache
from fake_host import FakeHost


class Shares:
    def __init__(self, present):
        self.present, self.asked = set(present), []

    def has_share(self, share):
        self.asked.append(share)
        return share in self.present


@pytest.fixture
def host(tmp_path, monkeypatch):
    made = FakeHost()
    made.log_cache = LogCache(str(tmp_path), "sms610")
    made.session = Shares({"C$", "D$"})
    made.enumerations = []

    def enumerate_drives(session):
        made.enumerations.append(session)
        return sorted(share[0] for share in session.present), "NetrShareEnum"
    monkeypatch.setattr(probe_module, "drive_shares", enumerate_drives)
    return made


def folders(host) -> tuple[list[str], str]:
    probe = probe_module._Probe(host, {})
    paths = probe.package_folder_paths()
    host.log_cache.save()
    return paths, probe.drive_discovery


def test_a_second_probe_takes_the_drives_from_the_cache_and_the_cache_survives_the_run(host, tmp_path):
    assert folders(host) == (["C:\\SMSPKG", "D:\\SMSPKG"], "NetrShareEnum")
    host.log_cache = LogCache(str(tmp_path), "sms610")                  # the next run reads the file
    assert folders(host) == (["C:\\SMSPKG", "D:\\SMSPKG"], "NetrShareEnum (cached by an earlier probe)")
    assert len(host.enumerations) == 1


def test_a_drive_that_is_gone_makes_the_probe_enumerate_again(host):
    folders(host)
    host.session.present.discard("D$")
    assert folders(host) == (["C:\\SMSPKG"], "NetrShareEnum")
    assert len(host.enumerations) == 2
    assert folders(host)[1] == "NetrShareEnum (cached by an earlier probe)"


@pytest.mark.parametrize("fact", [
    {"letters": ["C"], "method": "NetrShareEnum", "at": time.time() - probe_module.DRIVES_MAX_AGE_S - 1},
    {"letters": ["C"], "method": "NetrShareEnum", "at": time.time() + 3600},          # a clock set back
    {"letters": ["C:\\"], "method": "NetrShareEnum", "at": time.time()},
    {"letters": "C", "method": "NetrShareEnum"},
    "C,D",
])
def test_an_old_or_odd_entry_is_not_used(host, fact):
    host.log_cache.put_host_fact(probe_module.DRIVES_FACT, fact)
    assert folders(host) == (["C:\\SMSPKG", "D:\\SMSPKG"], "NetrShareEnum")
    assert len(host.enumerations) == 1


def test_given_package_folders_need_no_drives(host):
    probe = probe_module._Probe(host, {"PackageFolders": ["E:\\SMSPKG"]})
    assert probe.package_folder_paths() == ["E:\\SMSPKG"] and host.enumerations == [] and host.session.asked == []
