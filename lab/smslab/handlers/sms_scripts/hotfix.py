"""Twin of sms_hotfix_transaction.ps1 -Mode Apply: journal -> stop (waiting for each process to
exit) -> backup -> swap (retried while the file is held) -> verify -> start -> log, with rollback.
-Mode Recover is in ``hotfix_recover``; what both share is ``_Run`` here.

Lab faults (``state.faults``): ``fail_step`` (a step throws before it runs), ``cut_after_step`` (the
script is killed once that step completed and was journaled: no catch, no finally, the connection
drops; the fault fires once), ``service_wont_stop`` / ``service_wont_start``, and the timings of
``service_control`` (``service_stop_seconds``, ``service_start_seconds``, ``process_exit_seconds``).
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime, timezone

from smslab.handlers import HostContext
from smslab.handlers.sms_scripts.common import (
    Params,
    fail_step_names,
    file_exists,
    sha256_of,
    version_fields,
    version_of,
)
from smslab.handlers.sms_scripts.service_control import LabClock, ServiceControl, SharingViolation
from smslab.state import LabPathError

JOURNAL_FORMAT = "sms.remediation/q244405-transaction-journal"
_NOT_JOURNALED = re.compile(r"^(precheck|journal|rollback:|recover:)")


class StepFailed(Exception):
    pass


class ScriptKilled(Exception):
    """The lab cut the connection: the script process dies here (no catch, no finally)."""


def utc_stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def compare_versions(version: str | None, other: str | None) -> int | None:
    have, need = version_fields(version), version_fields(other)
    if have is None or need is None:
        return None
    return (have > need) - (have < need)


def error_text(exc: Exception) -> str:
    """The message PowerShell's Get-InnermostException would give."""
    if isinstance(exc, (StepFailed, TimeoutError)):
        return str(exc)
    return getattr(exc, "strerror", None) or str(exc)


