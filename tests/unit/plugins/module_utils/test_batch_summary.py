"""The progress line of a batch counts a host whose facts could not all be read as incomplete, not ok, as the
fleet report does (hosts with a source in host_result.sources_failed)."""

from __future__ import annotations

from ansible_collections.sms.remediation.plugins.module_utils import sms20
from ansible_collections.sms.remediation.plugins.module_utils.probe_result import parse_probe
from ansible_collections.sms.remediation.plugins.plugin_utils._hostvars import incomplete_hosts
from ansible_collections.sms.remediation.plugins.module_utils.batches import batch_summary

import probe_builders as pb

TABLE = sms20.merge_overrides(None)
HOSTS = ["sms610", "sms620", "sms630"]


def hostvars():
    healthy = parse_probe("sms610", pb.site_probe("610", "600"), TABLE).to_facts()
    blind = parse_probe("sms620", pb.site_probe("620", "600", active_available=False), TABLE).to_facts()
    return {"sms610": {"ansible_facts": {"sms_site": healthy}, "q244405_outcome": {"error": None}},
            "sms620": {"ansible_facts": {"sms_site": blind}, "q244405_outcome": {"error": None}},
            "sms630": {"q244405_outcome": {"error": "sms630: hotfix: SMS_EXECUTIVE did not stop"}}}


def test_a_host_that_could_not_read_its_active_list_is_counted_incomplete():
    variables = hostvars()
    assert incomplete_hosts(variables, HOSTS) == ["sms620"]
    outcomes = {host: variables[host]["q244405_outcome"] for host in HOSTS}
    line = batch_summary(HOSTS, outcomes, HOSTS, incomplete_hosts=incomplete_hosts(variables, HOSTS))
    assert line.startswith("batch: 1 ok, 1 incomplete, 1 failed, 0 skipped; "), line


def test_the_line_keeps_its_form_when_every_host_read_everything():
    outcomes = {"sms610": {"error": None}}
    assert batch_summary(["sms610"], outcomes, ["sms610"]).startswith("batch: 1 ok, 0 failed, 0 skipped; ")
