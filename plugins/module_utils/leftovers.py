"""Classify every file of a site's package folders: leftover of Q244405, active, or unknown.

Evidence levels, strongest first (``EVIDENCE_LEVELS``):

``log_and_origin``
    Distmgr.log here claims "Successfully deleted the package <ID>" AND the package's origin
    site (the site whose code starts the ID, a different site in the same run) no longer
    lists it AND this site does not list it.
``origin``
    The origin site (different, in the run, its list readable) no longer lists it and this
    site does not list it; no usable log claim.
``log``
    The log claim and this site does not list it; the origin site is not in the run (or is
    this site itself, or its list could not be read).
``absent_here``
    Only: this site does not list it.

Statuses:

``active``
    Listed by this site (ActionInProgress=3 included: left to Distribution Manager), or
    PRESENT AT ITS ORIGIN SITE: a package the origin still has is never removed at a child,
    whatever the log says.
``unknown``
    The name is not a package ID, the file is a reparse point, or this site's active list
    could not be read. Never actionable.
``stale_confirmed``
    Not active and the evidence level is at least ``min_evidence``: actionable.
``stale_unconfirmed``
    Not active, weaker evidence (or a log claim that does not cover this file, below).

Clock tolerance (``CLAIM_TOLERANCE``, 24 hours by default; the sms20 table's ``claim_tolerance_hours``). Log times are LOCAL time with only a time-zone
NAME ("Pacific Daylight Time"), file times are UTC. Local time is within -12h..+14h of UTC, so
the claim time is read as if it were UTC and a file whose last write is more than 24 hours
after it is taken as written AFTER the claimed deletion: the claim does not cover that file,
the log evidence is dropped and the file is ``stale_unconfirmed`` with the reason, whatever the
origin says (something wrote this copy after Distribution Manager "deleted" it). Within 24
hours the claim is accepted. A claim or file without a usable time is accepted only when the
origin site confirms the deletion (``log_and_origin``, the evidence says the time could not be
checked); otherwise the claim is not used (a package deleted and re-created with the same ID
would look the same), so the level falls to ``absent_here``.

``Leftover.evidence``::

    {"log": {"claim": text, "time": iso|None, "tz_name", "thread", "source": path, "line": n,
             "time_checked": bool} | None,
     "origin": {"site_code": str|None, "in_run": bool, "present": bool|None},
     "here": {"active": bool}}
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from ansible_collections.sms.remediation.plugins.module_utils.package_ids import (
    PackageIdError,
    site_code_of,
    validate_package_id,
)
from ansible_collections.sms.remediation.plugins.module_utils.choices import EVIDENCE_LEVELS
from ansible_collections.sms.remediation.plugins.module_utils.distmgr_log import log_entry_to_dict
from ansible_collections.sms.remediation.plugins.module_utils.facts import SiteFacts

__all__ = [
    "CLAIM_TOLERANCE",
    "EVIDENCE_LEVELS",
    "Leftover",
    "OriginView",
    "REASON_ACTIVE_UNAVAILABLE",
    "STATUSES",
    "classify",
    "evidence_at_least",
    "origin_view_from_facts",
    "summarise",
]

STATUSES = ("stale_confirmed", "stale_unconfirmed", "active", "unknown")
CLAIM_TOLERANCE = timedelta(hours=24)
# The reason of an ``unknown`` leftover whose only problem is this site's unreadable active
# list starts with this text (decision.plan lets the user force those, and only those).
REASON_ACTIVE_UNAVAILABLE = "active list unavailable"


def evidence_at_least(level: str | None, minimum: str) -> bool:
    """True when ``level`` is as strong as ``minimum`` or stronger."""
    if minimum not in EVIDENCE_LEVELS:
        raise ValueError(f"min_evidence {minimum!r}: expected one of {', '.join(EVIDENCE_LEVELS)}")
    if level is None:
        return False
    return EVIDENCE_LEVELS.index(level) <= EVIDENCE_LEVELS.index(minimum)


@dataclass(frozen=True)
class OriginView:
    """What another host of the run says about the packages of its site."""

    site_code: str
    available: bool
    active_ids: frozenset
    reason: str | None = None


def origin_summary(facts: dict) -> dict:
    """The part of a site's ``sms_site`` fact that origin evidence reads (``SiteFacts.origin_summary``)."""
    return SiteFacts.from_facts(facts, with_files=False).origin_summary()