class _Run:
    """What both modes share: parameters, steps, journal file, services, retried writes."""

    def __init__(self, ctx: HostContext, params: Params):
        self.ctx = ctx
        self.state = ctx.state
        self.install_dir = str(params.get("InstallDir", "")).rstrip("\\")
        self.platform = params.get("Platform")
        self.stop_order = params.list("StopOrder", ["SMS_SITE_COMPONENT_MANAGER", "SMS_EXECUTIVE", "SMS_SITE_BACKUP"])
        self.wait = int(params.get("WaitSeconds", 120))
        self.process_exit = int(params.get("ProcessExitSeconds", 60))
        self.copy_attempts = int(params.get("CopyAttempts", 6))
        self.target = f"{self.install_dir}\\bin\\{self.platform}\\Distmgr.dll"
        self.backup = self.target + params.get("BackupSuffix", ".pre-Q244405")
        self.log_dir = f"{self.install_dir}\\Logs"
        self.log_name = params.get("HotfixLogName", "Q244405.log")
        self.journal_path = f"{self.log_dir}\\{params.get('JournalName', 'Q244405.journal.json')}"
        self.clock = LabClock()
        self.scm = ServiceControl(self.state, self.clock, self.wait)
        self.steps: list[dict] = []
        self.journal: dict | None = None
        self.fail_steps = fail_step_names(self.state)
        self.step = "precheck"

    # ---- steps and the journal -------------------------------------------------------------
    def add(self, step: str, ok: bool, detail: str) -> None:
        self.steps.append({"step": step, "ok": ok, "detail": detail})
        if ok and self.journal is not None and not _NOT_JOURNALED.match(step):
            self.journal["steps"].append({"step": step, "at_utc": utc_stamp()})
            self.save_journal()
        if ok:
            self.maybe_cut(step)

    def injected(self, step: str) -> None:
        if step.lower() in self.fail_steps:
            raise StepFailed(f"lab fault injected at step '{step}'")

    def maybe_cut(self, step: str) -> None:
        cut = self.state.faults.get("cut_after_step")
        if cut and str(cut).lower() == step.lower():
            del self.state.faults["cut_after_step"]       # a cut is one event, not a state
            raise ScriptKilled(step)

    def save_journal(self) -> None:
        # Save-Journal: the whole text to <journal>.tmp, then File.Replace / File.Move.
        temporary = self.journal_path + ".tmp"
        self.state.write_bytes(temporary, json.dumps(self.journal, indent=4).encode("utf-8"))
        self.state.move(temporary, self.journal_path)

    def remove_journal(self) -> None:
        """Remove-Journal: the journal only; every backup stays (the way back to the replaced DLL)."""
        for path in (self.journal_path, self.journal_path + ".tmp"):
            if file_exists(self.state, path):
                self.state.remove(path)

    def find_journal(self) -> str | None:
        """Find-Journal: ``<name>``, else ``<name>.tmp`` (a cut inside the msrpc transport's swap)."""
        return next((p for p in (self.journal_path, self.journal_path + ".tmp") if file_exists(self.state, p)), None)

    # ---- services and files ----------------------------------------------------------------
    def states(self, names: list[str]) -> dict:
        return {name: self.scm.status(name) for name in names}

    def stop_service(self, name: str) -> str:
        """Stop-SmsService: stop, bounded wait, then wait for the service's process to exit."""
        pid = self.scm.process_of(name)        # taken before the stop, as the script does
        self.scm.stop(name)
        if pid is None:
            return "stopped"
        if self.scm.wait_for_exit(name, self.process_exit):
            return f"stopped; process {pid} exited"
        return f"stopped; process {pid} still running after {self.process_exit} seconds"

    def start_were_running(self, order: list[str], running: list[str], prefix: str, strict: bool) -> None:
        for name in reversed(order):
            if name not in running or self.scm.status(name) == "running":
                continue
            step = f"{prefix}{name}"
            if strict:
                self.step = step
                self.injected(step)
                self.scm.start(name)
                self.add(step, True, "running")
                continue
            try:
                self.scm.start(name)
                self.add(step, True, "running")
            except TimeoutError as exc:
                self.add(step, False, str(exc))

    def file_write(self, path: str, data: bytes) -> int:
        """Invoke-FileWrite: retry a sharing violation with backoff 0.5 s, 1 s, 2 s ... (8 s at most)."""
        delay = 0.5
        attempt = 1
        while True:
            try:
                self.scm.write_file(path, data)
                return attempt
            except SharingViolation:
                if attempt >= self.copy_attempts:
                    raise
                self.clock.sleep(delay)
                delay = min(delay * 2, 8.0)
                attempt += 1

    def attempt_text(self, attempts: int) -> str:
        if attempts <= 1:
            return ""
        return f" (attempt {attempts} of {self.copy_attempts}: the file was in use before)"

    def dll_state(self, original_sha: str | None, new_sha: str | None, new_version: str | None) -> str:
        if not file_exists(self.state, self.target):
            return "unknown"
        sha = sha256_of(self.state, self.target)
        if sha == original_sha:
            return "original"
        if sha == new_sha and compare_versions(version_of(self.state, self.target), new_version) == 0:
            return "new"
        return "unknown"

    def write_log_line(self, original_version, version, sha) -> None:
        log_path = f"{self.log_dir}\\{self.log_name}"
        line = (f"{utc_stamp()} Q244405 Distmgr.dll ({self.platform}) replaced: {original_version} -> {version}, "
                f"sha256 {sha}, by sms.remediation hotfix_transaction\r\n")
        previous = self.state.read_bytes(log_path) if file_exists(self.state, log_path) else b""
        self.state.write_bytes(log_path, previous + line.encode("utf-8"))

    def file_facts(self, result: dict) -> None:
        if file_exists(self.state, self.target):
            result["new_sha256"] = sha256_of(self.state, self.target)
            result["new_version"] = version_of(self.state, self.target)


