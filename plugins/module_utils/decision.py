# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one decision for one site server: ``plan()`` turns the facts and the user's request into the
final plan, the steps to run with their arguments and every refusal with its reason. The steps
(plugin_utils/_steps) carry it out and decide nothing; ``remediate`` and the single-step modules
(``distmgr_hotfix``, ``compressed_package``, ``remediation_plan``) all plan here, so they refuse for
the same reasons.

Policies (``choices.POLICIES``):

``report``      change nothing; the leftovers and the Q244405 state are only reported.
``workaround``  remove the actionable leftovers (``stale_confirmed``), no hotfix.
``hotfix``      apply the hotfix when the site is affected; leftovers are not touched.
``auto``        both: the hotfix stops NEW leftovers but does not remove the existing ones,
                so an affected site gets the hotfix AND its actionable leftovers removed.

Leftovers: every actionable one is removed; the others are ``kept`` with their reason (nobody asked
for them); only what the user asked for and cannot have is ``refused``: a forced ID that may not be
forced. A ``stale_unconfirmed`` leftover may be forced; an ``unknown`` one only when its name is a valid
package ID and its sole problem is that the site's active list was unavailable; an ``active`` one never.

The hotfix, when the policy applies it and the site is affected (``Plan.hotfix_reason`` says why not
otherwise). ``hotfix_method=None`` picks ``installer`` on an installer platform, ``manual`` elsewhere.
Two kinds of refusal:

* skipped with the reason (the host is fine, it just does not get the hotfix in this run): already
  fixed, not affected, cannot tell whether affected, no ``Distmgr.dll`` given for the site's platform
  (method manual), or a hotfix file of another build than the site's (below);
* refused with a failure (the user asked for something that must not be done; the host fails at the
  hotfix step with the reason, after the steps before it ran): the SMS services missing, the SMS
  Administrator console open (KB: close it first) or not known to be closed (``console_open`` None: the
  probe's console check failed, e.g. WMI down, or msrpc without WMI) unless ``allow_console_open``, the installer on a
  platform it does not run on (Q244405.exe is I386 only) or without ``installer_path``, a hotfix file
  that is missing on the controller or whose sha256 is not the expected one.

``Request.hotfix_required`` (the single-step ``distmgr_hotfix``: the user asked for the hotfix on this
host) makes every refusal of the first kind but "already fixed" a failure.

Hotfix across builds: the KB's hotfix ``Distmgr.dll`` is the SP1 bundle's (build 1380). On a site of
another build (RTM, 1239) it mixes component builds, which the KB does not describe (its RESOLUTION
for such a site is the service pack), so it is refused unless ``allow_cross_build``. The file's
version is read on the controller (``HotfixFile.version``); when it cannot be read the file is taken
to be the KB's (the table's ``hotfix_min_distmgr_version``), as is the installer's.

A journal on the host (``site.transaction_journal``: a hotfix transaction was cut, docs/internals.md
section 5) is recovered first, under every policy but ``report`` (which only notes it): step
``recover_hotfix`` with ``hotfix_journal.decide``'s ``rollback`` or ``complete`` and its reasons. A
journal that cannot be read or validated fails the host at that step, naming the file and the field:
nothing is guessed about a half-done Distmgr.dll swap.
"""
from __future__ import annotations

import ntpath
import os
from dataclasses import dataclass, field

from ansible_collections.sms.remediation.plugins.module_utils.choices import (
    HOTFIX_METHODS,
    HOTFIXING_POLICIES,
    POLICIES,
    REMOVING_POLICIES,
    WORKAROUND_STATES,
)
from ansible_collections.sms.remediation.plugins.module_utils import hotfix_journal
from ansible_collections.sms.remediation.plugins.module_utils.leftovers import REASON_ACTIVE_UNAVAILABLE
from ansible_collections.sms.remediation.plugins.module_utils.package_ids import (
    PackageIdError,
    validate_package_id,
)
from ansible_collections.sms.remediation.plugins.module_utils.sms20 import hotfix_parameters
from ansible_collections.sms.remediation.plugins.module_utils.versions import VersionError, parse_version

__all__ = ["HOTFIX_METHODS", "HotfixFile", "POLICIES", "Plan", "Request", "STEP_KINDS", "Step", "package_args", "plan",
           "quarantine_drive_refusal"]

# The steps a plan can hold, in the order they run. ``recover_hotfix`` finishes or rolls back a hotfix
# transaction that a cut connection left half done (the host's journal, reported by the probe); it runs
# before anything else. ``refuse`` stands where a step the user asked for must not run: the host fails
# there with the reason.
STEP_KINDS = ("recover_hotfix", "enable_logging", "workaround", "hotfix_installer", "hotfix_transaction", "refuse")


@dataclass(frozen=True)
class HotfixFile:
    """The controller's copy of the fixed Distmgr.dll for one platform, as the action found it."""

    src: str                      # as the user gave it
    path: str | None = None       # where it was found on the controller; None when not found
    error: str | None = None      # why it was not found or could not be read
    sha256: str | None = None
    version: str | None = None    # its file version resource; None when it has none (or cannot be read)


