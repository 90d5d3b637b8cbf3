"""A rerun takes the computer name, the processor architecture and the ANSI code page from the host's cache, but
only from the server that gave them: recognised by the NetBIOS name of its NTLMSSP challenge, or (NT 4.0 without
extended security, no such name) by its ComputerName key read again. Another server, an old entry or a read that
failed reads the keys again."""

from __future__ import annotations

import time

import pytest

from ansible_collections.sms.remediation.plugins.plugin_utils._transport.base import TransportError
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc import probe as probe_module
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.log_reader import LogCache
from fake_host import FakeHost


class Registry:
    def __init__(self, values: dict):
        self.values, self.asked, self.failing = values, [], set()

    def read_values(self, key, names, operation):
        self.asked.append(key)
        if key in self.failing:
            raise TransportError("sms610", operation, f"{key}: STATUS_PIPE_BROKEN")
        return {name: self.values[key][name] for name in names if name in self.values[key]}


@pytest.fixture
def host(tmp_path):
    made = FakeHost()
    made.log_cache = LogCache(str(tmp_path), "sms610")
    made.registry = Registry({probe_module.COMPUTER_NAME_KEY: {"ComputerName": "SMS610"},
                              probe_module.ENVIRONMENT_KEY: {"PROCESSOR_ARCHITECTURE": "x86"},
                              probe_module.CODE_PAGE_KEY: {"ACP": "1252"}})
    made.session.ntlm_server_name = "SMS610"
    return made


def identity(host) -> tuple:
    probe = probe_module._Probe(host, {})
    answer = probe.environment() + (probe.ansi_code_page(),)
    host.log_cache.save()
    return answer


def test_a_rerun_on_the_same_server_reads_none_of_the_three_keys(host, tmp_path):
    first = identity(host)
    assert first == ("SMS610", "x86", "cp1252") and len(host.registry.asked) == 3
    host.log_cache = LogCache(str(tmp_path), "sms610")                  # the next run reads the file
    host.registry.asked.clear()
    assert identity(host) == first and host.registry.asked == []


def test_another_server_at_the_address_has_its_keys_read(host):
    identity(host)
    host.session.ntlm_server_name = "SMS620"
    host.registry.values[probe_module.ENVIRONMENT_KEY]["PROCESSOR_ARCHITECTURE"] = "ALPHA"
    host.registry.values[probe_module.COMPUTER_NAME_KEY]["ComputerName"] = "SMS620"
    host.registry.asked.clear()
    assert identity(host) == ("SMS620", "ALPHA", "cp1252") and len(host.registry.asked) == 3


def test_without_an_ntlmssp_name_the_computer_name_is_read_to_recognise_the_server(host):
    host.session.ntlm_server_name = None            # NT 4.0: no extended security
    identity(host)
    host.registry.asked.clear()
    assert identity(host) == ("SMS610", "x86", "cp1252")
    assert host.registry.asked == [probe_module.COMPUTER_NAME_KEY]
    host.registry.values[probe_module.COMPUTER_NAME_KEY]["ComputerName"] = "OTHER"       # another server
    host.registry.values[probe_module.ENVIRONMENT_KEY]["PROCESSOR_ARCHITECTURE"] = "ALPHA"
    host.registry.asked.clear()
    assert identity(host)[:2] == ("OTHER", "ALPHA") and len(host.registry.asked) == 3


def test_an_entry_older_than_a_day_is_not_used(host):
    identity(host)
    kept = host.log_cache.host_fact(probe_module.IDENTITY_FACT)
    host.log_cache.put_host_fact(probe_module.IDENTITY_FACT, dict(kept, at=time.time() - probe_module.IDENTITY_MAX_AGE_S - 1))
    host.registry.asked.clear()
    identity(host)
    assert len(host.registry.asked) == 3


def test_a_failed_read_is_not_kept(host):
    host.registry.failing.add(probe_module.ENVIRONMENT_KEY)
    probe = probe_module._Probe(host, {})
    assert probe.environment() == ("SMS610", None) and probe.errors
    assert host.log_cache.host_fact(probe_module.IDENTITY_FACT) is None