class _Apply(_Run):
    def __init__(self, ctx: HostContext, params: Params):
        super().__init__(ctx, params)
        self.staged = params.get("StagedPath", "")
        self.expected = str(params.get("ExpectedSha256", "")).lower()
        self.minimum = params.get("MinimumVersion", "2.00.1380.1083")
        self.site_version = params.get("SiteVersion", "")
        self.allow_cross_build = bool(params.get("AllowCrossBuild", False))
        self.keep_backups = int(params.get("KeepBackups", 0) or 0)
        self.tx_id = str(uuid.uuid4())
        self.running: list[str] = []
        self.before: dict = {}
        self.swapped = False
        self.original: bytes | None = None
        self.original_sha = self.original_version = self.new_version = None
        self.backup_path = self.backup
        self.restored = False

    def precheck(self) -> str | None:
        if not self.staged or not self.expected:
            return "-Mode Apply needs StagedPath and ExpectedSha256"
        if version_fields(self.minimum) is None:
            return f"MinimumVersion '{self.minimum}' is not a version"
        journal = self.find_journal()
        if journal is not None:
            return f"an unfinished transaction is recorded in {journal}; the next run recovers it first"
        if not file_exists(self.state, self.target):
            return f"{self.target} not found"
        if not file_exists(self.state, self.staged):
            return f"staged file {self.staged} not found"
        staged_sha = sha256_of(self.state, self.staged)
        if staged_sha != self.expected:
            return f"staged file sha256 {staged_sha} does not match expected {self.expected}"
        staged_version = version_of(self.state, self.staged)
        order = compare_versions(staged_version, self.minimum)
        if order is None or order < 0:
            return f"staged file version {staged_version} is below {self.minimum}"
        if self.allow_cross_build:
            return None
        site = self.site_version or version_of(self.state, self.target)
        site_fields = version_fields(site)
        if site_fields is None:
            return (f"the site's build is unknown (no SiteVersion and {self.target} has no version); "
                    "pass AllowCrossBuild to install the hotfix anyway")
        staged_build = version_fields(staged_version)[2]
        if staged_build != site_fields[2]:
            return (f"staged file version {staged_version} belongs to build {staged_build}, this site is build "
                    f"{site_fields[2]} ({site}); mixing builds is not what KB Q244405 describes (a site of another "
                    "build gets the service pack); pass AllowCrossBuild to install it anyway")
        return None

    def new_journal(self) -> None:
        if file_exists(self.state, self.backup) and sha256_of(self.state, self.backup) != self.original_sha:
            self.backup_path = f"{self.backup}.{self.tx_id}"
        self.journal = {
            "format": JOURNAL_FORMAT, "format_version": 1,
            "transaction_id": self.tx_id, "transport": "winrm", "started_utc": utc_stamp(),
            "platform": self.platform, "install_dir": self.install_dir,
            "services": {"order": list(self.stop_order), "before": {n: self.before[n] for n in self.stop_order}},
            "paths": {"original": self.target, "backup": self.backup_path, "staged": self.staged},
            "original": {"sha256": self.original_sha, "version": self.original_version},
            "new": {"sha256": self.expected, "version": self.new_version},
            "steps": [],
        }
        self.save_journal()

    def forward(self) -> None:
        self.step = "journal"
        self.injected(self.step)
        self.new_journal()
        self.add("journal", True, f"written to {self.journal_path}")
        for name in self.stop_order:
            if name not in self.running:
                continue
            self.step = f"stop:{name}"
            self.injected(self.step)
            self.add(self.step, True, self.stop_service(name))

        self.step = "backup"
        self.injected(self.step)
        self.original = self.state.read_bytes(self.target)
        if file_exists(self.state, self.backup_path):
            detail = f"existing backup {self.backup_path} kept (same file)"
        else:
            self.state.write_bytes(self.backup_path, self.original)
            if sha256_of(self.state, self.backup_path) != self.original_sha:
                raise StepFailed(f"backup {self.backup_path} does not match the original")
            detail = f"copied to {self.backup_path}"
            if self.backup_path != self.backup:
                detail += f" ({self.backup} holds an older file and is kept)"
        self.add("backup", True, detail)

        self.step = "swap"
        self.swapped = True
        self.injected(self.step)
        attempts = self.file_write(self.target, self.state.read_bytes(self.staged))
        self.add("swap", True, f"copied {self.staged} over {self.target}{self.attempt_text(attempts)}")

        self.step = "verify"
        sha = sha256_of(self.state, self.target)
        version = version_of(self.state, self.target)
        self.injected(self.step)
        if sha != self.expected:
            raise StepFailed(f"sha256 of {self.target} is {sha}, expected {self.expected}")
        if compare_versions(version, self.new_version) != 0:
            raise StepFailed(f"file version of {self.target} is {version}, expected {self.new_version}")
        self.add("verify", True, f"sha256 {sha}, version {version}")

        self.start_were_running(self.stop_order, self.running, "start:", strict=True)
        self.step = "verify_running"
        self.injected(self.step)
        not_running = [name for name in self.running if self.scm.status(name) != "running"]
        if not_running:
            raise StepFailed(f"not running after start: {', '.join(not_running)}")
        self.add("verify_running", True, ", ".join(self.running) if self.running else "no service was running")

        self.step = "log"
        self.injected(self.step)
        self.write_log_line(self.original_version, version, sha)
        self.add("log", True, f"appended to {self.log_name}")
        self.remove_old_backups()

    def remove_old_backups(self) -> None:
        """Remove-OldBackups: KeepBackups N > 0 keeps the N newest backups (by last-write time; this run's is
        one of them); 0 keeps all. A failure is a step that says so; the hotfix stands."""
        if self.keep_backups <= 0:
            return
        folder, _sep, name = self.backup.rpartition("\\")
        try:
            others = [entry for entry in self.state.listdir(folder)
                      if (entry.lower() == name.lower() or entry.lower().startswith(name.lower() + "."))
                      and f"{folder}\\{entry}".lower() != self.backup_path.lower()]
            others.sort(key=lambda entry: self.state.local_path(f"{folder}\\{entry}").stat().st_mtime, reverse=True)
            pruned = [f"{folder}\\{entry}" for entry in others[self.keep_backups - 1:]]
            for path in pruned:
                self.state.remove(path)
            self.add("prune_backups", True, f"KeepBackups {self.keep_backups}: deleted {', '.join(pruned) or 'none'}; "
                                            f"{self.backup_path} kept")
        except (OSError, LabPathError) as exc:
            self.add("prune_backups", False, f"KeepBackups {self.keep_backups}: {error_text(exc)}")

    def rollback(self) -> None:
        if self.swapped and self.original is not None:
            for name in self.stop_order:
                if name not in self.running or self.scm.status(name) == "stopped":
                    continue
                try:
                    self.add(f"rollback:stop:{name}", True, self.stop_service(name))
                except TimeoutError as exc:
                    self.add(f"rollback:stop:{name}", False, str(exc))
            try:
                attempts = self.file_write(self.target, self.original)
                restored_sha = sha256_of(self.state, self.target)
                if restored_sha != self.original_sha:
                    raise StepFailed(f"restored file sha256 {restored_sha} differs from the original {self.original_sha}")
                self.restored = True
                self.add("rollback:restore", True, f"original Distmgr.dll put back (sha256 {restored_sha})"
                                                   f"{self.attempt_text(attempts)}")
            except (StepFailed, OSError) as exc:
                self.add("rollback:restore", False, error_text(exc))
        self.start_were_running(self.stop_order, self.running, "rollback:start:", strict=False)

    def run(self) -> tuple[dict, bool]:
        self.before = self.states(self.stop_order)
        result = {"mode": "apply", "outcome": None, "failed_step": None, "error": None, "restored": False,
                  "dll_state": "original", "transaction_id": None, "journal": None,
                  "services_before": self.before, "services_after": None, "steps": self.steps,
                  "new_version": None, "new_sha256": None, "backup": None}
        # Anything not stopped counts as running: stopped for the swap, started afterwards.
        self.running = [n for n in self.stop_order if self.before[n] is not None and self.before[n] != "stopped"]
        problem = self.precheck()
        if problem is not None:
            self.add("precheck", False, problem)
            result.update(outcome="failed", failed_step="precheck", error=problem)
        else:
            self.original_sha = sha256_of(self.state, self.target)
            self.original_version = version_of(self.state, self.target)
            self.new_version = version_of(self.state, self.staged)
            if self.original_sha == self.expected:
                self.add("precheck", True, f"{self.target} already has sha256 {self.original_sha}")
                result["outcome"] = "unchanged"
            elif self.ctx.check_mode:
                self.add("precheck", True, f"would stop {', '.join(self.running)}, back up, replace and restart")
                result["outcome"] = "would_replace"
            else:
                self.add("precheck", True, f"services running: {', '.join(self.running)}")
                result["transaction_id"] = self.tx_id
                try:
                    self.forward()
                    result["outcome"] = "replaced"
                except (StepFailed, TimeoutError, OSError, LabPathError) as exc:
                    message = error_text(exc)
                    self.add(self.step, False, message)
                    result.update(outcome="failed", failed_step=self.step, error=message)
                    self.rollback()
                result["restored"] = self.restored
                result["backup"] = self.backup_path if any(st["step"] == "backup" and st["ok"] for st in self.steps) else None
        result["services_after"] = self.states(self.stop_order)
        if result["outcome"] == "unchanged":
            result["dll_state"] = "new"
        elif self.original_sha is not None:
            result["dll_state"] = self.dll_state(self.original_sha, self.expected, self.new_version)
        if self.journal is not None:
            still_down = [n for n in self.running if result["services_after"][n] != "running"]
            clean = result["outcome"] == "replaced" or (result["dll_state"] == "original" and not still_down)
            if clean:
                self.remove_journal()
            result["journal"] = {"path": self.journal_path, "kept": not clean}
        self.file_facts(result)
        changed = result["outcome"] in ("replaced", "would_replace") or (
            result["outcome"] == "failed" and result["failed_step"] != "precheck")
        return result, changed