def origin_view_from_facts(facts: dict) -> OriginView:
    """Build an OriginView from another host's ``sms_site`` fact (or its origin summary)."""
    if not isinstance(facts, dict):
        raise ValueError(f"origin facts: expected a dict, got {type(facts).__name__}")
    site = SiteFacts.from_facts(facts, with_files=False)
    if not isinstance(site.site_code, str) or not site.site_code:
        raise ValueError(f"origin facts of {site.host}: 'site_code' missing")
    code = site.site_code.upper()
    if not site.active.available:
        reason = site.active.error
        if reason in ("no active package facts", "active ids malformed"):
            return OriginView(code, False, frozenset(), f"site {site.site_code} ({site.host}): {reason}")
        return OriginView(code, False, frozenset(),
                          f"site {site.site_code} ({site.host}): active list unavailable ({reason})")
    return OriginView(code, True, site.active.ids, None)


@dataclass
class Leftover:
    """One file of a package folder with its classification and the evidence behind it."""

    package_id: str | None
    name: str
    path: str
    folder: str
    size: int | None
    status: str
    evidence_level: str | None
    actionable: bool
    reasons: list = field(default_factory=list)
    evidence: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "package_id": self.package_id,
            "name": self.name,
            "path": self.path,
            "folder": self.folder,
            "size": self.size,
            "status": self.status,
            "evidence_level": self.evidence_level,
            "actionable": self.actionable,
            "reasons": list(self.reasons),
            "evidence": self.evidence,
        }


def _as_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        # Local wall-clock time of the log, read as if it were UTC (see CLAIM_TOLERANCE).
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def classify(site: SiteFacts, origins: dict, min_evidence: str = "origin",
             claim_tolerance: timedelta = CLAIM_TOLERANCE) -> list:
    """Classify each file of ``site.package_files`` (order kept) against the evidence.

    ``origins`` maps site code -> OriginView for the other sites of the run. Origin evidence
    counts only for a DIFFERENT site than ``site`` whose view is available. ``claim_tolerance``:
    see the clock tolerance above (the sms20 table's ``claim_tolerance_hours``).
    """
    if min_evidence not in EVIDENCE_LEVELS:
        raise ValueError(f"min_evidence {min_evidence!r}: expected one of {', '.join(EVIDENCE_LEVELS)}")
    return [_classify_one(site, f, origins, min_evidence, claim_tolerance) for f in site.package_files]


