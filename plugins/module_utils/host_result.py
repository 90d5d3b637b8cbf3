# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One host's record for the fleet report, assembled from what the q244405 role left in hostvars.

The role leaves ``q244405_outcome`` (site_before, packages_before, plan, logging, workaround, hotfix, error,
failed_step; written by sms.remediation.remediate)
and the verification facts ``ansible_facts.sms_site``. The record follows the schema documented in
report.py."""

from __future__ import annotations

from ansible_collections.sms.remediation.plugins.module_utils.facts import OUTCOME_FACT, SiteFacts

OUTCOME = OUTCOME_FACT


def outcome_of(host_vars) -> dict | None:
    """A host's outcome record: the fact sms.remediation.remediate sets, else the variable the role's
    rescue sets when that task failed (a failed task sets no facts). Facts are read under ansible_facts:
    ansible-core stops injecting them as top-level variables in 2.24."""
    facts = host_vars.get("ansible_facts") or {}
    return facts.get(OUTCOME) or host_vars.get(OUTCOME)


NO_RESULT = "no result: the host was unreachable or failed before its facts were gathered"


def _site_summary(site: SiteFacts) -> dict:
    return {
        "site_code": site.site_code,
        "parent_site_code": site.parent_site_code,
        "version": site.version,
        "service_pack": site.service_pack,
        "platform": site.platform,
        "logging_enabled": site.logging.get("enabled"),
        "transport": site.transport,
    }


def _state(site: SiteFacts | None) -> dict:
    if site is None:
        return {"affected": None, "fixed_by": None, "reason": None}
    state = site.q244405
    return {"affected": state.affected, "fixed_by": state.fixed_by, "reason": state.reason or None}


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
        # the file that keeps the replaced Distmgr.dll (the manual method): the way back
        "backup": hotfix.get("backup") if ran else None,
    }


# What a failed source of the probe (its ``errors``, docs/internals.md section 1) leaves unknown on the host.
SOURCE_GAPS = {
    "wmi": "SMS Provider (WMI) not read",
    "package_folders": "package folders not listed",
    "services": "service states unknown",
    "processes": "whether the SMS Administrator console is open is unknown",
    "registry": "registry not read",
    "platforms": "Distmgr.dll not read",
    "install_dir": "SMS installation directory unknown",
    "hotfix_log": "hotfix log not checked",
    "transaction_journal": "hotfix transaction journal not read",
    "log": "Distmgr.log not read",
}


def sources_failed(site: SiteFacts, acted_on: bool) -> list:
    """The sources of facts the probe could not read on this host, each with why and what it leaves unknown
    (``{"source", "error", "text"}``): a host that found nothing because it could not look is not a clean ok."""
    found = []
    active_error = None
    if not site.active.available:
        active_error = site.active.error or "the SMS Provider could not be queried"
        effect = "only forced packages acted on" if acted_on else "nothing removed"
        label = "" if active_error.lower().startswith("active packages unknown") else "active packages unknown: "
        found.append({"source": "active_packages", "error": active_error, "text": f"{label}{active_error}; {effect}"})
    messages: dict[str, list] = {}
    for error in site.probe_errors:
        source, message = error["source"], error["message"]
        # the active list's own error is said above; the same text is not repeated
        if source == "wmi" and active_error and message in active_error:
            continue
        if message not in messages.setdefault(source, []):
            messages[source].append(message)
    for source, texts in messages.items():
        error = "; ".join(texts)
        found.append({"source": source, "error": error,
                      "text": f"{SOURCE_GAPS.get(source, f'probe source {source} failed')}: {error}"})
    return found


def _recovery_summary(recovery: dict | None) -> dict | None:
    if not recovery:
        return None
    return {key: recovery.get(key) for key in ("action", "outcome", "transaction_id", "dll_state", "msg")}


def host_result(host: str, outcome: dict | None, site_after: dict | None, check_mode: bool) -> dict:
    """The report record of one host (status ok, incomplete, failed, skipped or unreachable)."""
    if not outcome and not site_after:
        return {"host": host, "status": "unreachable", "error": NO_RESULT, "check_mode": check_mode,
                "site": {}, "q244405": {}, "leftovers": [], "bytes_reclaimed": 0,
                "actions": {"removed": [], "quarantined": [], "refused": [], "hotfix": {}}, "sources_failed": []}
    outcome = outcome or {}
    # Every sms_site fact is read through SiteFacts.from_facts (facts.py): the shape is written once.
    after = SiteFacts.from_facts(site_after, host, with_files=False) if site_after else None
    before = after
    if outcome.get("site_before"):
        before = SiteFacts.from_facts(outcome["site_before"], host, with_files=False)
    site = after or before or SiteFacts.from_facts({}, host)
    plan = outcome.get("plan") or {}
    workaround = outcome.get("workaround") or {}
    # Refused: what the user asked for and did not get (a forced ID that may not be forced, a file the host
    # script would not touch). The plan's kept leftovers were not asked for: the report says "kept" with
    # the leftover's own reasons.
    refused = list(plan.get("refused") or []) + list(workaround.get("refused") or [])
    # the facts the decision had: what could not be read there limited what this run could do
    gaps = sources_failed(before or site, bool(workaround.get("removed") or workaround.get("quarantined")))
    return {
        "host": host,
        # skipped: q244405_stop_at_failed_child stopped at this site (the reason is the "error");
        # incomplete: nothing failed, but some facts could not be read (sources_failed says which and why)
        "status": "failed" if outcome.get("error") else "skipped" if outcome.get("skipped") else
        "incomplete" if gaps else "ok",
        "sources_failed": gaps,
        "error": outcome.get("error") or outcome.get("skipped"),
        # the step of sms.remediation.remediate that failed (logging, workaround, hotfix, verify), else the task
        "failed_task": outcome.get("failed_step") or outcome.get("failed_task"),
        "check_mode": check_mode,
        "site": dict(_site_summary(site),
                     # the evidence the decision had: the facts before this run changed anything
                     log_evidence=before.logging.get("evidence_available") if before else None,
                     logging_note=before.logging.get("note") if before else None),
        "q244405": _state(after or before),
        "q244405_before": _state(before),
        "leftovers": list((outcome.get("packages_before") or {}).get("leftovers") or []),
        "actions": {
            "removed": list(workaround.get("removed") or []),
            "quarantined": list(workaround.get("quarantined") or []),
            "refused": refused,
            "hotfix": _hotfix_summary(plan, outcome.get("hotfix"), check_mode),
            "logging": _logging_summary(outcome.get("logging"), check_mode),
            # a hotfix transaction a cut connection had left half done, finished first (decision.plan)
            "recovery": _recovery_summary(outcome.get("recovery")),
        },
        "bytes_reclaimed": int(workaround.get("bytes_reclaimed") or 0),
        "warnings": list(before.warnings) if before else [],
    }
