"""Twin of sms_hotfix_transaction.ps1: stop -> backup -> swap -> verify -> start."""

from __future__ import annotations

from datetime import datetime, timezone

from smslab.handlers import HostContext, ScriptError, script
from smslab.state import LabPathError
from smslab.handlers.sms_scripts.common import (
    Params,
    fail_step_names,
    fault_names,
    file_exists,
    service_record,
    service_state_of,
    sha256_of,
    version_at_least,
    version_fields,
    version_of,
)


class _StepFailed(Exception):
    pass


class _Hotfix:
    def __init__(self, ctx: HostContext, params: Params):
        self.ctx = ctx
        self.state = ctx.state
        install_dir = params.get("InstallDir")
        self.platform = params.get("Platform")
        self.staged = params.get("StagedPath")
        self.expected = params.get("ExpectedSha256")
        for name, value in (("InstallDir", install_dir), ("Platform", self.platform),
                            ("StagedPath", self.staged), ("ExpectedSha256", self.expected)):
            if not value:
                raise ScriptError(f"Cannot bind argument to parameter '{name}' because it is an empty string.")
        if self.platform not in ("i386", "alpha"):
            raise ScriptError(f"Cannot validate argument on parameter 'Platform'. The argument \"{self.platform}\" "
                              "does not belong to the set \"i386,alpha\"")
        self.install_dir = install_dir.rstrip("\\")
        self.minimum = params.get("MinimumVersion", "2.00.1380.1083")
        self.stop_order = params.list("StopOrder", ["SMS_SITE_COMPONENT_MANAGER", "SMS_EXECUTIVE", "SMS_SITE_BACKUP"])
        self.wait = int(params.get("WaitSeconds", 120))
        self.target = f"{self.install_dir}\\bin\\{self.platform}\\Distmgr.dll"
        self.backup = self.target + params.get("BackupSuffix", ".pre-Q244405")
        self.log_name = params.get("HotfixLogName", "Q244405.log")
        self.steps: list[dict] = []
        self.fail_steps = fail_step_names(self.state)
        self.wont_stop = fault_names(self.state, "service_wont_stop")
        self.wont_start = fault_names(self.state, "service_wont_start")
        self.running: list[str] = []
        self.swapped = False
        self.original: bytes | None = None
        self.original_sha = self.original_version = None
        self.restored = False
        self.step = "precheck"

    def add(self, step: str, ok: bool, detail: str) -> None:
        self.steps.append({"step": step, "ok": ok, "detail": detail})

    def states(self) -> dict:
        return {name: service_state_of(self.state, name) for name in self.stop_order}

    def injected(self, step: str) -> None:
        if step.lower() in self.fail_steps:
            raise _StepFailed(f"lab fault injected at step '{step}'")

    # services (the lab's ServiceController)
    def stop_service(self, name: str) -> None:
        if service_state_of(self.state, name) == "stopped":
            return
        if name.lower() in self.wont_stop:
            raise _StepFailed(f"service {name} did not stop within {self.wait} seconds")
        service_record(self.state, name)["state"] = "stopped"

    def start_service(self, name: str) -> None:
        if service_state_of(self.state, name) == "running":
            return
        if name.lower() in self.wont_start:
            raise _StepFailed(f"service {name} did not start within {self.wait} seconds")
        service_record(self.state, name)["state"] = "running"

    def precheck(self) -> str | None:
        if version_fields(self.minimum) is None:
            return f"MinimumVersion '{self.minimum}' is not a version"
        if not file_exists(self.state, self.target):
            return f"{self.target} not found"
        if not file_exists(self.state, self.staged):
            return f"staged file {self.staged} not found"
        staged_sha = sha256_of(self.state, self.staged)
        if staged_sha != self.expected.lower():
            return f"staged file sha256 {staged_sha} does not match expected {self.expected}"
        staged_version = version_of(self.state, self.staged)
        if not version_at_least(staged_version, self.minimum):
            return f"staged file version {staged_version} is below {self.minimum}"
        return None

    def forward(self) -> None:
        for name in self.stop_order:
            if name not in self.running:
                continue
            self.step = f"stop:{name}"
            self.injected(self.step)
            self.stop_service(name)
            self.add(self.step, True, "stopped")

        self.step = "backup"
        self.injected(self.step)
        self.original = self.state.read_bytes(self.target)
        if file_exists(self.state, self.backup):
            same = sha256_of(self.state, self.backup) == self.original_sha
            detail = f"existing backup {self.backup} kept ({'same file' if same else 'an older file'})"
        else:
            self.state.write_bytes(self.backup, self.original)
            if sha256_of(self.state, self.backup) != self.original_sha:
                raise _StepFailed(f"backup {self.backup} does not match the original")
            detail = f"copied to {self.backup}"
        self.add("backup", True, detail)

        self.step = "swap"
        self.swapped = True
        self.injected(self.step)
        self.state.write_bytes(self.target, self.state.read_bytes(self.staged))
        self.add("swap", True, f"copied {self.staged} over {self.target}")

        self.step = "verify"
        sha = sha256_of(self.state, self.target)
        version = version_of(self.state, self.target)
        self.injected(self.step)
        if sha != self.expected.lower():
            raise _StepFailed(f"sha256 of {self.target} is {sha}, expected {self.expected}")
        if not version_at_least(version, self.minimum):
            raise _StepFailed(f"file version of {self.target} is {version}, expected at least {self.minimum}")
        self.add("verify", True, f"sha256 {sha}, version {version}")

        for name in reversed(self.stop_order):
            if name not in self.running:
                continue
            self.step = f"start:{name}"
            self.injected(self.step)
            self.start_service(name)
            self.add(self.step, True, "running")

        self.step = "verify_running"
        self.injected(self.step)
        not_running = [name for name in self.running if service_state_of(self.state, name) != "running"]
        if not_running:
            raise _StepFailed(f"not running after start: {', '.join(not_running)}")
        self.add("verify_running", True, ", ".join(self.running) if self.running else "no service was running")

        self.step = "log"
        self.injected(self.step)
        log_path = f"{self.install_dir}\\Logs\\{self.log_name}"
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        line = (f"{stamp} Q244405 Distmgr.dll ({self.platform}) replaced: {self.original_version} -> {version}, "
                f"sha256 {sha}, by sms.remediation hotfix_transaction\r\n")
        previous = self.state.read_bytes(log_path) if file_exists(self.state, log_path) else b""
        self.state.write_bytes(log_path, previous + line.encode("utf-8"))
        self.add("log", True, f"appended to {self.log_name}")

    def rollback(self) -> None:
        if self.swapped and self.original is not None:
            for name in self.stop_order:
                if name not in self.running or service_state_of(self.state, name) == "stopped":
                    continue
                try:
                    self.stop_service(name)
                    self.add(f"rollback:stop:{name}", True, "stopped")
                except _StepFailed as exc:
                    self.add(f"rollback:stop:{name}", False, str(exc))
            self.state.write_bytes(self.target, self.original)
            restored_sha = sha256_of(self.state, self.target)
            if restored_sha == self.original_sha:
                self.restored = True
                self.add("rollback:restore", True, f"original Distmgr.dll put back (sha256 {restored_sha})")
            else:
                self.add("rollback:restore", False,
                         f"restored file sha256 {restored_sha} differs from the original {self.original_sha}")
        for name in reversed(self.stop_order):
            if name not in self.running or service_state_of(self.state, name) == "running":
                continue
            try:
                self.start_service(name)
                self.add(f"rollback:start:{name}", True, "running")
            except _StepFailed as exc:
                self.add(f"rollback:start:{name}", False, str(exc))

    def run(self) -> tuple[dict, bool]:
        before = self.states()
        result = {"outcome": None, "failed_step": None, "error": None, "restored": False,
                  "services_before": before, "services_after": None, "steps": self.steps,
                  "new_version": None, "new_sha256": None}
        # Anything not stopped counts as running: stopped for the swap, started afterwards.
        self.running = [name for name in self.stop_order if before[name] is not None and before[name] != "stopped"]
        problem = self.precheck()
        if problem is not None:
            self.add("precheck", False, problem)
            result.update(outcome="failed", failed_step="precheck", error=problem)
        else:
            self.original_sha = sha256_of(self.state, self.target)
            self.original_version = version_of(self.state, self.target)
            if self.original_sha == self.expected.lower():
                self.add("precheck", True, f"{self.target} already has sha256 {self.original_sha}")
                result["outcome"] = "unchanged"
            elif self.ctx.check_mode:
                self.add("precheck", True, f"would stop {', '.join(self.running)}, back up, replace and restart")
                result["outcome"] = "would_replace"
            else:
                self.add("precheck", True, f"services running: {', '.join(self.running)}")
                try:
                    self.forward()
                    result["outcome"] = "replaced"
                except (_StepFailed, OSError, LabPathError) as exc:
                    message = str(exc) if isinstance(exc, _StepFailed) else (getattr(exc, "strerror", None) or str(exc))
                    self.add(self.step, False, message)
                    result.update(outcome="failed", failed_step=self.step, error=message)
                    self.rollback()
                result["restored"] = self.restored
        result["services_after"] = self.states()
        if file_exists(self.state, self.target):
            result["new_sha256"] = sha256_of(self.state, self.target)
            result["new_version"] = version_of(self.state, self.target)
        changed = result["outcome"] in ("replaced", "would_replace") or (
            result["outcome"] == "failed" and result["failed_step"] != "precheck")
        return result, changed


@script("hotfix_transaction")
def hotfix_transaction(ctx: HostContext, parameters: dict) -> tuple[dict, bool]:
    """sms_hotfix_transaction.ps1: stop -> backup -> swap -> verify -> start, with rollback."""
    with ctx.state.lock:
        return _Hotfix(ctx, Params(parameters)).run()
