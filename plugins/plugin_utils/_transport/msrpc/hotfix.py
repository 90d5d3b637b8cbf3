# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The KB's manual hotfix, driven from the controller over SMB and MS-SCMR, as one recoverable transaction.

The winrm path runs sms_hotfix_transaction.ps1 on the host, so a dropped connection cannot cut it; here
every step is a request from the controller, so the transaction keeps a journal on the host
(``plugins/module_utils/hotfix_journal.py``) written BEFORE the first stop and updated after each step:

1. recover: a journal left by a cut run is completed or rolled back (``hotfix_journal.decide``);
2. precheck (read-only, as the script): Distmgr.dll and the staged file exist, the staged file has the
   expected sha256 and a version >= MinimumVersion; Distmgr.dll already the new file -> ``unchanged``;
3. the new DLL is copied beside Distmgr.dll under a temporary name (``Distmgr.dll.q244405-new``) and
   checked, so the swap is a rename in the platform folder; then the journal is written;
4. ``stop:<svc>`` (running ones, StopOrder, bounded waits) -> ``backup`` (a copy of the original bytes,
   an existing backup kept as the script keeps it) -> ``swap`` (two renames) -> ``verify`` (sha256 and
   version of Distmgr.dll) -> ``start:<svc>`` (reverse order) -> ``verify_running`` -> ``log``;
5. a failure after the first stop rolls back (original bytes written back and checked, services that
   were running started again); the journal is removed only after a clean end.

