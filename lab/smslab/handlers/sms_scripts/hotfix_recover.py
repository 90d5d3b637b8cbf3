"""Twin of sms_hotfix_transaction.ps1 -Mode Recover: finish the journal a cut transaction left.

The controller decided ``Recovery`` (``complete`` | ``rollback``) from the journal and the probe
(plugins/module_utils/hotfix_journal.py); every step re-checks the host, so a host that changed
since the probe fails instead of being guessed at.
"""

from __future__ import annotations

import json

from smslab.handlers import HostContext
from smslab.handlers.sms_scripts.common import Params, file_exists, sha256_of, version_of
from smslab.handlers.sms_scripts.hotfix import (
    JOURNAL_FORMAT,
    StepFailed,
    _Run,
    compare_versions,
    error_text,
)
from smslab.state import LabPathError


class Recover(_Run):
    def __init__(self, ctx: HostContext, params: Params):
        super().__init__(ctx, params)
        self.recovery = str(params.get("Recovery", "rollback")).lower()
        self.transaction_id = params.get("TransactionId", "")
        self.order: list[str] = []
        self.running: list[str] = []

    def read_journal(self) -> dict | None:
        path = self.find_journal()
        if path is None:
            return None
        text = self.state.read_bytes(path).decode("utf-8-sig")
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise StepFailed(f"journal {path} is not JSON: {exc}") from None
        if not isinstance(data, dict) or data.get("format") != JOURNAL_FORMAT or data.get("format_version") != 1:
            raise StepFailed(f"journal {path} is not a Q244405 transaction journal of format version 1")
        return data

    def steps_of(self, data: dict) -> None:
        self.step = "recover:check"
        if data.get("transaction_id") != self.transaction_id:
            raise StepFailed(f"the journal holds transaction {data.get('transaction_id')}, not {self.transaction_id}: "
                             "probe the host again")
        if str(data["paths"]["original"]).lower() != self.target.lower():
            raise StepFailed(f"the journal is for {data['paths']['original']}, not {self.target}; recover it by hand")
        sha = sha256_of(self.state, self.target)
        version = version_of(self.state, self.target)
        if self.recovery == "complete":
            if sha != data["new"]["sha256"] or compare_versions(version, data["new"]["version"]) != 0:
                raise StepFailed(f"Distmgr.dll is not the journal's new file (sha256 {sha}, version {version}): "
                                 "cannot complete")
            self.add(self.step, True, f"Distmgr.dll is the verified new file (sha256 {sha}, version {version})")
        elif sha == data["original"]["sha256"]:
            self.add(self.step, True, f"Distmgr.dll is the original (sha256 {sha})")
        else:
            backup = data["paths"]["backup"]
            self.add(self.step, True, f"Distmgr.dll is not the original (sha256 {sha}): restore from {backup}")
            for name in self.order:
                if self.scm.status(name) in (None, "stopped"):
                    continue
                self.step = f"recover:stop:{name}"
                self.add(self.step, True, self.stop_service(name))
            self.step = "recover:restore"
            if not file_exists(self.state, backup) or sha256_of(self.state, backup) != data["original"]["sha256"]:
                raise StepFailed(f"backup {backup} is missing or is not the original (sha256 "
                                 f"{data['original']['sha256']}); Distmgr.dll left as it is")
            attempts = self.file_write(self.target, self.state.read_bytes(backup))
            if sha256_of(self.state, self.target) != data["original"]["sha256"]:
                raise StepFailed(f"{self.target} does not match the original after the copy")
            self.add(self.step, True, f"original Distmgr.dll copied back from {backup}{self.attempt_text(attempts)}")
        self.start_were_running(self.order, self.running, "recover:start:", strict=True)
        self.step = "recover:verify_running"
        not_running = [name for name in self.running if self.scm.status(name) != "running"]
        if not_running:
            raise StepFailed(f"not running after start: {', '.join(not_running)}")
        self.add(self.step, True, ", ".join(self.running) if self.running else "no service was running")
        if self.recovery == "complete" and "log" not in [entry.get("step") for entry in data.get("steps", [])]:
            self.step = "recover:log"
            self.write_log_line(data["original"]["version"], version, sha)
            self.add(self.step, True, f"appended to {self.log_name}")
        self.step = "recover:journal"
        self.remove_journal()
        self.add(self.step, True, f"{self.journal_path} deleted; {data['paths']['backup']} kept")

    def run(self) -> tuple[dict, bool]:
        result = {"mode": "recover", "recovery": self.recovery, "outcome": None, "failed_step": None, "error": None,
                  "dll_state": "unknown", "transaction_id": None, "journal": None,
                  "services_before": None, "services_after": None, "steps": self.steps,
                  "new_version": None, "new_sha256": None}
        try:
            data = self.read_journal()
        except StepFailed as exc:
            data = None
            result.update(outcome="failed", failed_step="recover:read", error=str(exc))
        if data is None:
            result["outcome"] = result["outcome"] or "no_journal"
            result["services_after"] = self.states(self.stop_order)
            return result, False
        self.order = list(data["services"]["order"])
        before = {name: data["services"]["before"].get(name) for name in self.order}
        self.running = [name for name in self.order if before[name] not in (None, "stopped")]
        result.update(transaction_id=data["transaction_id"], services_before=before,
                      journal={"path": self.journal_path, "kept": True})
        if self.ctx.check_mode:
            self.add("recover:check", True, f"would {self.recovery} transaction {data['transaction_id']}")
            result["outcome"] = f"would_{self.recovery}"
        else:
            try:
                self.steps_of(data)
                result["outcome"] = "completed" if self.recovery == "complete" else "rolled_back"
                result["journal"]["kept"] = False
            except (StepFailed, TimeoutError, OSError, LabPathError) as exc:
                message = error_text(exc)
                self.add(self.step, False, message)
                result.update(outcome="failed", failed_step=self.step, error=message)
                state = self.dll_state(data["original"]["sha256"], data["new"]["sha256"], data["new"]["version"])
                if state != "unknown":
                    self.start_were_running(self.order, self.running, "recover:start:", strict=False)
                else:
                    self.add("recover:start", False,
                             "services left stopped: Distmgr.dll is neither the original nor the new file")
        result["services_after"] = self.states(self.order)
        result["dll_state"] = self.dll_state(data["original"]["sha256"], data["new"]["sha256"], data["new"]["version"])
        self.file_facts(result)
        changed = result["outcome"] in ("completed", "rolled_back", "would_rollback", "would_complete") or (
            result["outcome"] == "failed" and result["failed_step"] not in ("recover:read", "recover:check"))
        return result, changed
