# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One host's record for the fleet report, assembled from what the q244405 role left in hostvars.

The role leaves ``q244405_outcome`` (site_before, packages_before, plan, logging, workaround, hotfix, error,
failed_step; written by sms.remediation.remediate)
and the verification facts ``ansible_facts.sms_site``. The record follows the schema documented in
report.py."""

from __future__ import annotations

OUTCOME = "q244405_outcome"


def outcome_of(host_vars) -> dict | None:
    """A host's outcome record: the fact sms.remediation.remediate sets, else the variable the role's
    rescue sets when that task failed (a failed task sets no facts). Facts are read under ansible_facts:
    ansible-core stops injecting them as top-level variables in 2.24."""
    facts = host_vars.get("ansible_facts") or {}
    return facts.get(OUTCOME) or host_vars.get(OUTCOME)


NO_RESULT = "no result: the host was unreachable or failed before its facts were gathered"


def _site_summary(site: dict) -> dict:
    logging = site.get("logging") or {}
    return {
        "site_code": site.get("site_code"),
        "parent_site_code": site.get("parent_site_code"),
        "version": site.get("version"),
        "service_pack": site.get("service_pack"),
        "platform": site.get("platform"),
        "logging_enabled": logging.get("enabled"),
    }


def _logging_summary(logging: dict | None, check_mode: bool) -> dict:
    """What q244405_enable_distmgr_logging did (the role's ``q244405_outcome.logging``)."""
    logging = logging or {}
    changed = bool(logging.get("changed"))
    restarted = bool(logging.get("executive_restarted"))
    return {
        "enabled_by_run": changed and not check_mode,
        "would_enable": changed and check_mode,
        "executive_restarted": restarted and not check_mode,
        "registry_key": logging.get("registry_key"),
        "value_name": logging.get("value_name"),
        "takes_effect": None if not changed else (
            "now (SMS_EXECUTIVE restarted)" if restarted else "at the next restart of SMS_EXECUTIVE"),
    }


def _hotfix_summary(plan: dict, hotfix: dict | None, check_mode: bool) -> dict:
    hotfix = hotfix or {}
    ran = bool(hotfix) and not hotfix.get("skipped")
    return {
        "planned": bool(plan.get("hotfix")),
        "applied": ran and bool(hotfix.get("changed")) and not check_mode and not hotfix.get("failed"),
        "would_apply": ran and bool(hotfix.get("changed")) and check_mode,
        "method": plan.get("hotfix_method"),
        "outcome": hotfix.get("outcome") if ran else None,
        "reason": hotfix.get("msg") if ran else plan.get("hotfix_reason"),
    }


def host_result(host: str, outcome: dict | None, site_after: dict | None, check_mode: bool) -> dict:
    """The report record of one host (status ok, failed, skipped or unreachable)."""
    if not outcome and not site_after:
        return {"host": host, "status": "unreachable", "error": NO_RESULT, "check_mode": check_mode,
                "site": {}, "q244405": {}, "leftovers": [], "bytes_reclaimed": 0,
                "actions": {"removed": [], "quarantined": [], "refused": [], "hotfix": {}}}
    outcome = outcome or {}
    site_before = outcome.get("site_before") or site_after or {}
    plan = outcome.get("plan") or {}
    workaround = outcome.get("workaround") or {}
    q244405 = (site_after or site_before).get("q244405") or {}
    refused = list(plan.get("refused") or []) + list(workaround.get("refused") or [])
    return {
        "host": host,
        # skipped: q244405_stop_at_failed_child stopped at this site (the reason is the "error")
        "status": "failed" if outcome.get("error") else "skipped" if outcome.get("skipped") else "ok",
        "error": outcome.get("error") or outcome.get("skipped"),
        # the step of sms.remediation.remediate that failed (logging, workaround, hotfix, verify), else the task
        "failed_task": outcome.get("failed_step") or outcome.get("failed_task"),
        "check_mode": check_mode,
        "site": dict(_site_summary(site_after or site_before),
                     # the evidence the decision had: the facts before this run changed anything
                     log_evidence=(site_before.get("logging") or {}).get("evidence_available"),
                     logging_note=(site_before.get("logging") or {}).get("note")),
        "q244405": {key: q244405.get(key) for key in ("affected", "fixed_by", "reason")},
        "q244405_before": {key: (site_before.get("q244405") or {}).get(key) for key in ("affected", "fixed_by", "reason")},
        "leftovers": list((outcome.get("packages_before") or {}).get("leftovers") or []),
        "actions": {
            "removed": list(workaround.get("removed") or []),
            "quarantined": list(workaround.get("quarantined") or []),
            "refused": refused,
            "hotfix": _hotfix_summary(plan, outcome.get("hotfix"), check_mode),
            "logging": _logging_summary(outcome.get("logging"), check_mode),
        },
        "bytes_reclaimed": int(workaround.get("bytes_reclaimed") or 0),
        "warnings": list(site_before.get("warnings") or []),
    }
