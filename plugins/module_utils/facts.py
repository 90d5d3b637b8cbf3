# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The typed facts of one site server and the names of the facts the collection leaves behind.

``probe_result.parse_probe`` builds a ``SiteFacts`` from a probe answer; ``to_facts()`` turns it into
the ``sms_site`` fact and ``SiteFacts.from_facts()`` reads that fact back. Every reader of ``sms_site``
(origin index, batches, report, host result) goes through ``from_facts``, so the shape is written in
one place. ``from_facts`` is lenient: a key missing from the dict (an older fact, the small origin
summary, a host that failed early) reads as unknown (None, empty, unavailable), never as a value that
would let something be deleted.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

from ansible_collections.sms.remediation.plugins.module_utils.distmgr_log import (
    LogEntry,
    log_entry_from_dict,
    log_entry_to_dict,
)
from ansible_collections.sms.remediation.plugins.module_utils.versions import Q244405State

__all__ = [
    "ActivePackages",
    "LogHistory",
    "OUTCOME_FACT",
    "PACKAGES_FACT",
    "PLAN_FACT",
    "PROBE_FACT",
    "PackageFile",
    "SITE_FACT",
    "SiteFacts",
    "parse_utc",
]

# The facts one host carries after a task of this collection.
PROBE_FACT = "sms_probe"          # the raw probe answer (schema 1), so later tasks do not probe again
SITE_FACT = "sms_site"            # SiteFacts.to_facts()
PACKAGES_FACT = "sms_packages"    # leftovers.packages_fact(): the classification of the .PCK files
PLAN_FACT = "sms_plan"            # decision.Plan.to_dict()
OUTCOME_FACT = "q244405_outcome"  # what sms.remediation.remediate did (host_result reads it)


def parse_utc(text: str | None) -> datetime | None:
    """The probe's ``last_write_utc`` (ISO 8601, ``Z`` or an offset) as an aware UTC datetime;
    None for None or an unparseable value (the caller treats the time as unknown)."""
    if not isinstance(text, str) or not text.strip():
        return None
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def _dict(value) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value) -> list:
    return list(value) if isinstance(value, (list, tuple)) else []


@dataclass(frozen=True)
class PackageFile:
    """One file found in a package folder (``<drive>:\\SMSPKG``)."""

    name: str
    path: str
    folder: str
    size: int | None
    last_write_utc: str | None
    reparse_point: bool
    package_id: str | None
    name_error: str | None

    def last_write(self) -> datetime | None:
        return parse_utc(self.last_write_utc)

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "path": self.path,
            "folder": self.folder,
            "size": self.size,
            "last_write_utc": self.last_write_utc,
            "reparse_point": self.reparse_point,
            "package_id": self.package_id,
            "name_error": self.name_error,
        }

    @classmethod
    def from_dict(cls, raw: dict) -> PackageFile:
        raw = _dict(raw)
        return cls(name=str(raw.get("name") or ""), path=str(raw.get("path") or ""),
                   folder=str(raw.get("folder") or ""), size=raw.get("size"),
                   last_write_utc=raw.get("last_write_utc"), reparse_point=bool(raw.get("reparse_point")),
                   package_id=raw.get("package_id"), name_error=raw.get("name_error"))


@dataclass(frozen=True)
class ActivePackages:
    """The packages the site's SMS Provider lists (``SMS_Package``).

    ``ids``: every listed PackageID (upper case), deleting ones included.
    ``deleting``: the subset with ActionInProgress = DELETE (left to Distribution Manager).
    ``available`` False means the list could not be read: nothing may be called stale then.
    """

    available: bool
    ids: frozenset
    deleting: frozenset
    error: str | None

    def to_dict(self) -> dict:
        return {
            "available": self.available,
            "ids": sorted(self.ids),
            "deleting": sorted(self.deleting),
            "error": self.error,
        }

    @classmethod
    def from_dict(cls, raw) -> ActivePackages:
        if not isinstance(raw, dict):
            return cls(False, frozenset(), frozenset(), "no active package facts")
        if not raw.get("available"):
            return cls(False, frozenset(), frozenset(), raw.get("error") or "unknown error")
        ids = raw.get("ids")
        if not isinstance(ids, (list, tuple, set, frozenset)):
            return cls(False, frozenset(), frozenset(), "active ids malformed")
        return cls(True, frozenset(str(i).upper() for i in ids),
                   frozenset(str(i).upper() for i in _list(raw.get("deleting"))), raw.get("error"))


@dataclass(frozen=True)
class LogHistory:
    """What Distmgr.log says about one package: the kind of its last event (deleting, deleted, adding),
    how many events, and the standing "Successfully deleted" claim (None when the package was added
    again after its last deletion)."""

    last_kind: str | None
    events: int | None
    claim: LogEntry | None

    @classmethod
    def from_history(cls, history) -> LogHistory:
        """From a ``distmgr_log.PackageHistory``."""
        return cls(history.last_kind, history.events, history.deleted_claim)

    def to_dict(self) -> dict:
        return {"last_kind": self.last_kind, "events": self.events, "claim": log_entry_to_dict(self.claim)}

    @classmethod
    def from_dict(cls, raw: dict) -> LogHistory:
        raw = _dict(raw)
        return cls(raw.get("last_kind"), raw.get("events"), log_entry_from_dict(raw.get("claim")))


_UNKNOWN_STATE = Q244405State(None, None, None, "no Q244405 facts")


