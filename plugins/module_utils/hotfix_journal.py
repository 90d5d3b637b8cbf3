# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Q244405 transaction journal: what a hotfix transaction leaves on the host until it ends cleanly.

A transaction (the ``winrm`` path's ``sms_hotfix_transaction.ps1``, or the ``msrpc`` path's controller-driven
steps) writes the journal before it stops the first service, adds each step as it completes, and deletes
it only after a clean end (success or full rollback). A journal found on a host therefore means a
transaction was cut (connection lost, script killed): the next run reads it and rolls back or completes.

This module is pure (no Ansible, no host access): ``parse`` validates the journal text, ``decide`` says
what the next run must do from the journal and what the probe saw now, and ``new_journal`` / ``with_step``
/ ``dumps`` build it for a transport that writes it from Python. Format: docs/internals.md section 5.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

__all__ = [
    "ACTIONS",
    "FORMAT",
    "FORMAT_VERSION",
    "Decision",
    "Journal",
    "JournalError",
    "decide",
    "dumps",
    "from_probe",
    "new_journal",
    "parse",
    "validate",
    "with_step",
]

FORMAT = "sms.remediation/q244405-transaction-journal"
FORMAT_VERSION = 1
ACTIONS = ("rollback", "complete", "none")

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_STEP = re.compile(r"^(?:stop:[^:]+|backup|swap|verify|start:[^:]+|verify_running|log)$")
_VERSION = re.compile(r"^\s*(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:\.(\d+))?")
# A service the transaction stops and starts again is one that was not stopped before it.
_NOT_RUNNING = (None, "stopped")


class JournalError(ValueError):
    """A journal that cannot be trusted (not JSON, wrong format, missing or malformed field)."""


@dataclass(frozen=True)
class Journal:
    """A validated journal. ``data`` is the JSON object as read; the attributes are views of it."""

    data: dict

    @property
    def transaction_id(self) -> str:
        return self.data["transaction_id"]

    @property
    def platform(self) -> str:
        return self.data["platform"]

    @property
    def install_dir(self) -> str:
        return self.data["install_dir"]

    @property
    def service_order(self) -> list:
        return list(self.data["services"]["order"])

    @property
    def services_before(self) -> dict:
        return dict(self.data["services"]["before"])

    @property
    def paths(self) -> dict:
        return dict(self.data["paths"])

    @property
    def original(self) -> dict:
        return dict(self.data["original"])

    @property
    def new(self) -> dict:
        return dict(self.data["new"])

    @property
    def steps(self) -> list:
        """Names of the completed steps, in order."""
        return [entry["step"] for entry in self.data["steps"]]

    @property
    def last_step(self) -> str | None:
        steps = self.steps
        return steps[-1] if steps else None

    def was_running(self) -> list:
        """The services the transaction stops (and must start again), in stop order."""
        before = self.services_before
        return [name for name in self.service_order if before.get(name) not in _NOT_RUNNING]


@dataclass(frozen=True)
class Decision:
    """What the next run does about a journal, and why (each reason a sentence for the report)."""

    action: str                         # rollback | complete | none
    reasons: tuple
    restore_dll: bool = False           # rollback: copy the journal's backup over Distmgr.dll
    start_services: tuple = ()          # services that were running before and are not running now
    write_log: bool = False             # complete: the hotfix log line was not written yet
    transaction_id: str | None = None

    def as_dict(self) -> dict:
        return {"action": self.action, "reasons": list(self.reasons), "restore_dll": self.restore_dll,
                "start_services": list(self.start_services), "write_log": self.write_log,
                "transaction_id": self.transaction_id}


# ---- reading ----------------------------------------------------------------------------------
def parse(text: str, source: str = "journal") -> Journal:
    """Validate the journal ``text`` (read from ``source``, named in every error)."""
    if not isinstance(text, str) or not text.strip():
        raise JournalError(f"{source}: the journal is empty")
    try:
        data = json.loads(text.lstrip("\ufeff"))
    except ValueError as exc:
        raise JournalError(f"{source}: the journal is not JSON ({exc})") from None
    return validate(data, source)


