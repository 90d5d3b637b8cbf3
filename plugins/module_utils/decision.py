"""The remediation plan of one site: which leftovers to remove, whether to apply the hotfix.

Policies (``POLICIES``):

``report``      change nothing; the leftovers and the Q244405 state are only reported.
``workaround``  remove the actionable leftovers (``stale_confirmed``), no hotfix.
``hotfix``      apply the hotfix when the site is affected; leftovers are not touched.
``auto``        both: the hotfix stops NEW leftovers but does not remove the existing ones,
                so an affected site gets the hotfix AND its actionable leftovers removed.

The hotfix is refused (``Plan.hotfix`` False with ``hotfix_reason``) when the site is already
fixed (service pack or hotfix), when it cannot be told whether the site is affected, when the
installer method is asked for on a platform the installer does not run on (Q244405.exe is I386
only), or when no hotfix source was given. ``hotfix_method=None`` picks ``installer`` on an
installer platform and ``manual`` elsewhere.

Every non-actionable leftover is refused with its reason, except the IDs the user forces
(``force_ids``, only under ``workaround``/``auto``): a ``stale_unconfirmed`` one may be forced;
an ``unknown`` one only when its name is a valid package ID and its sole problem is that the
site's active list was unavailable; an ``active`` one never.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ansible_collections.sms.remediation.plugins.module_utils.leftovers import (
    REASON_ACTIVE_UNAVAILABLE,
)
from ansible_collections.sms.remediation.plugins.module_utils.package_ids import (
    PackageIdError,
    validate_package_id,
)

__all__ = ["HOTFIX_METHODS", "POLICIES", "Plan", "plan"]

POLICIES = ("auto", "report", "workaround", "hotfix")
HOTFIX_METHODS = ("installer", "manual")
_REMOVING = ("auto", "workaround")
_HOTFIXING = ("auto", "hotfix")


@dataclass
class Plan:
    """What to do on one site, and what is refused and why."""

    policy: str
    hotfix: bool
    hotfix_method: str | None
    hotfix_reason: str
    remove: list = field(default_factory=list)
    refused: list = field(default_factory=list)
    notes: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "policy": self.policy,
            "hotfix": self.hotfix,
            "hotfix_method": self.hotfix_method,
            "hotfix_reason": self.hotfix_reason,
            "remove": [item.to_dict() for item in self.remove],
            "refused": [dict(item) for item in self.refused],
            "notes": list(self.notes),
        }


def _hotfix_decision(site, policy, method, source_available, table) -> tuple[bool, str | None, str]:
    if policy not in _HOTFIXING:
        return False, None, f"policy {policy} does not apply the hotfix"
    state = site.q244405
    if state.fixed_by is not None:
        return False, None, f"already fixed ({state.fixed_by}): {state.reason}"
    if state.affected is None:
        return False, None, f"cannot tell whether the site is affected: {state.reason}"
    if not state.affected:
        return False, None, f"not affected: {state.reason}"
    installer_platforms = [p.lower() for p in table.get("installer_platforms", ["i386"])]
    platform = (site.platform or "").lower()
    installer_name = table.get("hotfix_installer_name", "Q244405.exe")
    if method is None:
        method = "installer" if platform in installer_platforms else "manual"
    if method == "installer" and platform not in installer_platforms:
        allowed = "/".join(p.upper() for p in installer_platforms)
        return False, method, f"{installer_name} runs on {allowed} only; use method=manual on {site.platform}"
    if not source_available:
        what = installer_name if method == "installer" else f"Distmgr.dll for {site.platform}"
        return False, method, f"no hotfix source given (method {method} needs {what})"
    return True, method, f"affected: {state.reason}; hotfix by method {method}"


def plan(
    site,
    leftovers: list,
    policy: str,
    hotfix_method: str | None = None,
    hotfix_source_available: bool = False,
    force_ids=(),
    table: dict | None = None,
) -> Plan:
    """Decide the plan of one site (see the module docstring for the rules)."""
    if policy not in POLICIES:
        raise ValueError(f"policy {policy!r}: expected one of {', '.join(POLICIES)}")
    if hotfix_method is not None and hotfix_method not in HOTFIX_METHODS:
        raise ValueError(f"hotfix_method {hotfix_method!r}: expected one of {', '.join(HOTFIX_METHODS)} or None")
    if table is None:
        raise ValueError("table is required (sms20.merge_overrides())")
    if isinstance(force_ids, str):
        force_ids = [force_ids]

    notes: list[str] = []
    hotfix, method, hotfix_reason = _hotfix_decision(
        site, policy, hotfix_method, hotfix_source_available, table)
    if hotfix and site.console_open:
        notes.append("the SMS Administrator console is open on the site server: the hotfix closes "
                     "nothing itself and its pre-check will refuse until it is closed")

    forced: set[str] = set()
    for raw in force_ids:
        try:
            forced.add(validate_package_id(raw))
        except PackageIdError as exc:
            notes.append(f"force ID ignored: {exc}")

    remove = []
    refused = []
    if policy not in _REMOVING:
        notes.append(f"policy {policy}: no compressed package is removed")
        if forced:
            notes.append(f"force IDs ignored under policy {policy}: {', '.join(sorted(forced))}")
        return Plan(policy, hotfix, method, hotfix_reason, remove, refused, notes)

    matched: set[str] = set()
    for item in leftovers:
        reason = "; ".join(item.reasons) or item.status
        pid = item.package_id
        if pid is not None and pid in forced:
            matched.add(pid)
        if item.actionable and item.status == "stale_confirmed":
            remove.append(item)
            if pid in forced:
                notes.append(f"force ID {pid}: already confirmed stale, forcing not needed")
            continue
        if pid is not None and pid in forced:
            allowed, why = _forceable(item)
            if allowed:
                remove.append(item)
                notes.append(f"{item.path}: forced by the user ({item.status}: {reason})")
                continue
            refused.append({"id": pid, "name": item.name, "reason": f"cannot force: {why}"})
            continue
        refused.append({"id": pid, "name": item.name, "reason": f"{item.status}: {reason}"})

    for pid in sorted(forced - matched):
        notes.append(f"force ID {pid} matches no compressed package on this site")
    if policy == "auto" and hotfix:
        notes.append("the hotfix stops new leftovers; it does not remove the existing ones")
    return Plan(policy, hotfix, method, hotfix_reason, remove, refused, notes)


def _forceable(item) -> tuple[bool, str]:
    """Whether a non-actionable leftover may be forced by the user, with the reason if not."""
    reason = "; ".join(item.reasons) or item.status
    if item.status == "stale_unconfirmed":
        return True, ""
    if item.status == "active":
        return False, f"active: {reason}"
    if item.status == "unknown":
        valid_id = item.package_id is not None
        if valid_id:
            try:
                validate_package_id(item.package_id)
            except PackageIdError:
                valid_id = False
        only_unavailable = bool(item.reasons) and item.reasons[0].startswith(REASON_ACTIVE_UNAVAILABLE)
        origin = (item.evidence or {}).get("origin") or {}
        if valid_id and only_unavailable and origin.get("present") is not True:
            return True, ""
        return False, f"unknown: {reason}"
    return False, f"{item.status}: {reason}"