@dataclass(frozen=True)
class Request:
    """What the user asked for this run (the options of ``remediate``)."""

    policy: str = "auto"
    hotfix_method: str | None = "manual"
    force_ids: tuple = ()
    workaround_state: str = "absent"
    quarantine_dir: str | None = None
    enable_logging: bool = False
    restart_executive: bool = False
    hotfix_files: dict = field(default_factory=dict)      # platform -> HotfixFile
    hotfix_sha256: dict = field(default_factory=dict)     # platform -> expected sha256
    installer_path: str | None = None
    staging_dir: str | None = None
    allow_console_open: bool = False
    allow_cross_build: bool = False
    wait_seconds: int = 120
    keep_backups: int = 0               # 0: every backup of Distmgr.dll stays
    hotfix_required: bool = False

    def check(self) -> None:
        """ValueError naming the option when a choice is not one the collection knows."""
        if self.policy not in POLICIES:
            raise ValueError(f"policy {self.policy!r}: expected one of {', '.join(POLICIES)}")
        if self.hotfix_method is not None and self.hotfix_method not in HOTFIX_METHODS:
            raise ValueError(f"hotfix_method {self.hotfix_method!r}: expected one of {', '.join(HOTFIX_METHODS)} or None")
        if self.workaround_state not in WORKAROUND_STATES:
            raise ValueError(f"workaround_state {self.workaround_state!r}: expected one of {', '.join(WORKAROUND_STATES)}")
        if self.workaround_state == "quarantined" and not self.quarantine_dir:
            raise ValueError("workaround_state=quarantined needs quarantine_dir")
        if int(self.keep_backups or 0) < 0:
            raise ValueError(f"keep_backups {self.keep_backups!r}: expected 0 (keep every backup) or a positive count")


@dataclass(frozen=True)
class Step:
    """One step of a plan: ``kind`` (one of STEP_KINDS) and the arguments it runs with (JSON-safe)."""

    kind: str
    args: dict

    def to_dict(self) -> dict:
        return {"kind": self.kind, "args": dict(self.args)}


@dataclass
class Plan:
    """What to do on one site: the steps in order, and what is kept, refused and why."""

    policy: str
    hotfix: bool
    hotfix_method: str | None
    hotfix_reason: str
    remove: list = field(default_factory=list)
    refused: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    kept: list = field(default_factory=list)
    steps: list = field(default_factory=list)
    # The hotfix was asked for and must not be done: the host fails at the hotfix step with hotfix_reason.
    hotfix_refused: bool = False

    def step(self, kind: str) -> Step | None:
        return next((step for step in self.steps if step.kind == kind), None)

    def to_dict(self) -> dict:
        return {
            "policy": self.policy,
            "hotfix": self.hotfix,
            "hotfix_method": self.hotfix_method,
            "hotfix_reason": self.hotfix_reason,
            "hotfix_refused": self.hotfix_refused,
            "remove": [item.to_dict() for item in self.remove],
            "kept": [dict(item) for item in self.kept],
            "refused": [dict(item) for item in self.refused],
            "notes": list(self.notes),
            "steps": [step.to_dict() for step in self.steps],
        }


