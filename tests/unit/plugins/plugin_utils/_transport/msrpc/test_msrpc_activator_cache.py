"""The probe keeps the activator an NT 4.0 host answered (IActivation) in the host's cache file for a day, so a new
Ansible process goes straight to it; an entry too old to be recalled is written again, not kept forever."""

from __future__ import annotations

import time

import pytest

from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc import activation
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc import probe as probe_module
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.log_reader import LogCache
from fake_host import FakeHost

ADDRESS = "10.1.6.10"


@pytest.fixture
def probe(tmp_path, monkeypatch):
    host = FakeHost()
    host.log_cache = LogCache(str(tmp_path), "sms610")
    made = probe_module._Probe(host, {})
    monkeypatch.setattr(made, "_wmi_address", lambda: ADDRESS)
    activation.forget()
    yield made
    activation.forget()


def stored(probe):
    return probe.host.log_cache.host_fact(probe_module.ACTIVATOR_FACT)


def test_a_new_process_recalls_the_activator_kept_by_the_last_run(probe):
    activation.remember(ADDRESS, activation.ACTIVATION)
    probe.keep_activator()
    activation.forget()                                 # what a new Ansible fork knows
    probe.recall_activator()
    assert activation.remembered(ADDRESS) == activation.ACTIVATION


def test_an_entry_too_old_to_recall_is_written_again(probe):
    old = time.time() - probe_module.ACTIVATOR_MAX_AGE_S - 60
    probe.host.log_cache.put_host_fact(probe_module.ACTIVATOR_FACT,
                                       {"activator": activation.ACTIVATION, "address": ADDRESS, "at": old})
    probe.recall_activator()
    assert activation.remembered(ADDRESS) is None       # too old: the run tries the Windows 2000 activator first
    activation.remember(ADDRESS, activation.ACTIVATION)  # ... and learns IActivation again
    probe.keep_activator()
    assert stored(probe)["at"] > old + 60, "the stale entry was kept: every later run pays the failed attempt again"
    activation.forget()
    probe.recall_activator()
    assert activation.remembered(ADDRESS) == activation.ACTIVATION


def test_another_address_is_not_recalled(probe, monkeypatch):
    activation.remember(ADDRESS, activation.ACTIVATION)
    probe.keep_activator()
    activation.forget()
    monkeypatch.setattr(probe, "_wmi_address", lambda: "10.1.6.11")
    probe.recall_activator()
    assert activation.remembered("10.1.6.11") is None and activation.remembered(ADDRESS) is None
