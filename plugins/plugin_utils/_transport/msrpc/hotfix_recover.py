# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Mode Recover of the msrpc hotfix transaction (private to this collection): finishes a run that was cut,
from the journal on the host (``Recovery: complete | rollback``, decided by the controller), re-checking the
host at each step."""

from __future__ import annotations

import hashlib

from ansible_collections.sms.remediation.plugins.module_utils import hotfix_journal
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.base import TransportError
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.hotfix_base import (
    OPERATION, StepFailed, _message, _Transaction, version_fields)


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
        self.remove_journal()
        self.add(self.step, True, f"{self.journal_path} deleted; {journal.paths['backup']} kept")

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
            except Exception as exc:  # pylint: disable=broad-exception-caught  # a bug or an impacket error too
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
