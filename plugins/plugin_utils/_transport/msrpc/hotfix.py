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
import time
import uuid

from ansible_collections.sms.remediation.plugins.module_utils import hotfix_journal
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.base import TransportError
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.hotfix_base import (
    OPERATION, StepFailed, _message, _Transaction, version_fields)
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.hotfix_recover import _Recover
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.params import HOTFIX_DEFAULTS, Params
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.pe_version import file_version_of_bytes


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
        self.backup_made = self.backup_path           # kept after success: the way back to this DLL
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
        self.prune_backups()

    def prune_backups(self) -> None:
        """KeepBackups N > 0: all but the N newest backups of Distmgr.dll go (newest by last-write time; this
        run's is always one of them). 0 keeps every backup. A failure here is reported; the hotfix stands."""
        keep = int(self.p.get("KeepBackups") or 0)
        if keep <= 0:
            return
        try:
            folder, name = ntpath.split(self.backup)
            mine = ntpath.basename(self.backup_path).lower()
            others = sorted((e for e in self.files.list_dir(folder, OPERATION) or [] if not e.directory
                             and e.name.lower() != mine
                             and (e.name.lower() == name.lower() or e.name.lower().startswith(name.lower() + "."))),
                            key=lambda e: e.last_write, reverse=True)
            pruned = [ntpath.join(folder, e.name) for e in others[keep - 1:]]
            for path in pruned:
                self.files.delete(path, OPERATION)
            self.add("prune_backups", True, f"KeepBackups {keep}: deleted {', '.join(pruned) or 'none'}; "
                                            f"{self.backup_path} kept")
        except TransportError as exc:
            self.add("prune_backups", False, f"KeepBackups {keep}: {exc.message}")

    def rollback(self) -> None:
        """Undo in the safe order; every part is tried whatever the others raise; services are never left
        stopped. A session that dropped is opened again first (``reconnect``, where the host has one)."""
        self._reconnect_if_dropped()
        if self.swapped:
            for name in self.order:
                try:
                    if name not in self.running or self.state(name) == "stopped":
                        continue
                    self.services.stop(name, self.wait, OPERATION)
                    self.add(f"rollback:stop:{name}", True, "stopped")
                except Exception as exc:  # pylint: disable=broad-exception-caught
                    self.add(f"rollback:stop:{name}", False, _message(exc))
            try:
                attempts = self.held_retry(lambda: self.files.write_bytes(self.target, self.original_bytes, OPERATION))
                sha = self.digest(self.target)[0]
                if sha != self.original_sha:
                    raise StepFailed(f"restored file sha256 {sha} differs from the original {self.original_sha}")
                self.restored = True
                self.add("rollback:restore", True, f"original Distmgr.dll put back (sha256 {sha}){self.attempt_text(attempts)}")
            except Exception as exc:  # pylint: disable=broad-exception-caught
                self.add("rollback:restore", False, _message(exc))
        self.start_were_running(self.running, "rollback:start:", strict=False)

    def run(self) -> dict:
        self.before = self.states(self.order)
        result = {"mode": "apply", "outcome": None, "failed_step": None, "error": None, "restored": False,
                  "dll_state": "original", "transaction_id": None, "journal": None,
                  "services_before": dict(self.before), "services_after": None, "steps": self.steps,
                  "new_version": None, "new_sha256": None, "backup": None}
        self.running = [n for n in self.order if self.before.get(n) not in (None, "stopped")]
        self.swapped = self.restored = False
        self.backup_made = None
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
        except Exception as exc:  # pylint: disable=broad-exception-caught  # a bug or an impacket error too
            self.add(self.step, False, _message(exc))
            result.update(outcome="failed", failed_step=self.step, error=_message(exc))
            self.rollback()
        except BaseException:
            # Interrupted (Ctrl-C, the worker told to exit): restart what ran before leaving; the journal stays
            # for the next run.
            self.rollback()
            raise
        result["restored"] = self.restored
        result["backup"] = self.backup_made
        self.finish(result, self.order)
        result["dll_state"] = ("new" if result["outcome"] == "replaced"
                               else self.dll_state(self.original_sha, self.expected, self.new_version))
        if self.journal is not None:
            still_down = [n for n in self.running if result["services_after"].get(n) != "running"]
            clean = result["outcome"] == "replaced" or (result["dll_state"] == "original" and not still_down)
            kept = not clean
            if clean:
                try:
                    self.remove_journal()
                except TransportError as exc:
                    kept = True
                    self.add("journal", False, f"not deleted: {exc.message}")
            result["journal"] = {"path": self.journal_path, "kept": kept}
        elif self.swapped is False and self.exists(self.new):
            self.files.delete(self.new, OPERATION)     # the journal step failed: nothing else was done
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