def from_probe(reported: object) -> Journal | None:
    """The journal of the probe's ``transaction_journal`` (``{path, text, error}`` or None); raises
    ``JournalError`` naming the file when the host could not read it or it is not a valid journal."""
    if reported is None:
        return None
    if not isinstance(reported, dict):
        raise JournalError(f"transaction_journal: expected an object or null, got {reported!r}")
    path = reported.get("path") or "transaction journal"
    if reported.get("error"):
        raise JournalError(f"{path}: the host could not read it: {reported['error']}")
    return parse(reported.get("text") or "", path)


def validate(data: object, source: str = "journal") -> Journal:
    """Check every field the recovery relies on; raise ``JournalError`` naming the first bad one."""
    def fail(field: str, message: str):
        raise JournalError(f"{source}: {field}: {message}")

    if not isinstance(data, dict):
        fail("(top)", f"expected an object, got {type(data).__name__}")
    if data.get("format") != FORMAT:
        fail("format", f"expected {FORMAT!r}, got {data.get('format')!r}")
    if data.get("format_version") != FORMAT_VERSION:
        fail("format_version", f"this collection reads version {FORMAT_VERSION}, got {data.get('format_version')!r}")
    for name in ("transaction_id", "transport", "started_utc", "platform", "install_dir"):
        if not isinstance(data.get(name), str) or not data[name]:
            fail(name, f"expected a non-empty string, got {data.get(name)!r}")
    services = data.get("services")
    if not isinstance(services, dict):
        fail("services", f"expected an object, got {services!r}")
    order, before = services.get("order"), services.get("before")
    if not isinstance(order, list) or not order or not all(isinstance(n, str) and n for n in order):
        fail("services.order", f"expected a list of service names, got {order!r}")
    if not isinstance(before, dict) or set(before) != set(order):
        fail("services.before", f"expected the state of each service in services.order, got {before!r}")
    for name, state in before.items():
        if state is not None and not isinstance(state, str):
            fail(f"services.before.{name}", f"expected a state name or null, got {state!r}")
    paths = data.get("paths")
    if not isinstance(paths, dict):
        fail("paths", f"expected an object, got {paths!r}")
    for name in ("original", "backup", "staged"):
        if not isinstance(paths.get(name), str) or not paths[name]:
            fail(f"paths.{name}", f"expected a path, got {paths.get(name)!r}")
    for part in ("original", "new"):
        info = data.get(part)
        if not isinstance(info, dict):
            fail(part, f"expected an object, got {info!r}")
        if not isinstance(info.get("sha256"), str) or not _SHA256.match(info["sha256"]):
            fail(f"{part}.sha256", f"expected 64 lower-case hex digits, got {info.get('sha256')!r}")
        version = info.get("version")
        if version is not None and (not isinstance(version, str) or not _VERSION.match(version)):
            fail(f"{part}.version", f"expected a file version or null, got {version!r}")
    if data["original"]["sha256"] == data["new"]["sha256"]:
        fail("new.sha256", "equals original.sha256: such a run changes nothing and writes no journal")
    if data["new"].get("version") is None:
        fail("new.version", "the new Distmgr.dll must have a version (the transaction checks it)")
    steps = data.get("steps")
    if not isinstance(steps, list):
        fail("steps", f"expected a list, got {steps!r}")
    for index, entry in enumerate(steps):
        if not isinstance(entry, dict) or not isinstance(entry.get("step"), str) or not _STEP.match(entry["step"]):
            fail(f"steps[{index}]", f"expected {{step, at_utc}} with a transaction step name, got {entry!r}")
    return Journal(data)


# ---- deciding ---------------------------------------------------------------------------------
def _fields(version: str | None):
    match = _VERSION.match(version) if version else None
    return None if match is None else tuple(int(g) if g is not None else 0 for g in match.groups())