@dataclass
class SiteFacts:
    """Everything the controller knows about one site server after one probe."""

    host: str
    site_code: str | None
    parent_site_code: str | None
    site_type: str | None
    install_dir: str | None
    version: str | None
    build: int | None
    service_pack: str | None
    platform: str | None
    platforms: dict
    services: dict
    console_open: bool | None
    hotfix_log_present: bool
    logging: dict
    package_files: list
    active: ActivePackages
    log_histories: dict
    q244405: Q244405State
    warnings: list = field(default_factory=list)
    # The package folders that exist (a folder emptied by quarantine still counts): the only folders
    # the workaround may take files from.
    package_folders: list = field(default_factory=list)
    # Which transport reached the host (plugin_utils/_transport: winrm, msrpc), None when not known.
    transport: str | None = None
    # The journal a cut hotfix transaction left, as the probe read it ({path, text, error}; None: none).
    # hotfix_journal.from_probe validates it; decision.plan recovers it before anything else.
    transaction_journal: dict | None = None
    # The probe's own errors ({source, message}: a source of facts it could not read, and why), as it sent them:
    # what depends on such a source is unknown on this host (host_result says so in the report).
    probe_errors: list = field(default_factory=list)

    def errors_of(self, source: str) -> list:
        """The messages of the probe's errors for one source (``wmi``, ``processes``, ``package_folders`` ...)."""
        return [error["message"] for error in self.probe_errors if error.get("source") == source]

    @property
    def distmgr_version(self) -> str | None:
        """The file version of this platform's Distmgr.dll (None when absent or unreadable)."""
        return (self.platforms.get(self.platform) or {}).get("file_version")

    def to_facts(self) -> dict:
        """A JSON-safe dict with stable keys (lists sorted), for ``ansible_facts``."""
        return {
            "host": self.host,
            "site_code": self.site_code,
            "parent_site_code": self.parent_site_code,
            "site_type": self.site_type,
            "install_dir": self.install_dir,
            "version": self.version,
            "build": self.build,
            "service_pack": self.service_pack,
            "platform": self.platform,
            "platforms": {k: dict(v) for k, v in sorted(self.platforms.items())},
            "services": dict(sorted(self.services.items())),
            "console_open": self.console_open,
            "hotfix_log_present": self.hotfix_log_present,
            "logging": {
                "enabled": self.logging.get("enabled"),
                "max_file_size": self.logging.get("max_file_size"),
                "files": [dict(f) for f in self.logging.get("files", [])],
                "evidence_available": self.logging.get("evidence_available", False),
                "note": self.logging.get("note", ""),
                "registry_key": self.logging.get("registry_key"),
                "value_name": self.logging.get("value_name"),
                "service": self.logging.get("service"),
            },
            "package_files": [f.to_dict() for f in self.package_files],
            "active": self.active.to_dict(),
            "log_histories": {pid: self.log_histories[pid].to_dict() for pid in sorted(self.log_histories)},
            "q244405": {
                "affected": self.q244405.affected,
                "fixed_by": self.q244405.fixed_by,
                "service_pack": self.q244405.service_pack,
                "reason": self.q244405.reason,
            },
            "warnings": list(self.warnings),
            "package_folders": list(self.package_folders),
            "transport": self.transport,
            "transaction_journal": dict(self.transaction_journal) if self.transaction_journal else None,
            "probe_errors": [dict(error) for error in self.probe_errors],
        }

    @classmethod
    def from_facts(cls, facts, host: str | None = None, with_files: bool = True) -> SiteFacts:
        """Read an ``sms_site`` fact (``to_facts()``) back; missing keys read as unknown (module docstring).
        ``host`` names the host when the dict does not. ``with_files=False`` leaves ``package_files`` and
        ``log_histories`` empty: readers of every host of a fleet (origin index, batches, report) need
        neither, and they are most of the cost (a fleet-wide read runs once per host)."""
        if not isinstance(facts, dict):
            raise ValueError(f"site facts of {host or '?'}: expected a dict, got {type(facts).__name__}")
        state = facts.get("q244405")
        q244405 = _UNKNOWN_STATE if not isinstance(state, dict) else Q244405State(
            state.get("affected"), state.get("fixed_by"), state.get("service_pack"), str(state.get("reason") or ""))
        return cls(
            host=str(facts.get("host") or host or "?"),
            site_code=facts.get("site_code") or None,
            parent_site_code=facts.get("parent_site_code") or None,
            site_type=facts.get("site_type"),
            install_dir=facts.get("install_dir"),
            version=facts.get("version"),
            build=facts.get("build"),
            service_pack=facts.get("service_pack"),
            platform=facts.get("platform"),
            platforms={k: dict(_dict(v)) for k, v in _dict(facts.get("platforms")).items()},
            services=dict(_dict(facts.get("services"))),
            console_open=facts.get("console_open"),
            hotfix_log_present=bool(facts.get("hotfix_log_present")),
            logging=dict(_dict(facts.get("logging"))),
            package_files=[PackageFile.from_dict(f) for f in _list(facts.get("package_files"))] if with_files else [],
            active=ActivePackages.from_dict(facts.get("active")),
            log_histories={str(pid): LogHistory.from_dict(h)
                           for pid, h in _dict(facts.get("log_histories")).items()} if with_files else {},
            q244405=q244405,
            warnings=[str(w) for w in _list(facts.get("warnings"))],
            package_folders=[str(f) for f in _list(facts.get("package_folders"))],
            transport=facts.get("transport"),
            transaction_journal=dict(facts["transaction_journal"]) if isinstance(facts.get("transaction_journal"), dict)
            else None,
            probe_errors=[{"source": str(error.get("source")), "message": str(error.get("message"))}
                          for error in _list(facts.get("probe_errors")) if isinstance(error, dict)],
        )

    def origin_summary(self) -> dict:
        """The part of the facts that origin evidence reads (``leftovers.origin_view``): small enough
        to index every site of a fleet once per run instead of walking all hostvars for every host."""
        return {"host": self.host, "site_code": self.site_code, "active": self.active.to_dict()}