The result is the script's (docs/internals.md section 3) plus ``journal``, ``transaction_id`` and
``recovery`` (what was done about a journal found at the start)."""

from __future__ import annotations

import hashlib
import ntpath
import re
import uuid
from datetime import datetime, timezone

from ansible_collections.sms.remediation.plugins.module_utils import hotfix_journal
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.base import TransportError
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.params import HOTFIX_DEFAULTS, Params
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.pe_version import file_version_of_bytes

OPERATION = "hotfix_transaction"
MAX_DLL_BYTES = 32 * 1024 * 1024
NEW_SUFFIX = ".q244405-new"          # the staged DLL beside Distmgr.dll, renamed over it at the swap
OLD_SUFFIX = ".q244405-old"          # Distmgr.dll renamed aside at the swap (deleted after a clean end)
ORIGINAL_SUFFIX = ".q244405-original"  # this run's original bytes when an older backup is kept
JOURNAL_SUFFIX = ".q244405-journal"  # the journal, next to the DLL it describes


def utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _fields(text):
    match = re.match(r"^\s*(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:\.(\d+))?", text or "")
    return None if not match else tuple(int(g) if g is not None else 0 for g in match.groups())


def version_at_least(version: str | None, minimum: str | None) -> bool:
    have, need = _fields(version), _fields(minimum)
    return have is not None and need is not None and have >= need


class _StepFailed(Exception):
    pass


class _Transaction:
    def __init__(self, host, parameters: dict, check_mode: bool, interrupt=None, clock=utc_now):
        self.host = host
        self.files = host.files
        self.services = host.services
        self.check_mode = check_mode
        self.interrupt = interrupt or (lambda step: None)   # tests: cut the run after a step
        self.clock = clock
        p = Params(parameters, HOTFIX_DEFAULTS)
        error = host.session.error
        self.install_dir = p.required("InstallDir", OPERATION, error).rstrip("\\")
        self.platform = p.required("Platform", OPERATION, error)
        if self.platform not in ("i386", "alpha"):
            raise error(OPERATION, f"Platform {self.platform!r}: expected i386 or alpha")
        self.staged = p.required("StagedPath", OPERATION, error)
        self.expected = p.required("ExpectedSha256", OPERATION, error).lower()
        self.minimum = p.text("MinimumVersion")
        self.order = [str(s) for s in p.list("StopOrder")]
        self.wait = int(p.get("WaitSeconds"))
        self.log_name = p.text("HotfixLogName")
        self.bin_dir = ntpath.join(self.install_dir, "bin", self.platform)
        self.target = ntpath.join(self.bin_dir, "Distmgr.dll")
        self.backup = self.target + p.text("BackupSuffix")
        self.new = self.target + NEW_SUFFIX
        self.old = self.target + OLD_SUFFIX
        self.journal_path = self.target + JOURNAL_SUFFIX
        self.steps: list[dict] = []
        self.journal: dict | None = None
        self.running: list[str] = []
        self.original_bytes: bytes | None = None
        self.original_sha = self.original_version = None
        self.swapped = self.restored = False

    # ---- small helpers -----------------------------------------------------------------------
    def add(self, step: str, ok: bool, detail: str) -> None:
        self.steps.append({"step": step, "ok": ok, "detail": detail})

    def read(self, path: str) -> bytes:
        return self.files.read_all(path, OPERATION, MAX_DLL_BYTES)

    def digest(self, path: str) -> tuple[str, str | None]:
        data = self.read(path)
        return hashlib.sha256(data).hexdigest(), file_version_of_bytes(data)

    def states(self) -> dict:
        return {name: self.services.state(name, OPERATION) for name in self.order}

    def write_journal(self, data: dict | None) -> None:
        """Written beside and swapped in: at any cut either the journal or its ``.tmp`` is whole."""
        temporary = self.journal_path + ".tmp"
        if data is None:
            for path in (self.journal_path, temporary):
                if self.files.exists(path, OPERATION):
                    self.files.delete(path, OPERATION)
            self.journal = None
            return
        self.files.write_bytes(temporary, hotfix_journal.dumps(data).encode("utf-8"), OPERATION)
        if self.files.exists(self.journal_path, OPERATION):
            self.files.delete(self.journal_path, OPERATION)
        self.files.rename(temporary, self.journal_path, OPERATION)
        self.journal = data

    def done(self, step: str, detail: str) -> None:
        """A forward step completed: recorded in the result and in the host's journal."""
        self.add(step, True, detail)
        self.write_journal(hotfix_journal.with_step(self.journal, step, self.clock()))
        self.interrupt(step)

    def read_journal(self):
        """The journal found on the host (``.tmp`` when a cut came mid-swap), or None."""
        for path in (self.journal_path, self.journal_path + ".tmp"):
            if self.files.exists(path, OPERATION):
                text = self.files.read_all(path, OPERATION, 1024 * 1024).decode("utf-8-sig", "replace")
                try:
                    return hotfix_journal.parse(text, path)
                except hotfix_journal.JournalError as exc:
                    raise TransportError(self.host.session.host, OPERATION,
                                         f"{exc}; the transaction journal cannot be trusted: recover the site by "
                                         f"hand (Distmgr.dll, its backup, services) and delete {path}") from None
        return None

    def cleanup_temporaries(self) -> None:
        for path in (self.new, self.old):
            if self.files.exists(path, OPERATION):
                self.files.delete(path, OPERATION)

    def log_line(self, version: str | None, sha: str, original_version: str | None) -> None:
        logs = ntpath.join(self.install_dir, "Logs")
        self.files.make_dirs(logs, OPERATION)
        line = (f"{self.clock()} Q244405 Distmgr.dll ({self.platform}) replaced: {original_version} -> {version}, "
                f"sha256 {sha}, by sms.remediation hotfix_transaction\r\n")
        self.files.append_bytes(ntpath.join(logs, self.log_name), line.encode("utf-8"), OPERATION)

    def start_in_reverse(self, names, prefix: str) -> None:
        for name in reversed(self.order):
            if name not in names or self.services.state(name, OPERATION) == "running":
                continue
            try:
                self.services.start(name, self.wait, OPERATION)
                self.add(f"{prefix}start:{name}", True, "running")
            except TransportError as exc:
                self.add(f"{prefix}start:{name}", False, exc.message)

    # ---- 1. recovery -------------------------------------------------------------------------
    def recover(self) -> dict | None:
        journal = self.read_journal()
        if journal is None:
            return None
        observed = {"dll_path": self.target, "services": self.states(), "dll_sha256": None, "dll_version": None}
        if self.files.exists(self.target, OPERATION):
            observed["dll_sha256"], observed["dll_version"] = self.digest(self.target)
        try:
            decision = hotfix_journal.decide(journal, observed)
        except hotfix_journal.JournalError as exc:
            raise TransportError(self.host.session.host, OPERATION, str(exc)) from None
        report = dict(decision.as_dict(), done=False)
        if self.check_mode:
            self.add("recover", True, f"would {decision.action}: " + "; ".join(decision.reasons))
            return report
        if decision.restore_dll:
            backup = journal.paths["backup"]
            data = self.read(backup) if self.files.exists(backup, OPERATION) else b""
            sha = hashlib.sha256(data).hexdigest()
            if sha != journal.original["sha256"]:
                raise TransportError(self.host.session.host, OPERATION,
                                     f"recovery of transaction {journal.transaction_id}: backup {backup} has sha256 "
                                     f"{sha}, the journal says {journal.original['sha256']}; recover by hand")
            self.files.write_bytes(self.target, data, OPERATION)
            if self.digest(self.target)[0] != sha:
                raise TransportError(self.host.session.host, OPERATION,
                                     f"recovery: {self.target} does not read back as the original; recover by hand")
            self.add("recover:restore", True, f"original Distmgr.dll put back from {backup} (sha256 {sha})")
        self.start_in_reverse(decision.start_services, "recover:")
        if decision.write_log:
            self.log_line(journal.new["version"], journal.new["sha256"], journal.original["version"])
            self.add("recover:log", True, f"appended to {self.log_name}")
        not_running = [n for n in decision.start_services if self.services.state(n, OPERATION) != "running"]
        if not_running:
            raise TransportError(self.host.session.host, OPERATION,
                                 f"recovery of transaction {decision.transaction_id}: {', '.join(not_running)} will not "
                                 "start; the journal is kept for the next run")
        self.cleanup_temporaries()
        self.write_journal(None)
        report["done"] = True
        self.add("recover", True, f"{decision.action} of transaction {decision.transaction_id}: " + "; ".join(decision.reasons))
        return report

    # ---- 2. precheck -------------------------------------------------------------------------
    def precheck(self) -> str | None:
        if _fields(self.minimum) is None:
            return f"MinimumVersion '{self.minimum}' is not a version"
        if not self.files.exists(self.target, OPERATION):
            return f"{self.target} not found"
        if not self.files.exists(self.staged, OPERATION):
            return f"staged file {self.staged} not found"
        self.staged_bytes = self.read(self.staged)
        staged_sha = hashlib.sha256(self.staged_bytes).hexdigest()
        if staged_sha != self.expected:
            return f"staged file sha256 {staged_sha} does not match expected {self.expected}"
        self.staged_version = file_version_of_bytes(self.staged_bytes)
        if not version_at_least(self.staged_version, self.minimum):
            return f"staged file version {self.staged_version} is below {self.minimum}"
        return None

    def prepare(self) -> None:
        """The new DLL beside the old one and the journal on the host; nothing stopped yet."""
        self.files.write_bytes(self.new, self.staged_bytes, OPERATION)
        if self.digest(self.new)[0] != self.expected:
            raise _StepFailed(f"{self.new} does not read back with sha256 {self.expected}")
        backup_path = self.backup
        if self.files.exists(self.backup, OPERATION) and self.digest(self.backup)[0] != self.original_sha:
            backup_path = self.target + ORIGINAL_SUFFIX     # an older backup is kept; this run's bytes go here
        self.backup_path = backup_path
        self.write_journal(hotfix_journal.new_journal(
            transaction_id=str(uuid.uuid4()), transport="msrpc", started_utc=self.clock(), platform=self.platform,
            install_dir=self.install_dir, service_order=self.order, services_before=self.services_before,
            paths={"original": self.target, "backup": backup_path, "staged": self.new},
            original={"sha256": self.original_sha, "version": self.original_version},
            new={"sha256": self.expected, "version": self.staged_version}))

    # ---- 4. forward ------------------------------------------------------------------------------
    def forward(self) -> str:
        for name in self.order:
            if name in self.running:
                self.step = f"stop:{name}"
                self.services.stop(name, self.wait, OPERATION)
                self.done(self.step, "stopped")
        self.step = "backup"
        if self.files.exists(self.backup_path, OPERATION):
            kept = "same file" if self.digest(self.backup_path)[0] == self.original_sha else "an older file"
            detail = f"existing backup {self.backup_path} kept ({kept})"
        else:
            self.files.write_bytes(self.backup_path, self.original_bytes, OPERATION)
            if self.digest(self.backup_path)[0] != self.original_sha:
                raise _StepFailed(f"backup {self.backup_path} does not match the original")
            detail = f"copied to {self.backup_path}"
        self.done("backup", detail)
        self.step = "swap"
        self.swapped = True
        if self.files.exists(self.old, OPERATION):
            self.files.delete(self.old, OPERATION)
        self.files.rename(self.target, self.old, OPERATION)
        self.files.rename(self.new, self.target, OPERATION)
        self.done("swap", f"renamed {ntpath.basename(self.new)} to {ntpath.basename(self.target)}")
        self.step = "verify"
        sha, version = self.digest(self.target)
        if sha != self.expected:
            raise _StepFailed(f"sha256 of {self.target} is {sha}, expected {self.expected}")
        if not version_at_least(version, self.minimum):
            raise _StepFailed(f"file version of {self.target} is {version}, expected at least {self.minimum}")
        self.done("verify", f"sha256 {sha}, version {version}")
        for name in reversed(self.order):
            if name in self.running:
                self.step = f"start:{name}"
                self.services.start(name, self.wait, OPERATION)
                self.done(self.step, "running")
        self.step = "verify_running"
        not_running = [n for n in self.running if self.services.state(n, OPERATION) != "running"]
        if not_running:
            raise _StepFailed(f"not running after start: {', '.join(not_running)}")
        self.done("verify_running", ", ".join(self.running) if self.running else "no service was running")
        self.step = "log"
        self.log_line(version, sha, self.original_version)
        self.done("log", f"appended to {self.log_name}")
        return version

    # ---- 5. rollback ------------------------------------------------------------------------------
    def rollback(self) -> bool:
        """Undo in the safe order; every part is tried. True when the site is back as it was."""
        clean = True
        if self.swapped and self.original_bytes is not None:
            for name in self.order:
                if name not in self.running or self.services.state(name, OPERATION) == "stopped":
                    continue
                try:
                    self.services.stop(name, self.wait, OPERATION)
                    self.add(f"rollback:stop:{name}", True, "stopped")
                except TransportError as exc:
                    self.add(f"rollback:stop:{name}", False, exc.message)
            try:
                self.files.write_bytes(self.target, self.original_bytes, OPERATION)
                sha = self.digest(self.target)[0]
                if sha != self.original_sha:
                    raise _StepFailed(f"restored file sha256 {sha} differs from the original {self.original_sha}")
                self.restored = True
                self.add("rollback:restore", True, f"original Distmgr.dll put back (sha256 {sha})")
            except (TransportError, _StepFailed) as exc:
                clean = False
                self.add("rollback:restore", False, getattr(exc, "message", str(exc)))
        self.start_in_reverse(self.running, "rollback:")
        try:
            if any(self.services.state(n, OPERATION) != "running" for n in self.running):
                clean = False
            if clean:
                self.cleanup_temporaries()
                self.write_journal(None)
        except TransportError as exc:
            self.add("rollback:journal", False, exc.message)
        return clean

    # ---- the whole transaction ------------------------------------------------------------------
    def run(self) -> dict:
        self.host.session.smb
        recovery = self.recover()
        self.services_before = self.states()
        result = {"outcome": None, "failed_step": None, "error": None, "restored": False,
                  "services_before": dict(self.services_before), "services_after": None, "steps": self.steps,
                  "new_version": None, "new_sha256": None, "journal": self.journal_path, "transaction_id": None,
                  "recovery": recovery}
        self.running = [n for n in self.order if self.services_before.get(n) not in (None, "stopped")]
        problem = self.precheck()
        if problem is not None:
            self.add("precheck", False, problem)
            result.update(outcome="failed", failed_step="precheck", error=problem)
        else:
            self.original_bytes = self.read(self.target)
            self.original_sha = hashlib.sha256(self.original_bytes).hexdigest()
            self.original_version = file_version_of_bytes(self.original_bytes)
            if self.original_sha == self.expected:
                self.add("precheck", True, f"{self.target} already has sha256 {self.original_sha}")
                result["outcome"] = "unchanged"
            elif self.check_mode:
                self.add("precheck", True, f"would stop {', '.join(self.running)}, back up, replace and restart")
                result["outcome"] = "would_replace"
            else:
                self.transact(result)
        result["services_after"] = self.states()
        if self.files.exists(self.target, OPERATION):
            result["new_sha256"], result["new_version"] = self.digest(self.target)
        return result

    def transact(self, result: dict) -> None:
        try:
            self.prepare()
        except (TransportError, _StepFailed) as exc:
            message = getattr(exc, "message", str(exc))
            self.add("precheck", False, message)
            result.update(outcome="failed", failed_step="precheck", error=message)
            try:
                self.cleanup_temporaries()
            except TransportError:
                pass
            return
        result["transaction_id"] = self.journal["transaction_id"]
        self.add("precheck", True, f"services running: {', '.join(self.running)}; journal {self.journal_path}")
        self.step = "stop"
        try:
            self.forward()
        except (TransportError, _StepFailed) as exc:
            message = getattr(exc, "message", str(exc))
            self.add(self.step, False, message)
            result.update(outcome="failed", failed_step=self.step, error=message)
            if not self.rollback():
                result["error"] += f"; the rollback did not finish: the journal {self.journal_path} stays for the next run"
            result["restored"] = self.restored
            return
        self.cleanup_temporaries()
        self.write_journal(None)
        result["outcome"] = "replaced"


def hotfix_transaction(host, parameters: dict, check_mode: bool, interrupt=None) -> dict:
    result = _Transaction(host, parameters, check_mode, interrupt).run()
    result["changed"] = (result["outcome"] in ("replaced", "would_replace")
                         or (result["outcome"] == "failed" and result["failed_step"] != "precheck")
                         or bool((result.get("recovery") or {}).get("done")))
    return result
