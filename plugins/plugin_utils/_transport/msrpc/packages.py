# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Remove, quarantine or restore .PCK files over SMB (private to this collection): sms_compressed_package.ps1 driven from the controller.

The same contract as the script (docs/internals.md section 2), check by check and message by message:
every item is re-checked just before acting, and refused with its reason when it is not provably a
plain file directly inside one of PackageFolders whose name matches IdPattern and carries its ID, or
when its package is active now (or the active list cannot be read). The quarantine manifest is the
script's: ``<QuarantineDir>\\manifest.json``, a JSON list of ``{id, original_path, quarantine_path,
sha256, size, origin_site}``, written beside and swapped in. A move is an SMB rename, so the quarantine
folder must be on the same drive as the package folder: another drive refuses the item before anything is read,
created or moved, in check mode too, naming the host (``decision.quarantine_drive_refusal``; PowerShell's move
on the winrm path copies across drives).
In check mode nothing is written: outcomes are ``would_remove`` / ``would_quarantine`` / ``would_restore``."""

from __future__ import annotations

import json
import ntpath
import re

from ansible_collections.sms.remediation.plugins.module_utils.decision import quarantine_drive_refusal
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.base import TransportError
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc import wmi_hook
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.params import PACKAGE_DEFAULTS, Params
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.regex import compile_script_regex

OPERATION = "compressed_package"
MANIFEST_NAME = "manifest.json"
MAX_MANIFEST_BYTES = 16 * 1024 * 1024
_DRIVE_ABSOLUTE = re.compile(r"^[A-Za-z]:\\")
_CHANGED = ("removed", "quarantined", "restored", "would_remove", "would_quarantine", "would_restore")


class _Refused(Exception):
    """An item is refused (outcome ``refused`` with this reason)."""


def full_path(path: str) -> str:
    """[System.IO.Path]::GetFullPath for a drive-absolute path: ``.``/``..`` resolved, no trailing ``\\``."""
    return ntpath.normpath(path).rstrip("\\")


def site_code_of(namespace: str) -> str | None:
    match = re.search(r"\\site_([A-Za-z0-9]{3})$", namespace or "", re.IGNORECASE)
    return match.group(1) if match else None


class _Packages:
    def __init__(self, host, parameters: dict, check_mode: bool):
        self.host = host
        self.files = host.files
        self.check_mode = check_mode
        p = Params(parameters, PACKAGE_DEFAULTS)
        self.mode = p.text("Mode")
        if self.mode not in ("absent", "quarantined", "restored"):
            raise host.session.error(OPERATION, f"Mode {self.mode!r}: expected absent, quarantined or restored")
        self.quarantine_dir = p.text("QuarantineDir")
        if self.mode != "absent" and not self.quarantine_dir:
            raise host.session.error(OPERATION, f"QuarantineDir is required for Mode {self.mode}")
        try:
            self.id_pattern = compile_script_regex(p.text("IdPattern"))
        except re.error as exc:
            raise host.session.error(OPERATION, f"invalid IdPattern: {exc}") from None
        self.items = p.list("Items")
        self.allowed = [full_path(str(f)) for f in p.list("PackageFolders") if f]
        self.manifest_path = None if self.mode == "absent" else ntpath.join(self.quarantine_dir, MANIFEST_NAME)
        self.namespace = p.text("ActiveNamespace") or None
        self.timeout = int(p.get("WmiTimeoutSeconds") or PACKAGE_DEFAULTS["WmiTimeoutSeconds"])
        self.active, self.active_error = None, None

    # ---- active packages, re-checked now ---------------------------------------------------------
    def load_active(self) -> None:
        if not self.namespace:
            return
        wmi = wmi_hook.wmi_module()
        if wmi is None:
            self.active_error = f"WMI namespace {self.namespace} unavailable: {wmi_hook.NOT_YET}"
            return
        answer = wmi.active_packages(self.host.session, site_code_of(self.namespace), self.timeout)
        if not answer.get("available"):
            self.active_error = answer.get("error") or f"WMI namespace {self.namespace} unavailable"
            return
        self.active = {str(row.get("PackageID", "")).upper(): row.get("ActionInProgress")
                       for row in answer.get("packages") or []}

    # ---- the manifest ------------------------------------------------------------------------
    def read_manifest(self) -> list:
        """The entries of the newest complete manifest: a cut during an update leaves up to three files
        (``write_manifest``): the new one as ``.tmp`` (complete once it parses), the current one, the previous
        one as ``.bak``. The newest that parses wins; nothing is repaired here (check mode writes nothing),
        the next update cleans up."""
        for path in (self.manifest_path + ".tmp", self.manifest_path, self.manifest_path + ".bak"):
            entries = self._manifest_at(path, cut_short_ok=path.endswith(".tmp"))
            if entries is not None:
                return entries
        return []

    def _manifest_at(self, path: str, cut_short_ok: bool) -> list | None:
        """The entries in ``path``, None when it is not there. A ``.tmp`` that does not parse was cut short
        while written (None: an older complete one follows); any other file that does not parse is an error."""
        if self.files.stat(path, OPERATION) is None:
            return None
        try:
            text = self.files.read_all(path, OPERATION, MAX_MANIFEST_BYTES).decode("utf-8-sig")
            data = json.loads(text) if text.strip() else []
        except ValueError:
            if cut_short_ok:
                return None
            raise
        rows = data if isinstance(data, list) else [data]
        return [{"id": str(r.get("id") or ""), "original_path": str(r.get("original_path") or ""),
                 "quarantine_path": str(r.get("quarantine_path") or ""), "sha256": str(r.get("sha256") or ""),
                 "size": int(r.get("size") or 0), "origin_site": str(r.get("origin_site") or "")} for r in rows]

    def write_manifest(self, entries: list) -> None:
        """Never without a complete manifest on the host: the new one is written as ``.tmp``, the current one
        renamed to ``.bak``, ``.tmp`` renamed into place, then ``.bak`` deleted. A cut between any two of these
        leaves the newest complete one for ``read_manifest``. (Deleting the old one before the rename, as
        before, left no manifest at all after a cut there.)"""
        text = json.dumps(entries, indent=4)
        temporary, backup = self.manifest_path + ".tmp", self.manifest_path + ".bak"
        self.files.write_bytes(temporary, text.encode("utf-8"), OPERATION)
        if self.files.exists(self.manifest_path, OPERATION):
            if self.files.exists(backup, OPERATION):       # older than the manifest: left by an earlier cut
                self.files.delete(backup, OPERATION)
            self.files.rename(self.manifest_path, backup, OPERATION)
        self.files.rename(temporary, self.manifest_path, OPERATION)
        if self.files.exists(backup, OPERATION):
            self.files.delete(backup, OPERATION)

    @staticmethod
    def find_entry(entries: list, package_id: str) -> dict | None:
        found = None
        for entry in entries:
            if entry["id"].lower() == package_id.lower():
                found = entry             # the latest one wins
        return found

    # ---- per-item checks ---------------------------------------------------------------------
    def refusal(self, package_id: str, target: str) -> str | None:
        name = ntpath.basename(target)
        if not self.id_pattern.search(name):
            return f"file name '{name}' does not match the package ID pattern"
        if ntpath.splitext(name)[0].lower() != package_id.lower():
            return f"file name '{name}' does not carry the package ID {package_id}"
        resolved = ntpath.normpath(target)
        parent = ntpath.dirname(resolved).rstrip("\\")
        if not any(parent.lower() == folder.lower() for folder in self.allowed):
            return f"resolved path {resolved} is not directly inside a package folder ({', '.join(self.allowed)})"
        folder = self.files.stat(parent, OPERATION)
        if folder is not None and folder.directory and folder.reparse_point:
            return f"package folder {parent} is a reparse point"
        if self.active_error is not None:
            return f"cannot re-check active packages: {self.active_error}"
        if self.active is not None and package_id.upper() in self.active:
            action = self.active[package_id.upper()]
            state = "unknown: the provider has no such property" if action is None else action
            return f"package {package_id} is active in {self.namespace} (ActionInProgress={state})"
        return None

    def not_plain(self, path: str, info) -> str | None:
        if info.directory:
            return "not a file"
        if info.reparse_point:
            return f"{path} is a reparse point"
        return None

    def same_drive(self, path: str, quarantine_dir: str) -> None:
        reason = quarantine_drive_refusal(self.host.session.host, "msrpc", path, quarantine_dir)
        if reason:
            raise _Refused(reason)

    # ---- the three actions -------------------------------------------------------------------
    def remove(self, result: dict, info) -> None:
        path = result["path"]
        result["sha256"], result["size"] = self.files.sha256(path, OPERATION)
        if self.check_mode:
            result["outcome"] = "would_remove"
            return
        self.files.delete(path, OPERATION)
        result["outcome"] = "removed"

    def quarantine(self, result: dict, info) -> None:
        path = result["path"]
        target = ntpath.join(self.quarantine_dir, result["id"] + ".PCK")
        self.same_drive(path, self.quarantine_dir)
        if self.files.exists(target, OPERATION):
            raise _Refused(f"quarantine already holds {target}")
        result["sha256"], result["size"] = self.files.sha256(path, OPERATION)
        if self.check_mode:
            result["outcome"] = "would_quarantine"
            return
        self.files.make_dirs(self.quarantine_dir, OPERATION)
        # The entry first, then the move: a cut between them leaves an entry whose file was not moved (its
        # restore says so), never a quarantined file without an entry (it could never be restored).
        entries = self.read_manifest()
        entry = {"id": result["id"], "original_path": ntpath.normpath(path), "quarantine_path": target,
                 "sha256": result["sha256"], "size": result["size"], "origin_site": result["id"][:3].upper()}
        self.write_manifest(entries + [entry])
        try:
            self.files.rename(path, target, OPERATION)
        except TransportError:
            try:                        # the file stayed where it was: its entry goes again
                self.write_manifest(entries)
            except TransportError:
                pass                    # a stale entry only: its restore reports the file missing
            raise
        result["outcome"] = "quarantined"

    def restore(self, result: dict) -> None:
        path = result["path"]
        entries = self.read_manifest()
        entry = self.find_entry(entries, result["id"])
        source = entry["quarantine_path"] if entry else ntpath.join(self.quarantine_dir, result["id"] + ".PCK")
        self.same_drive(path, ntpath.dirname(source))
        source_info = self.files.stat(source, OPERATION)
        if source_info is None:
            result.update(outcome="missing", reason=f"{source} not found in quarantine")
            return
        if entry is None:
            raise _Refused(f"no manifest entry for {result['id']} in {self.manifest_path}")
        reason = self.not_plain(source, source_info)
        if reason:
            raise _Refused(reason)
        if self.files.exists(path, OPERATION):
            raise _Refused(f"restore target {path} already exists")
        result["sha256"], result["size"] = self.files.sha256(source, OPERATION)
        if result["sha256"] != entry["sha256"].lower():
            raise _Refused(f"sha256 of {source} is {result['sha256']}, manifest says {entry['sha256']}")
        if self.check_mode:
            result["outcome"] = "would_restore"
            return
        self.files.rename(source, path, OPERATION)
        entries.remove(entry)
        self.write_manifest(entries)
        result["outcome"] = "restored"

    def item(self, item) -> dict:
        item = item if isinstance(item, dict) else {}
        package_id = str(item.get("id") or "")
        path = str(item.get("path") or "")
        result = {"id": package_id, "path": path, "outcome": None, "reason": None, "sha256": None, "size": None}
        try:
            if self.mode == "restored" and package_id and not path:
                entry = self.find_entry(self.read_manifest(), package_id)
                if entry is None:
                    self.restore(result)
                    return result
                path = result["path"] = entry["original_path"]
            if not package_id or not _DRIVE_ABSOLUTE.match(path):
                raise _Refused("item needs an id and an absolute path (X:\\...)")
            reason = self.refusal(package_id, path)
            if reason:
                raise _Refused(reason)
            if self.mode == "restored":
                self.restore(result)
                return result
            info = self.files.stat(path, OPERATION)
            if info is None:
                result["outcome"] = "missing"
                return result
            reason = self.not_plain(path, info)
            if reason:
                raise _Refused(reason)
            (self.remove if self.mode == "absent" else self.quarantine)(result, info)
        except _Refused as refused:
            result.update(outcome="refused", reason=str(refused))
        except TransportError as exc:
            # An I/O error on one item (file in use, access denied) refuses that item only.
            result.update(outcome="refused", reason=f"error: {exc.message}")
        except (ValueError, TypeError) as exc:  # an unreadable manifest
            result.update(outcome="refused", reason=f"error: {exc}")
        return result

    def run(self) -> dict:
        self.host.session.smb     # connect and log on first: an unreachable host fails the task
        self.load_active()
        results = [self.item(item) for item in self.items]
        return {"items": results, "manifest": self.manifest_path,
                "changed": any(r["outcome"] in _CHANGED for r in results)}


def act_on_packages(host, parameters: dict, check_mode: bool) -> dict:
    return _Packages(host, parameters, check_mode).run()