def _classify_one(site: SiteFacts, pf, origins: dict, min_evidence: str, claim_tolerance: timedelta) -> Leftover:
    here_code = site.site_code.upper()

    def make(status, level, reasons, log=None, origin=None, active_here=False):
        return Leftover(
            package_id=pf.package_id,
            name=pf.name,
            path=pf.path,
            folder=pf.folder,
            size=pf.size,
            status=status,
            evidence_level=level,
            actionable=status == "stale_confirmed",
            reasons=list(reasons),
            evidence={
                "log": log,
                "origin": origin or {"site_code": None, "in_run": False, "present": None},
                "here": {"active": active_here},
            },
        )

    # 1. The name must be a package ID.
    package_id = pf.package_id
    if package_id is None or pf.name_error:
        return make("unknown", None, [pf.name_error or "file name is not a package ID"])
    try:
        package_id = validate_package_id(package_id)
        origin_code = site_code_of(package_id)
    except PackageIdError as exc:
        return make("unknown", None, [str(exc)])

    # 2. Links are never followed nor removed.
    if pf.reparse_point:
        return make("unknown", None, ["the file is a reparse point (link or junction): refused"])

    # 3. Active here (deleting counts as active).
    if site.active.available and package_id in site.active.deleting:
        return make("active", None, [
            f"deletion in progress at site {here_code} (ActionInProgress=DELETE): "
            "left to Distribution Manager"], active_here=True)
    if site.active.available and package_id in site.active.ids:
        return make("active", None, [f"package {package_id} is active at site {here_code}"],
                    active_here=True)

    # 4. The origin site's view.
    origin_ev = {"site_code": origin_code, "in_run": False, "present": None}
    origin_reason = None
    origin_absent = False
    if origin_code == here_code:
        origin_reason = f"origin site {origin_code} is this site: origin evidence does not apply"
    else:
        view = origins.get(origin_code)
        if view is None:
            origin_reason = f"origin site {origin_code} is not in this run"
        elif not view.available:
            origin_reason = (f"origin site {origin_code} is in the run but unreadable "
                             f"({view.reason or 'active list unavailable'}): treated as not in the run")
        else:
            present = package_id in view.active_ids
            origin_ev = {"site_code": origin_code, "in_run": True, "present": present}
            if present:
                return make("active", None, [
                    f"package {package_id} is still present at its origin site {origin_code}: "
                    "never removed at a child site"], origin=origin_ev)
            origin_absent = True

    # 5. This site's own list must be readable before anything can be called stale.
    if not site.active.available:
        reasons = [f"{REASON_ACTIVE_UNAVAILABLE} at site {here_code} ({site.active.error or 'unknown error'})"]
        if origin_reason:
            reasons.append(origin_reason)
        return make("unknown", None, reasons, origin=origin_ev)

    # 6. The log claim, and whether it covers this file.
    reasons: list[str] = []
    history = site.log_histories.get(package_id)
    claim = history.claim if history is not None else None
    log_ev = None
    claim_ok = False
    claim_contradicted = False
    if claim is not None:
        entry = log_entry_to_dict(claim)
        log_ev = {"claim": entry["text"], "time": entry["time"], "tz_name": entry["tz_name"],
                  "thread": entry["thread"], "source": entry["source"], "line": entry["line"]}
        claim_time = _as_utc(getattr(claim, "timestamp", None))
        file_time = pf.last_write()
        if claim_time is None or file_time is None:
            log_ev["time_checked"] = False
            if origin_absent:
                claim_ok = True
                reasons.append("log claim accepted without a time check (claim or file time unknown; "
                               "the origin site confirms the deletion)")
            else:
                # Without times the claim cannot be told apart from an older deletion of a package
                # re-created since with the same ID: alone, it is no evidence.
                reasons.append("log claim not used: claim or file time unknown, so it cannot be told "
                               "whether the claim covers this file (a package re-created with the same ID "
                               "looks the same) and the origin site does not confirm the deletion")
        elif file_time - claim_time > claim_tolerance:
            claim_contradicted = True
            log_ev["time_checked"] = True
            reasons.append(
                f"the file was written {file_time.isoformat()} (UTC), more than "
                f"{int(claim_tolerance.total_seconds() // 3600)}h after the log claim "
                f"({claim_time.replace(tzinfo=None).isoformat()} {getattr(claim, 'tz_name', None) or 'local time'}): "
                "the claim does not cover this file"
            )
        else:
            claim_ok = True
            log_ev["time_checked"] = True
        if claim_ok:
            reasons.insert(0, f"Distmgr.log claims 'Successfully deleted the package {package_id}' "
                              f"({log_ev.get('source')}, line {log_ev.get('line')})")
    elif history is not None and history.last_kind == "adding":
        reasons.append(f"Distmgr.log shows package {package_id} added again after its deletion: no claim")
    elif not site.logging.get("evidence_available", False):
        reasons.append("no Distmgr.log on this site: no log evidence")
    else:
        reasons.append(f"Distmgr.log has no 'Successfully deleted' claim for {package_id}")

    if origin_reason:
        reasons.append(origin_reason)
    else:
        reasons.append(f"absent at its origin site {origin_code}")
    reasons.append(f"absent from the active list of site {here_code}")

    if claim_ok and origin_absent:
        level = "log_and_origin"
    elif origin_absent:
        level = "origin"
    elif claim_ok:
        level = "log"
    else:
        level = "absent_here"

    if claim_contradicted:
        status = "stale_unconfirmed"
    elif evidence_at_least(level, min_evidence):
        status = "stale_confirmed"
    else:
        status = "stale_unconfirmed"
        reasons.append(f"evidence {level} is weaker than the required {min_evidence}")
    return make(status, level, reasons, log=log_ev, origin=origin_ev)


def summarise(leftovers: list) -> dict:
    """Counts per status, total count and the bytes of the actionable leftovers.

    Keys: ``count``, one key per status (``stale_confirmed`` ...), ``actionable``,
    ``by_evidence_level`` and ``bytes_reclaimable``.
    """
    by_status = {status: 0 for status in STATUSES}
    by_level = {level: 0 for level in EVIDENCE_LEVELS}
    reclaimable = 0
    for item in leftovers:
        by_status[item.status] = by_status.get(item.status, 0) + 1
        if item.evidence_level is not None:
            by_level[item.evidence_level] = by_level.get(item.evidence_level, 0) + 1
        if item.actionable:
            reclaimable += item.size or 0
    return {
        "count": len(leftovers),
        **by_status,
        "by_evidence_level": by_level,
        "actionable": sum(1 for i in leftovers if i.actionable),
        "bytes_reclaimable": reclaimable,
    }


def packages_fact(site, leftovers: list, min_evidence: str) -> dict:
    """The ``sms_packages`` fact: the classification of one site's .PCK files."""
    return {
        "leftovers": [leftover.to_dict() for leftover in leftovers],
        "summary": summarise(leftovers),
        "min_evidence": min_evidence,
        "evidence_available": bool(site.logging.get("evidence_available")),
    }