def decide(journal: Journal | None, observed: dict) -> Decision:
    """``rollback`` | ``complete`` | ``none`` for ``journal`` given what the host shows now.

    ``observed``: ``dll_path`` (checked against ``paths.original``), ``dll_sha256`` / ``dll_version`` of
    that Distmgr.dll (None when it cannot be read) and ``services`` (name -> state or None). The file decides, not the last step: a
    Distmgr.dll that is byte for byte the journal's new file with its version is completed (the swap and
    its verification are done; only starting the services and the log line can be missing); any other
    content is rolled back to the journal's original (restored from ``paths.backup`` unless it is
    already the original). Services end in their states of ``services.before``: those the transaction
    stopped are started again; none is stopped that was running.
    """
    if journal is None:
        return Decision("none", ("no transaction journal on the host",))
    where = observed.get("dll_path")
    if where and where.lower() != journal.paths["original"].lower():
        raise JournalError(f"journal: paths.original is {journal.paths['original']} but this site's Distmgr.dll "
                           f"is {where}; recover it by hand")
    services = observed.get("services") or {}
    to_start = tuple(name for name in journal.was_running() if services.get(name) != "running")
    sha = (observed.get("dll_sha256") or "").lower() or None
    version = observed.get("dll_version")
    cut = (f"transaction {journal.transaction_id} was cut after step {journal.last_step}" if journal.last_step
           else f"transaction {journal.transaction_id} was cut before its first step")
    start_text = (f"start {', '.join(to_start)} again" if to_start else "every service that was running runs")
    if sha == journal.new["sha256"] and _fields(version) == _fields(journal.new["version"]):
        return Decision("complete", (cut, f"Distmgr.dll is the verified new file (sha256 {sha}, version {version})",
                                     start_text),
                        start_services=to_start, write_log="log" not in journal.steps,
                        transaction_id=journal.transaction_id)
    if sha == journal.original["sha256"]:
        return Decision("rollback", (cut, f"Distmgr.dll is still the original (sha256 {sha})", start_text),
                        start_services=to_start, transaction_id=journal.transaction_id)
    seen = f"sha256 {sha}" if sha else "unreadable"
    if sha == journal.new["sha256"]:
        seen += f", version {version} instead of {journal.new['version']}"
    return Decision("rollback", (cut, f"Distmgr.dll is neither the original nor the verified new file ({seen}): "
                                      f"the original is copied back from {journal.paths['backup']} once its sha256 "
                                      f"{journal.original['sha256']} is checked", start_text),
                    restore_dll=True, start_services=to_start, transaction_id=journal.transaction_id)


# ---- writing (for a transport that drives the transaction from Python) -------------------------
def new_journal(*, transaction_id: str, transport: str, started_utc: str, platform: str, install_dir: str,
                service_order: list, services_before: dict, paths: dict, original: dict, new: dict) -> dict:
    """The journal as written before the first stop (no step completed yet); validated."""
    data = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "transaction_id": transaction_id,
        "transport": transport,
        "started_utc": started_utc,
        "platform": platform,
        "install_dir": install_dir,
        "services": {"order": list(service_order), "before": {n: services_before.get(n) for n in service_order}},
        "paths": {k: paths.get(k) for k in ("original", "backup", "staged")},
        "original": {"sha256": (original.get("sha256") or "").lower(), "version": original.get("version")},
        "new": {"sha256": (new.get("sha256") or "").lower(), "version": new.get("version")},
        "steps": [],
    }
    validate(data, "new journal")
    return data


def with_step(data: dict, step: str, at_utc: str) -> dict:
    """A copy of ``data`` with ``step`` recorded as completed at ``at_utc``."""
    if not _STEP.match(step):
        raise JournalError(f"journal: {step!r} is not a transaction step name")
    copy = json.loads(json.dumps(data))
    copy["steps"].append({"step": step, "at_utc": at_utc})
    return copy


def dumps(data: dict) -> str:
    """The journal's text as written to the host (UTF-8, no byte order mark)."""
    return json.dumps(data, indent=1, sort_keys=False) + "\n"