def plan(site, leftovers: list, request: Request, table: dict) -> Plan:
    """The final plan of one site (see the module docstring for the rules)."""
    if not isinstance(request, Request):
        raise ValueError(f"request: expected a decision.Request, got {type(request).__name__}")
    request.check()
    if table is None:
        raise ValueError("table is required (sms20.merge_overrides())")

    notes: list[str] = []
    remove, kept, refused = _leftovers(leftovers, request, notes)
    if request.workaround_state == "quarantined":
        remove = _same_drive_only(site, remove, request.quarantine_dir, refused)
    hotfix = _Hotfix(site, request, table)
    steps = []
    recovery = _recovery_step(site, request, table, notes)
    if recovery is not None:
        steps.append(recovery)
    if request.enable_logging:
        steps.append(_logging_step(site, request))
    if remove:
        steps.append(_workaround_step(site, remove, request, table))
    if hotfix.step is not None:
        steps.append(hotfix.step)
    if request.policy == "auto" and hotfix.wanted:
        notes.append("the hotfix stops new leftovers; it does not remove the existing ones")
    return Plan(request.policy, hotfix.wanted, hotfix.method, hotfix.reason, remove, refused, notes, kept, steps,
                hotfix.refused)


# ---- leftovers -------------------------------------------------------------------------------------

def _leftovers(leftovers, request, notes):
    forced: set[str] = set()
    ids = [request.force_ids] if isinstance(request.force_ids, str) else list(request.force_ids)
    for raw in ids:
        try:
            forced.add(validate_package_id(raw))
        except PackageIdError as exc:
            notes.append(f"force ID ignored: {exc}")

    remove, kept, refused = [], [], []
    if request.policy not in REMOVING_POLICIES:
        notes.append(f"policy {request.policy}: no compressed package is removed")
        if forced:
            notes.append(f"force IDs ignored under policy {request.policy}: {', '.join(sorted(forced))}")
        return remove, kept, refused

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
        kept.append({"id": pid, "name": item.name, "reason": f"{item.status}: {reason}"})

    for pid in sorted(forced - matched):
        notes.append(f"force ID {pid} matches no compressed package on this site")
    return remove, kept, refused


def quarantine_drive_refusal(host: str, transport: str | None, path: str, quarantine_dir: str | None) -> str | None:
    """Why ``path`` cannot be moved to or from ``quarantine_dir`` on this host, or None. Over msrpc a move is an
    SMB rename, which stays inside one share, that is one drive; winrm's PowerShell move copies across drives."""
    if transport != "msrpc" or not path or not quarantine_dir:
        return None
    drive, quarantine_drive = ntpath.splitdrive(path)[0].upper(), ntpath.splitdrive(quarantine_dir)[0].upper()
    if not drive or not quarantine_drive or drive == quarantine_drive:
        return None
    return (f"{host}: {path} is on drive {drive} and the quarantine folder {quarantine_dir} on drive "
            f"{quarantine_drive}: over msrpc a move is an SMB rename, which cannot cross drives (shares "
            f"{drive[0]}$ and {quarantine_drive[0]}$); use a quarantine_dir on drive {drive} (over winrm PowerShell "
            "copies across drives)")


def _same_drive_only(site, remove, quarantine_dir, refused) -> list:
    """The leftovers the host can quarantine; the others refused with the reason (msrpc: one drive only)."""
    kept_in_place = []
    for item in remove:
        reason = quarantine_drive_refusal(site.host, site.transport, item.path, quarantine_dir)
        if reason:
            refused.append({"id": item.package_id, "name": item.name, "reason": reason})
        else:
            kept_in_place.append(item)
    return kept_in_place


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


# ---- a cut hotfix transaction -----------------------------------------------------------------------

def _recovery_step(site, request, table, notes) -> Step | None:
    """``recover_hotfix`` for the journal the probe found, a ``refuse`` step when it cannot be trusted."""
    try:
        journal = hotfix_journal.from_probe(getattr(site, "transaction_journal", None))
        if journal is None:
            return None
        dll = site.platforms.get(site.platform) or {}
        decision = hotfix_journal.decide(journal, {"dll_path": dll.get("path"), "dll_sha256": dll.get("sha256"),
                                                   "dll_version": dll.get("file_version"), "services": site.services})
    except hotfix_journal.JournalError as exc:
        reason = (f"a hotfix transaction was cut and its journal cannot be used ({exc}): check Distmgr.dll and the "
                  "SMS services by hand, then delete the journal")
        if request.policy == "report":
            notes.append(reason)
            return None
        return Step("refuse", {"step": "recovery", "reason": reason})
    if request.policy == "report":
        notes.append(f"policy report: the cut hotfix transaction {journal.transaction_id} is not recovered "
                     f"({decision.action} needed: {'; '.join(decision.reasons)})")
        return None
    return Step("recover_hotfix", {
        "action": decision.action, "transaction_id": journal.transaction_id, "reasons": list(decision.reasons),
        "journal_path": site.transaction_journal["path"],
        "parameters": {
            "InstallDir": journal.install_dir,
            "Platform": journal.platform,
            **hotfix_parameters(table),
            # The services the cut run stopped, in its order (the table may have changed since).
            "StopOrder": journal.service_order,
            "WaitSeconds": request.wait_seconds,
        }})


