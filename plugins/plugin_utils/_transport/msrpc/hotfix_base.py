# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What both modes of the msrpc hotfix transaction share (private to this collection): paths, the step list,
service and file helpers, the journal on the host. ``hotfix`` (Mode Apply) and ``hotfix_recover`` (Mode
Recover) build on it."""

from __future__ import annotations

import hashlib
import ntpath
import re
import time
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
    if isinstance(exc, (TransportError, StepFailed)):
        return exc.message if isinstance(exc, TransportError) else str(exc)
    return f"{type(exc).__name__}: {exc}"      # not a failure this code expects (a bug, an impacket error)


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
            if name not in running or self._is_running(name, strict):
                continue
            if strict:
                self.step = f"{prefix}{name}"
                self.services.start(name, self.wait, OPERATION)
                self.done(self.step, "running")
                continue
            try:
                self.services.start(name, self.wait, OPERATION)
                self.add(f"{prefix}{name}", True, "running")
            except Exception as exc:  # pylint: disable=broad-exception-caught  # try the next one whatever this was
                self.add(f"{prefix}{name}", False, _message(exc))

    def _is_running(self, name: str, strict: bool) -> bool:
        """``strict``: the state as asked; else an unreadable state counts as not running (start it)."""
        if strict:
            return self.state(name) == "running"
        try:
            return self.state(name) == "running"
        except Exception:  # pylint: disable=broad-exception-caught
            return False

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

    def remove_journal(self) -> None:
        """A clean end: the temporaries and the journal. Every backup stays: it is the only way back to the
        replaced DLL (``KeepBackups`` prunes older ones on request)."""
        for path in (self.new, self.old, self.journal_path + ".tmp", self.journal_path):
            if self.exists(path):
                self.files.delete(path, OPERATION)
        self.journal = None

    def _reconnect_if_dropped(self) -> None:
        try:
            self.states(self.order)
        except Exception as exc:  # pylint: disable=broad-exception-caught
            reconnect = getattr(self.host, "reconnect", None)
            if reconnect is None:
                return
            try:
                reconnect()
                self.files, self.services = self.host.files, self.host.services
                self.add("rollback:reconnect", True, f"the session was lost ({_message(exc)}): connected again")
            except Exception as again:  # pylint: disable=broad-exception-caught
                self.add("rollback:reconnect", False, _message(again))

    def finish(self, result: dict, order) -> dict:
        try:
            result["services_after"] = self.states(order)
        except TransportError:              # dropped after the last step: once more on a new session
            self._reconnect_if_dropped()
            result["services_after"] = self.states(order)
        if self.exists(self.target):
            result["new_sha256"], result["new_version"] = self.digest(self.target)
        return result
