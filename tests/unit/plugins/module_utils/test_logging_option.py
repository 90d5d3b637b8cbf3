"""Issue 7: where logging is switched on (facts from the table) and how the report shows what the run did."""
from __future__ import annotations

from ansible_collections.sms.remediation.plugins.module_utils import sms20
from ansible_collections.sms.remediation.plugins.module_utils.host_result import host_result
from ansible_collections.sms.remediation.plugins.module_utils.probe_result import parse_probe
from ansible_collections.sms.remediation.plugins.module_utils.report import build_report, render_markdown

from probe_builders import no_log, probe, registry

TRACING_PS = "HKLM:\\SOFTWARE\\Microsoft\\SMS\\Tracing\\SMS_DISTRIBUTION_MANAGER"


def facts(table=None):
    return parse_probe("sms01", probe(registry=registry(tracing_enabled=0), distmgr_log=no_log()),
                       table or sms20.merge_overrides(None)).to_facts()


def test_logging_facts_name_the_registry_value_from_the_table():
    logging = facts()["logging"]
    assert (logging["registry_key"], logging["value_name"], logging["service"]) == (TRACING_PS, "Enabled", "SMS_EXECUTIVE")
    assert logging["enabled"] is False and logging["evidence_available"] is False


def test_overrides_reach_the_logging_facts_in_powershell_drive_form():
    table = sms20.merge_overrides({"registry_root": "HKLM\\SOFTWARE\\Vendor\\SMS", "log_component": "SMS_DISTMGR",
                                   "registry_values": {"tracing_enabled": "On"},
                                   "services": {"executive": "SMS_EXEC2"}})
    logging = facts(table)["logging"]
    assert logging["registry_key"] == "HKLM:\\SOFTWARE\\Vendor\\SMS\\Tracing\\SMS_DISTMGR"
    assert (logging["value_name"], logging["service"]) == ("On", "SMS_EXEC2")


def outcome(site, logging=None):
    result = {"error": None, "site_before": site, "packages_before": {"leftovers": []},
              "plan": {"hotfix": False}}
    if logging is not None:
        result["logging"] = logging
    return result


def test_report_says_logging_enabled_by_this_run_and_no_log_evidence():
    site = facts()
    changed = {"registry_key": TRACING_PS, "value_name": "Enabled", "was_enabled": False, "changed": True,
               "executive_restarted": False}
    record = host_result("sms01", outcome(site, changed), site, check_mode=False)
    assert record["actions"]["logging"]["enabled_by_run"] is True
    assert record["site"]["log_evidence"] is False
    assert "no log evidence on this site" in record["site"]["logging_note"]
    report = build_report({"sms01": record}, {"check_mode": False})
    entry = report["hosts"][0]
    assert entry["logging"] == {"enabled_by_run": True, "would_enable": False, "executive_restarted": False,
                                "takes_effect": "at the next restart of SMS_EXECUTIVE"}
    assert "logging enabled by this run" in entry["summary"]
    assert "no log evidence on this site" in entry["summary"]
    assert report["totals"]["logging_enabled_by_run"] == 1
    assert "logging enabled by this run" in render_markdown(report)


def test_check_mode_and_restart_and_no_option():
    site = facts()
    restarted = {"changed": True, "executive_restarted": True}
    check = build_report({"sms01": host_result("sms01", outcome(site, restarted), site, True)}, {"check_mode": True})
    assert check["hosts"][0]["logging"]["would_enable"] is True
    assert check["hosts"][0]["logging"]["enabled_by_run"] is False
    assert "would enable logging" in check["hosts"][0]["summary"]
    assert check["totals"]["logging_would_enable"] == 1
    real = build_report({"sms01": host_result("sms01", outcome(site, restarted), site, False)}, {})
    assert real["hosts"][0]["logging"]["takes_effect"] == "now (SMS_EXECUTIVE restarted)"
    untouched = build_report({"sms01": host_result("sms01", outcome(site), site, False)}, {})
    assert untouched["hosts"][0]["logging"]["enabled_by_run"] is False
    assert "logging enabled" not in untouched["hosts"][0]["summary"]