# ---- logging and workaround ------------------------------------------------------------------------

def _logging_step(site, request) -> Step:
    """Tracing Enabled = 1 for Distribution Manager where it is off, then (when asked and it runs)
    restart SMS_EXECUTIVE, which reads the value when it starts; only if the value was changed."""
    logging = site.logging
    service = logging.get("service")
    return Step("enable_logging", {
        "registry_key": logging.get("registry_key"),
        "value_name": logging.get("value_name"),
        "was_enabled": logging.get("enabled"),
        "set": logging.get("enabled") is not True,
        "restart_service": service if request.restart_executive and site.services.get(service) == "running" else None,
    })


def _workaround_step(site, remove, request, table) -> Step:
    return Step("workaround", dict(
        package_args(site, request.quarantine_dir, table), state=request.workaround_state,
        items=[{"id": item.package_id, "path": item.path, "size": item.size} for item in remove]))


def package_args(site, quarantine_dir, table, removing: bool = True) -> dict:
    """Where the host script may act on this site's .PCK files (also compressed_package's restore). Removing, it re-reads the active
    packages just before acting even when the plan's list was unavailable: a forced ID goes only if WMI answers now without it (issue 19)."""
    namespace = None
    if site.site_code and (site.active.available or removing):
        namespace = table["wmi_namespace_template"].format(site_code=site.site_code)
    return {"package_folders": list(site.package_folders), "quarantine_dir": quarantine_dir,
            "active_namespace": namespace, "id_pattern": table["package_file_pattern"]}


# ---- the hotfix ------------------------------------------------------------------------------------

