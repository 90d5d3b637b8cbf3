# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The KB's manual hotfix driven from the controller over SMB and MS-SCMR (private to this collection): sms_hotfix_transaction.ps1's
contract (docs/internals.md section 3, both modes) with its journal (section 5, ``hotfix_journal``).

The winrm path runs the transaction on the host; here every step is a request from the controller, so a
dropped connection can cut it anywhere. The journal ``<InstallDir>\\Logs\\<JournalName>`` is written
before the first stop and after each completed step, and removed only after a clean end; ``Mode:
Recover`` (``Recovery: complete | rollback``, decided by the controller from the journal and the facts)
finishes a cut run, re-checking the host at each step.

Mode Apply: precheck (read-only, the script's checks, a journal on the host refuses) -> the new DLL
copied beside Distmgr.dll as ``Distmgr.dll.q244405-new`` and read back -> journal -> ``stop:<svc>``
(bounded waits) -> ``backup`` -> ``swap`` (Distmgr.dll renamed aside, the new file renamed in; retried
with backoff while the file is still held) -> ``verify`` -> ``start:<svc>`` (reverse order) ->
``verify_running`` -> ``log``. A failure after the first stop writes the original bytes back, checks
them and starts what was running."""

from __future__ import annotations

import hashlib
import ntpath
import re
import time
import uuid
from datetime import datetime, timezone

from ansible_collections.sms.remediation.plugins.module_utils import hotfix_journal
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.base import TransportError
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.params import HOTFIX_DEFAULTS, Params
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.pe_version import file_version_of_bytes

OPERATION = "hotfix_transaction"
MAX_DLL_BYTES = 32 * 1024 * 1024
NEW_SUFFIX = ".q244405-new"     # the new DLL beside Distmgr.dll, renamed over it at the swap
OLD_SUFFIX = ".q244405-old"     # Distmgr.dll renamed aside at the swap (its bytes are in the backup)
# NT status names of a file another process holds open or has mapped: worth a retry once it exits.
HELD = ("STATUS_SHARING_VIOLATION", "STATUS_FILE_LOCK_CONFLICT", "STATUS_LOCK_NOT_GRANTED", "STATUS_USER_MAPPED_FILE")


def utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def version_fields(text):
    match = re.match(r"^\s*(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:\.(\d+))?", text or "")
    return None if not match else tuple(int(g) if g is not None else 0 for g in match.groups())


class StepFailed(Exception):
    pass


def _message(exc: BaseException) -> str:
    return exc.message if isinstance(exc, TransportError) else str(exc)


class _Transaction:
    """What both modes share: paths, the step list, service and file helpers, the journal on the host."""

    def __init__(self, host, parameters: dict, check_mode: bool, interrupt=None, clock=utc_now, sleep=time.sleep):
        self.host, self.files, self.services = host, host.files, host.services
        self.check_mode = check_mode
        self.interrupt = interrupt or (lambda step: None)   # tests: cut the run right after a step
        self.clock, self.sleep = clock, sleep
        self.p = p = Params(parameters, HOTFIX_DEFAULTS)
        error = host.session.error
        self.install_dir = p.required("InstallDir", OPERATION, error).rstrip("\\")
        self.platform = p.required("Platform", OPERATION, error)
        if self.platform not in ("i386", "alpha"):
            raise error(OPERATION, f"Platform {self.platform!r}: expected i386 or alpha")
        self.order = [str(s) for s in p.list("StopOrder")]
        self.wait = int(p.get("WaitSeconds"))
        self.attempts = max(1, int(p.get("CopyAttempts")))
        self.target = ntpath.join(self.install_dir, "bin", self.platform, "Distmgr.dll")
        self.backup = self.target + p.text("BackupSuffix")
        self.new = self.target + NEW_SUFFIX
        self.old = self.target + OLD_SUFFIX
        self.log_dir = ntpath.join(self.install_dir, "Logs")
        self.journal_path = ntpath.join(self.log_dir, p.text("JournalName"))
        self.log_name = p.text("HotfixLogName")
        self.steps: list[dict] = []
        self.journal: dict | None = None
        self.step = "precheck"

    # ---- helpers -----------------------------------------------------------------------------
    def add(self, step: str, ok: bool, detail: str) -> None:
        self.steps.append({"step": step, "ok": ok, "detail": detail})

    def read(self, path: str) -> bytes:
        return self.files.read_all(path, OPERATION, MAX_DLL_BYTES)

    def digest(self, path: str) -> tuple[str, str | None]:
        data = self.read(path)
        return hashlib.sha256(data).hexdigest(), file_version_of_bytes(data)

    def exists(self, path: str) -> bool:
        return self.files.exists(path, OPERATION)

    def state(self, name: str) -> str | None:
        return self.services.state(name, OPERATION)

    def states(self, names) -> dict:
        return {name: self.state(name) for name in names}

    def held_retry(self, action) -> int:
        """Run a write of Distmgr.dll; while the file is held, retry (0.5 s, 1 s, 2 s ... at most 8 s)."""
        delay = 0.5
        for attempt in range(1, self.attempts + 1):
            try:
                action()
                return attempt
            except TransportError as exc:
                if attempt >= self.attempts or not any(name in exc.message for name in HELD):
                    raise
                self.sleep(delay)
                delay = min(delay * 2, 8.0)
        return self.attempts

    def attempt_text(self, attempts: int) -> str:
        return "" if attempts <= 1 else f" (attempt {attempts} of {self.attempts}: the file was in use before)"

    def dll_state(self, original_sha, new_sha, new_version) -> str:
        """What Distmgr.dll is now, from its bytes: original | new | unknown."""
        try:
            if not self.exists(self.target):
                return "unknown"
            sha, version = self.digest(self.target)
        except TransportError:
            return "unknown"
        if sha == original_sha:
            return "original"
        if sha == new_sha and version_fields(version) == version_fields(new_version):
            return "new"
        return "unknown"

    def start_were_running(self, running, prefix: str, strict: bool) -> None:
        """Start, in reverse stop order, each service of ``running`` that does not run. ``strict``: the
        first failure raises (``self.step`` names it); else it is recorded and the next one is tried."""
        for name in reversed(self.order):
            if name not in running or self.state(name) == "running":
                continue
            if strict:
                self.step = f"{prefix}{name}"
                self.services.start(name, self.wait, OPERATION)
                self.done(self.step, "running")
                continue
            try:
                self.services.start(name, self.wait, OPERATION)
                self.add(f"{prefix}{name}", True, "running")
            except TransportError as exc:
                self.add(f"{prefix}{name}", False, exc.message)

    def done(self, step: str, detail: str) -> None:
        """A step completed: in the result, and (forward steps) in the host's journal."""
        self.add(step, True, detail)
        if self.journal is not None and not re.match(r"^(precheck|journal|rollback:|recover:)", step):
            self.save_journal(hotfix_journal.with_step(self.journal, step, self.clock()))
        self.interrupt(step)

    def write_log_line(self, original_version, version, sha) -> None:
        self.files.make_dirs(self.log_dir, OPERATION)
        line = (f"{self.clock()} Q244405 Distmgr.dll ({self.platform}) replaced: {original_version} -> {version}, "
                f"sha256 {sha}, by sms.remediation hotfix_transaction\r\n")
        self.files.append_bytes(ntpath.join(self.log_dir, self.log_name), line.encode("utf-8"), OPERATION)

    # ---- the journal on the host -------------------------------------------------------------
    def save_journal(self, data: dict) -> None:
        """Written whole beside it, then swapped in: at any cut the journal or its ``.tmp`` is whole."""
        temporary = self.journal_path + ".tmp"
        self.files.make_dirs(self.log_dir, OPERATION)
        self.files.write_bytes(temporary, hotfix_journal.dumps(data).encode("utf-8"), OPERATION)
        if self.exists(self.journal_path):
            self.files.delete(self.journal_path, OPERATION)
        self.files.rename(temporary, self.journal_path, OPERATION)
        self.journal = data

    def journal_on_host(self) -> str | None:
        """The journal's path when one is on the host (``.tmp`` when a cut came mid-swap)."""
        for path in (self.journal_path, self.journal_path + ".tmp"):
            if self.exists(path):
                return path
        return None

    def read_journal(self):
        path = self.journal_on_host()
        if path is None:
            return None
        text = self.files.read_all(path, OPERATION, 1024 * 1024).decode("utf-8-sig", "replace")
        return hotfix_journal.parse(text, path)

    def remove_journal(self, extra_backup: str | None) -> None:
        """A clean end: this run's extra backup (an older backup was kept), the temporaries, the journal."""
        for path in (extra_backup if extra_backup and extra_backup.lower() != self.backup.lower() else None,
                     self.new, self.old, self.journal_path + ".tmp", self.journal_path):
            if path and self.exists(path):
                self.files.delete(path, OPERATION)
        self.journal = None

    def finish(self, result: dict, order) -> dict:
        result["services_after"] = self.states(order)
        if self.exists(self.target):
            result["new_sha256"], result["new_version"] = self.digest(self.target)
        return result


class _Apply(_Transaction):
    def precheck(self) -> str | None:
        p = self.p
        self.staged, self.expected = p.text("StagedPath") or "", (p.text("ExpectedSha256") or "").lower()
        self.minimum = p.text("MinimumVersion")
        if not self.staged or not self.expected:
            return "-Mode Apply needs StagedPath and ExpectedSha256"
        if version_fields(self.minimum) is None:
            return f"MinimumVersion '{self.minimum}' is not a version"
        if self.journal_on_host():
            return f"an unfinished transaction is recorded in {self.journal_path}; the next run recovers it first"
        if not self.exists(self.target):
            return f"{self.target} not found"
        if not self.exists(self.staged):
            return f"staged file {self.staged} not found"
        self.staged_bytes = self.read(self.staged)
        staged_sha = hashlib.sha256(self.staged_bytes).hexdigest()
        if staged_sha != self.expected:
            return f"staged file sha256 {staged_sha} does not match expected {self.expected}"
        self.new_version = file_version_of_bytes(self.staged_bytes)
        have, need = version_fields(self.new_version), version_fields(self.minimum)
        if have is None or have < need:
            return f"staged file version {self.new_version} is below {self.minimum}"
        if p.flag("AllowCrossBuild"):
            return None
        site = p.text("SiteVersion") or self.digest(self.target)[1]
        site_fields = version_fields(site)
        if site_fields is None:
            return (f"the site's build is unknown (no SiteVersion and {self.target} has no version); pass "
                    "AllowCrossBuild to install the hotfix anyway")
        if have[2] != site_fields[2]:
            return (f"staged file version {self.new_version} belongs to build {have[2]}, this site is build "
                    f"{site_fields[2]} ({site}); mixing builds is not what KB Q244405 describes (a site of another "
                    "build gets the service pack); pass AllowCrossBuild to install it anyway")
        return None

    def open_journal(self) -> None:
        """The new DLL beside the old one, read back; then the journal. Nothing is stopped yet."""
        self.step = "journal"
        self.files.write_bytes(self.new, self.staged_bytes, OPERATION)
        if self.digest(self.new)[0] != self.expected:
            raise StepFailed(f"{self.new} does not read back with sha256 {self.expected}")
        self.backup_path = self.backup
        if self.exists(self.backup) and self.digest(self.backup)[0] != self.original_sha:
            self.backup_path = f"{self.backup}.{self.tx_id}"    # an older backup is kept
        self.save_journal(hotfix_journal.new_journal(
            transaction_id=self.tx_id, transport="msrpc", started_utc=self.clock(), platform=self.platform,
            install_dir=self.install_dir, service_order=self.order, services_before=self.before,
            paths={"original": self.target, "backup": self.backup_path, "staged": self.new},
            original={"sha256": self.original_sha, "version": self.original_version},
            new={"sha256": self.expected, "version": self.new_version}))
        self.done("journal", f"written to {self.journal_path}")

    def forward(self) -> None:
        for name in self.order:
            if name in self.running:
                self.step = f"stop:{name}"
                self.services.stop(name, self.wait, OPERATION)
                self.done(self.step, "stopped")
        self.step = "backup"
        if self.exists(self.backup_path):
            detail = f"existing backup {self.backup_path} kept (same file)"
        else:
            self.files.write_bytes(self.backup_path, self.original_bytes, OPERATION)
            if self.digest(self.backup_path)[0] != self.original_sha:
                raise StepFailed(f"backup {self.backup_path} does not match the original")
            detail = f"copied to {self.backup_path}"
            if self.backup_path != self.backup:
                detail += f" ({self.backup} holds an older file and is kept)"
        self.done("backup", detail)
        self.step = "swap"
        self.swapped = True
        if self.exists(self.old):
            self.files.delete(self.old, OPERATION)
        attempts = self.held_retry(lambda: self.files.rename(self.target, self.old, OPERATION))
        self.files.rename(self.new, self.target, OPERATION)
        self.done("swap", f"renamed {self.new} to {self.target}{self.attempt_text(attempts)}")
        self.step = "verify"
        sha, version = self.digest(self.target)
        if sha != self.expected:
            raise StepFailed(f"sha256 of {self.target} is {sha}, expected {self.expected}")
        if version_fields(version) != version_fields(self.new_version):
            raise StepFailed(f"file version of {self.target} is {version}, expected {self.new_version}")
        self.done("verify", f"sha256 {sha}, version {version}")
        self.start_were_running(self.running, "start:", strict=True)
        self.step = "verify_running"
        not_running = [n for n in self.running if self.state(n) != "running"]
        if not_running:
            raise StepFailed(f"not running after start: {', '.join(not_running)}")
        self.done("verify_running", ", ".join(self.running) if self.running else "no service was running")
        self.step = "log"
        self.write_log_line(self.original_version, version, sha)
        self.done("log", f"appended to {self.log_name}")

    def rollback(self) -> None:
        """Undo in the safe order; every part is tried; services are never left stopped."""
        if self.swapped:
            for name in self.order:
                if name not in self.running or self.state(name) == "stopped":
                    continue
                try:
                    self.services.stop(name, self.wait, OPERATION)
                    self.add(f"rollback:stop:{name}", True, "stopped")
                except TransportError as exc:
                    self.add(f"rollback:stop:{name}", False, exc.message)
            try:
                attempts = self.held_retry(lambda: self.files.write_bytes(self.target, self.original_bytes, OPERATION))
                sha = self.digest(self.target)[0]
                if sha != self.original_sha:
                    raise StepFailed(f"restored file sha256 {sha} differs from the original {self.original_sha}")
                self.restored = True
                self.add("rollback:restore", True, f"original Distmgr.dll put back (sha256 {sha}){self.attempt_text(attempts)}")
            except (TransportError, StepFailed) as exc:
                self.add("rollback:restore", False, _message(exc))
        self.start_were_running(self.running, "rollback:start:", strict=False)

    def run(self) -> dict:
        self.before = self.states(self.order)
        result = {"mode": "apply", "outcome": None, "failed_step": None, "error": None, "restored": False,
                  "dll_state": "original", "transaction_id": None, "journal": None,
                  "services_before": dict(self.before), "services_after": None, "steps": self.steps,
                  "new_version": None, "new_sha256": None}
        self.running = [n for n in self.order if self.before.get(n) not in (None, "stopped")]
        self.swapped = self.restored = False
        self.original_sha = None
        problem = self.precheck()
        if problem is not None:
            self.add("precheck", False, problem)
            result.update(outcome="failed", failed_step="precheck", error=problem)
            return self.finish(result, self.order)
        self.original_bytes = self.read(self.target)
        self.original_sha = hashlib.sha256(self.original_bytes).hexdigest()
        self.original_version = file_version_of_bytes(self.original_bytes)
        if self.original_sha == self.expected:
            self.add("precheck", True, f"{self.target} already has sha256 {self.original_sha}")
            result.update(outcome="unchanged", dll_state="new")
            return self.finish(result, self.order)
        if self.check_mode:
            self.add("precheck", True, f"would stop {', '.join(self.running)}, back up, replace and restart")
            result["outcome"] = "would_replace"
            return self.finish(result, self.order)
        self.add("precheck", True, f"services running: {', '.join(self.running)}")
        self.tx_id = result["transaction_id"] = str(uuid.uuid4())
        try:
            self.open_journal()
            self.forward()
            result["outcome"] = "replaced"
        except (TransportError, StepFailed) as exc:
            self.add(self.step, False, _message(exc))
            result.update(outcome="failed", failed_step=self.step, error=_message(exc))
            self.rollback()
        result["restored"] = self.restored
        self.finish(result, self.order)
        result["dll_state"] = ("new" if result["outcome"] == "replaced"
                               else self.dll_state(self.original_sha, self.expected, self.new_version))
        if self.journal is not None:
            still_down = [n for n in self.running if result["services_after"].get(n) != "running"]
            clean = result["outcome"] == "replaced" or (result["dll_state"] == "original" and not still_down)
            kept = not clean
            if clean:
                try:
                    self.remove_journal(self.backup_path)
                except TransportError as exc:
                    kept = True
                    self.add("journal", False, f"not deleted: {exc.message}")
            result["journal"] = {"path": self.journal_path, "kept": kept}
        elif self.swapped is False and self.exists(self.new):
            self.files.delete(self.new, OPERATION)     # the journal step failed: nothing else was done
        return result


class _Recover(_Transaction):
    def steps_to_recover(self, journal, running) -> None:
        recovery, tx_id = self.p.text("Recovery"), self.p.text("TransactionId")
        self.step = "recover:check"
        if journal.transaction_id != tx_id:
            raise StepFailed(f"the journal holds transaction {journal.transaction_id}, not {tx_id}: probe the host again")
        if journal.paths["original"].lower() != self.target.lower():
            raise StepFailed(f"the journal is for {journal.paths['original']}, not {self.target}; recover it by hand")
        sha, version = self.digest(self.target) if self.exists(self.target) else (None, None)
        if recovery == "complete":
            if sha != journal.new["sha256"] or version_fields(version) != version_fields(journal.new["version"]):
                raise StepFailed(f"Distmgr.dll is not the journal's new file (sha256 {sha}, version {version}): cannot complete")
            self.add(self.step, True, f"Distmgr.dll is the verified new file (sha256 {sha}, version {version})")
        elif sha == journal.original["sha256"]:
            self.add(self.step, True, f"Distmgr.dll is the original (sha256 {sha})")
        else:
            self.add(self.step, True, f"Distmgr.dll is not the original (sha256 {sha}): restore from {journal.paths['backup']}")
            for name in journal.service_order:
                if self.state(name) in (None, "stopped"):
                    continue
                self.step = f"recover:stop:{name}"
                self.services.stop(name, self.wait, OPERATION)
                self.add(self.step, True, "stopped")
            self.step = "recover:restore"
            backup = journal.paths["backup"]
            data = self.read(backup) if self.exists(backup) else None
            if data is None or hashlib.sha256(data).hexdigest() != journal.original["sha256"]:
                raise StepFailed(f"backup {backup} is missing or is not the original (sha256 {journal.original['sha256']}); "
                                 "Distmgr.dll left as it is")
            attempts = self.held_retry(lambda: self.files.write_bytes(self.target, data, OPERATION))
            if self.digest(self.target)[0] != journal.original["sha256"]:
                raise StepFailed(f"{self.target} does not match the original after the copy")
            self.add(self.step, True, f"original Distmgr.dll copied back from {backup}{self.attempt_text(attempts)}")
        self.start_were_running(running, "recover:start:", strict=True)
        self.step = "recover:verify_running"
        not_running = [n for n in running if self.state(n) != "running"]
        if not_running:
            raise StepFailed(f"not running after start: {', '.join(not_running)}")
        self.add(self.step, True, ", ".join(running) if running else "no service was running")
        if recovery == "complete" and "log" not in journal.steps:
            self.step = "recover:log"
            self.write_log_line(journal.original["version"], version, sha)
            self.add(self.step, True, f"appended to {self.log_name}")
        self.step = "recover:journal"
        self.remove_journal(journal.paths["backup"])
        self.add(self.step, True, f"{self.journal_path} deleted")

    def run(self) -> dict:
        recovery = self.p.text("Recovery")
        if recovery not in ("rollback", "complete"):
            raise self.host.session.error(OPERATION, f"Recovery {recovery!r}: expected rollback or complete")
        result = {"mode": "recover", "recovery": recovery, "outcome": None, "failed_step": None, "error": None,
                  "dll_state": "unknown", "transaction_id": None, "journal": None, "services_before": None,
                  "services_after": None, "steps": self.steps, "new_version": None, "new_sha256": None}
        try:
            journal = self.read_journal()
        except (TransportError, hotfix_journal.JournalError) as exc:
            result.update(outcome="failed", failed_step="recover:read", error=_message(exc))
            journal = None
        if journal is None:
            result["outcome"] = result["outcome"] or "no_journal"
            return self.finish(result, self.order)
        self.order = journal.service_order
        before = journal.services_before
        running = journal.was_running()
        result.update(transaction_id=journal.transaction_id, services_before=before,
                      journal={"path": self.journal_path, "kept": True})
        if self.check_mode:
            self.add("recover:check", True, f"would {recovery} transaction {journal.transaction_id}")
            result["outcome"] = f"would_{recovery}"
        else:
            try:
                self.steps_to_recover(journal, running)
                result["outcome"] = "completed" if recovery == "complete" else "rolled_back"
                result["journal"]["kept"] = False
            except (TransportError, StepFailed) as exc:
                self.add(self.step, False, _message(exc))
                result.update(outcome="failed", failed_step=self.step, error=_message(exc))
                # The SMS Executive must not load a DLL that is neither the original nor the new file.
                if self.dll_state(journal.original["sha256"], journal.new["sha256"], journal.new["version"]) != "unknown":
                    self.start_were_running(running, "recover:start:", strict=False)
                else:
                    self.add("recover:start", False, "services left stopped: Distmgr.dll is neither the original nor the new file")
        self.finish(result, self.order)
        result["dll_state"] = self.dll_state(journal.original["sha256"], journal.new["sha256"], journal.new["version"])
        return result


def changed(result: dict) -> bool:
    """As the script's $Ansible.Changed."""
    outcome = result.get("outcome")
    if result.get("mode") == "recover":
        return outcome in ("completed", "rolled_back", "would_complete", "would_rollback") or (
            outcome == "failed" and result.get("failed_step") not in ("recover:read", "recover:check"))
    return outcome in ("replaced", "would_replace") or (outcome == "failed" and result.get("failed_step") != "precheck")


def hotfix_transaction(host, parameters: dict, check_mode: bool, interrupt=None, sleep=time.sleep) -> dict:
    host.session.smb                       # an unreachable host fails here, before anything is decided
    mode = str(Params(parameters, HOTFIX_DEFAULTS).get("Mode"))
    if mode.lower() not in ("apply", "recover"):
        raise host.session.error(OPERATION, f"Mode {mode!r}: expected Apply or Recover")
    kind = _Apply if mode.lower() == "apply" else _Recover
    result = kind(host, parameters, check_mode, interrupt=interrupt, sleep=sleep).run()
    result["changed"] = changed(result)
    return result