class _Hotfix:
    """The hotfix decision: ``wanted`` (a hotfix step runs), ``method``, ``reason``, ``refused`` (the
    host fails with ``reason``) and ``step`` (the hotfix step, a ``refuse`` step, or None)."""

    def __init__(self, site, request, table):
        self.site, self.request, self.table = site, request, table
        self.method = None
        self.wanted = self.refused = False
        self.step = None
        self.reason = self._decide()

    def _skip(self, reason: str) -> str:
        """Not applied, the host is fine; a failure when the hotfix was required (distmgr_hotfix)."""
        if self.request.hotfix_required:
            return self._refuse(reason)
        return reason

    def _refuse(self, reason: str) -> str:
        self.refused = True
        self.step = Step("refuse", {"step": "hotfix", "reason": reason})
        return reason

    def _decide(self) -> str:
        site, request, table = self.site, self.request, self.table
        if request.policy not in HOTFIXING_POLICIES:
            return f"policy {request.policy} does not apply the hotfix"
        state = site.q244405
        if state.fixed_by is not None:
            return f"already fixed ({state.fixed_by}): {state.reason}"
        if state.affected is None:
            return self._skip(f"cannot tell whether the site is affected, so the hotfix is not applied: {state.reason}")
        if not state.affected:
            return self._skip(f"not affected: {state.reason}")
        installer_platforms = [p.lower() for p in table["installer_platforms"]]
        platform = (site.platform or "").lower()
        self.method = request.hotfix_method or ("installer" if platform in installer_platforms else "manual")
        source = request.hotfix_files.get(site.platform) if self.method == "manual" else None
        if self.method == "manual" and source is None:
            return self._skip(f"no hotfix source given (method=manual needs src, in remediate hotfix_files.{site.platform}: "
                              f"the fixed Distmgr.dll for {site.platform})")
        if self.method == "installer":
            # A method that cannot run here is the user's configuration to fix: said loudly, first.
            unusable = self._installer_unusable(installer_platforms)
            if unusable:
                return self._refuse(unusable)
        cross_build = self._cross_build(source)
        if cross_build:
            return self._skip(cross_build)
        services = table["services"]
        for role in ("component_manager", "executive"):
            if not site.services.get(services[role]):
                return self._refuse(f"service {services[role]} not found; is this an SMS 2.0 site server?")
        if site.console_open is not False and not request.allow_console_open:
            return self._refuse(self._console_reason())
        if self.method == "installer":
            return self._installer()
        return self._manual(source)

    def _console_reason(self) -> str:
        """Why the hotfix waits for the console: open, or not known to be closed (the probe's check failed:
        WMI down, or msrpc without WMI). Unknown is not safe: the KB asks to close the console first."""
        console = self.table["console"]
        what = f"{console['process']} with {console['snapin']}"
        if self.site.console_open:
            return f"the SMS Administrator console is open ({what}); close it as KB Q244405 asks, or set allow_console_open"
        why = "; ".join(self.site.errors_of("processes")) or "the probe did not say"
        return (f"cannot tell whether the SMS Administrator console ({what}) is open: {why}; KB Q244405 asks to "
                "close it before the hotfix: make sure it is closed and set allow_console_open")

    def _cross_build(self, source) -> str | None:
        """The reason a hotfix file of another build than the site's is refused, else None."""
        site, table = self.site, self.table
        if self.request.allow_cross_build or site.build is None:
            return None
        known = table["hotfix_min_distmgr_version"]
        version = (source.version if source is not None else None) or known
        try:
            build = parse_version(version).build
        except VersionError:
            return None
        if build == site.build:
            return None
        what = f"the hotfix's Distmgr.dll {version}" if source is None or source.version else \
            f"the hotfix's Distmgr.dll ({source.src} has no version resource: taken as the KB's {known})"
        pack = f"{site.service_pack} " if site.service_pack else ""
        return (f"{what} belongs to build {build}, and this site is SMS 2.0 {pack}build {site.build}: mixing "
                "component builds is not what KB Q244405 describes (its resolution for this site is the service "
                "pack); set allow_cross_build to apply it anyway")

    def _installer_unusable(self, installer_platforms) -> str | None:
        site, request, table = self.site, self.request, self.table
        name = table["hotfix_installer_name"]
        if (site.platform or "").lower() not in installer_platforms:
            allowed = "/".join(p.upper() for p in installer_platforms)
            return (f"{name} runs on {allowed} only and this site server is {site.platform}; "
                    f"use method=manual with the {site.platform} Distmgr.dll")
        if not request.installer_path:
            return f"method=installer needs installer_path (the path of {name} on the host)"
        return None

    def _installer(self) -> str:
        site, request, table = self.site, self.request, self.table
        self.wanted = True
        self.step = Step("hotfix_installer", {
            "path": request.installer_path, "arguments": table["hotfix_installer_args"],
            "timeout": request.wait_seconds * len(table["hotfix_stop_order"]) * 2,
            "before": site.distmgr_version, "fixed_version": table["hotfix_min_distmgr_version"]})
        return f"affected: {site.q244405.reason}; hotfix by method installer"

    def _manual(self, source) -> str:
        site, request, table = self.site, self.request, self.table
        if source.path is None or source.sha256 is None:
            return self._refuse(f"{source.src}: {source.error or 'not found on the controller'}; nothing was copied")
        expected = (request.hotfix_sha256.get(site.platform) or "").lower()
        if expected and expected != source.sha256:
            return self._refuse(f"{source.src} has sha256 {source.sha256}, expected {expected}; nothing was copied")
        if not site.install_dir:
            return self._refuse("the SMS installation directory is unknown, so Distmgr.dll cannot be found")
        staging_dir = request.staging_dir or ntpath.join(site.install_dir, "hotfix", "Q244405", site.platform)
        self.wanted = True
        self.step = Step("hotfix_transaction", {
            "src": source.src, "local_path": source.path, "staging_dir": staging_dir, "before": site.distmgr_version,
            "fixed_version": table["hotfix_min_distmgr_version"], "backup_suffix": table["backup_suffix"],
            "parameters": {
                "InstallDir": site.install_dir,
                "Platform": site.platform,
                "StagedPath": ntpath.join(staging_dir, os.path.basename(source.path)),
                "ExpectedSha256": source.sha256,
                **hotfix_parameters(table),
                "WaitSeconds": request.wait_seconds,
                **({"KeepBackups": int(request.keep_backups)} if request.keep_backups else {}),   # 0: the script's default
                # The host refuses another build too (defect 8): the rule above already let this one through.
                "SiteVersion": site.version or "",
                "AllowCrossBuild": bool(request.allow_cross_build),
            }})
        return f"affected: {site.q244405.reason}; hotfix by method manual"
