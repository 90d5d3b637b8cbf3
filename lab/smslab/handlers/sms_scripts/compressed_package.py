"""Twin of sms_compressed_package.ps1: remove, quarantine, restore."""

from __future__ import annotations

import json
import ntpath
import re

from smslab.handlers import HostContext, ScriptError, script
from smslab.handlers.dotnet_regex import DotnetRegexError, compile_dotnet
from smslab.state import LabPathError
from smslab.handlers.sms_scripts.common import (
    file_exists,
    sha256_of,
    wmi_namespace_error,
)
from smslab.handlers.sms_scripts.dotnet_io import DotnetException, file_replace

DRIVE_ABSOLUTE = re.compile(r"^[A-Za-z]:\\")
# What Write-Manifest passes as File.Replace's backup path: [NullString]::Value, no backup.
NULL_STRING = None
CHANGING = {"removed", "quarantined", "restored"}
WOULD = {"would_remove", "would_quarantine", "would_restore"}


def _full_path(path: str) -> str:
    """[System.IO.Path]::GetFullPath for a drive-absolute path: resolves '.' and '..'."""
    return ntpath.normpath(path.replace("/", "\\"))


def _ps_string(value) -> str:
    """PowerShell's [string] cast of a JSON value: [string]$null is ''."""
    return "" if value is None else str(value)


def _full_folder(path: str) -> str:
    """[IO.Path]::GetFullPath without the trailing backslash, except for a drive root (D:\\)."""
    full = _full_path(path)
    return full.rstrip("\\") if len(full) > 3 else full


class _PackageJob:
    def __init__(self, ctx: HostContext, params: dict):
        # bound to the script's param() block (ps_binding): Mode is in its ValidateSet, strings are never None
        self.ctx = ctx
        self.state = ctx.state
        self.mode = params["Mode"].lower()
        self.quarantine_dir = params["QuarantineDir"]
        if self.mode != "absent":
            if not self.quarantine_dir:
                raise ScriptError(f"QuarantineDir is required for Mode {params['Mode']}")
            if not DRIVE_ABSOLUTE.match(self.quarantine_dir):
                raise ScriptError(f"QuarantineDir must be a drive-absolute path (X:\\...), got '{self.quarantine_dir}'")
            self.quarantine_dir = _full_folder(self.quarantine_dir)
        self.folders = [_full_path(f).rstrip("\\") for f in params["PackageFolders"] or [] if f]
        try:
            compile_dotnet(params["IdPattern"])                          # [regex]::new($IdPattern)
            self.id_pattern = compile_dotnet(params["IdPattern"], ignore_case=True)   # -notmatch
        except DotnetRegexError as exc:
            raise ScriptError(f"invalid IdPattern: {exc}") from None
        self.namespace = params["ActiveNamespace"] or None
        self.items = params["Items"] or []
        self.manifest_path = None if self.mode == "absent" else self.quarantine_dir.rstrip("\\") + "\\manifest.json"
        self.active: dict | None = None
        self.active_error: str | None = None
        if self.namespace:
            self.active_error = wmi_namespace_error(self.state, self.namespace)
            if self.active_error is None:
                self.active = {str(p.get("PackageID", "")).upper(): p.get("ActionInProgress")
                               for p in self.state.wmi.get("packages") or []}

    # checks
    def refusal(self, package_id: str, target: str) -> str | None:
        name = ntpath.basename(target)
        if not self.id_pattern.search(name):
            return f"file name '{name}' does not match the package ID pattern"
        if ntpath.splitext(name)[0].lower() != package_id.lower():
            return f"file name '{name}' does not carry the package ID {package_id}"
        resolved = _full_path(target)
        parent = ntpath.dirname(resolved).rstrip("\\")
        if not any(parent.lower() == folder.lower() for folder in self.folders):
            return (f"resolved path {resolved} is not directly inside a package folder "
                    f"({', '.join(self.folders)})")
        if self.state.is_dir(parent) and self.state.is_reparse_point(parent):
            return f"package folder {parent} is a reparse point"
        if self.active_error is not None:
            return f"cannot re-check active packages: {self.active_error}"
        if self.active is not None and package_id.upper() in self.active:
            return (f"package {package_id} is active in {self.namespace} "
                    f"(ActionInProgress={self.active[package_id.upper()]})")
        return None

    def not_regular(self, path: str) -> str | None:
        if self.state.is_dir(path) and not self.state.is_reparse_point(path):
            return "not a file"
        if self.state.is_reparse_point(path):
            return f"{path} is a reparse point"
        return None

    def present(self, path: str) -> bool:
        local = self.state.local_path(path)
        return local.exists() or local.is_symlink()

    # manifest
    def read_manifest(self) -> list[dict]:
        if not file_exists(self.state, self.manifest_path):
            return []
        text = self.state.read_bytes(self.manifest_path).decode("utf-8-sig")
        if not text.strip():
            return []
        data = json.loads(text)
        entries = data if isinstance(data, list) else [data]
        return [{"id": _ps_string(e.get("id")), "original_path": _ps_string(e.get("original_path")),
                 "quarantine_path": _ps_string(e.get("quarantine_path")), "sha256": _ps_string(e.get("sha256")),
                 "size": int(e.get("size") or 0), "origin_site": _ps_string(e.get("origin_site"))} for e in entries]

    def write_manifest(self, entries: list[dict]) -> None:
        """Write-Manifest: written beside, then swapped in with File.Replace (or moved, the first time)."""
        temporary = self.manifest_path + ".tmp"
        self.state.write_bytes(temporary, json.dumps(entries, indent=4).encode("utf-8"))
        if file_exists(self.state, self.manifest_path):
            file_replace(self.state, temporary, self.manifest_path, NULL_STRING)
        else:
            self.state.move(temporary, self.manifest_path)

    # actions
    def remove(self, result: dict) -> None:
        path = result["path"]
        result["size"] = self.state.local_path(path).stat().st_size
        result["sha256"] = sha256_of(self.state, path)
        if self.ctx.check_mode:
            result["outcome"] = "would_remove"
            return
        self.state.remove(path)
        result["outcome"] = "removed"

    def quarantine(self, result: dict) -> None:
        path = result["path"]
        target = self.quarantine_dir.rstrip("\\") + "\\" + result["id"] + ".PCK"
        if self.present(target):
            result["outcome"], result["reason"] = "refused", f"quarantine already holds {target}"
            return
        result["size"] = self.state.local_path(path).stat().st_size
        result["sha256"] = sha256_of(self.state, path)
        if self.ctx.check_mode:
            result["outcome"] = "would_quarantine"
            return
        self.state.makedirs(self.quarantine_dir)
        self.state.move(path, target)
        try:
            entries = self.read_manifest()
            entries.append({"id": result["id"], "original_path": path, "quarantine_path": target,
                            "sha256": result["sha256"], "size": result["size"],
                            "origin_site": result["id"][:3].upper()})
            self.write_manifest(entries)
        except Exception:
            self.state.move(target, path)       # without a manifest entry it could never come back
            raise
        result["outcome"] = "quarantined"

    @staticmethod
    def manifest_entry(entries: list[dict], package_id: str) -> dict | None:
        """Find-ManifestEntry: the latest entry for ``package_id`` (case-insensitive), or None."""
        entry = None
        for candidate in entries:
            if candidate["id"].lower() == package_id.lower():
                entry = candidate                # the latest one wins
        return entry

    def restore(self, result: dict) -> None:
        path = result["path"]
        entries = self.read_manifest()
        entry = self.manifest_entry(entries, result["id"])
        source = entry["quarantine_path"] if entry else self.quarantine_dir.rstrip("\\") + "\\" + result["id"] + ".PCK"
        if not file_exists(self.state, source) and not self.state.local_path(source).is_symlink():
            result["outcome"], result["reason"] = "missing", f"{source} not found in quarantine"
            return
        if entry is None:
            result["outcome"], result["reason"] = "refused", f"no manifest entry for {result['id']} in {self.manifest_path}"
            return
        problem = self.not_regular(source)
        if problem:
            result["outcome"], result["reason"] = "refused", problem
            return
        if self.present(_full_path(path)):
            result["outcome"], result["reason"] = "refused", f"restore target {path} already exists"
            return
        result["size"] = self.state.local_path(source).stat().st_size
        result["sha256"] = sha256_of(self.state, source)
        if result["sha256"] != entry["sha256"].lower():
            result["outcome"] = "refused"
            result["reason"] = f"sha256 of {source} is {result['sha256']}, manifest says {entry['sha256']}"
            return
        if self.ctx.check_mode:
            result["outcome"] = "would_restore"
            return
        self.state.move(source, _full_path(path))
        entries.remove(entry)
        self.write_manifest(entries)
        result["outcome"] = "restored"

    def run_item(self, item) -> dict:
        item = item if isinstance(item, dict) else {}
        lowered = {str(k).lower(): v for k, v in item.items()}
        package_id = str(lowered.get("id") or "")
        path = str(lowered.get("path") or "")
        result = {"id": package_id, "path": path, "outcome": None, "reason": None, "sha256": None, "size": None}
        try:
            if self.mode == "restored" and package_id and not path:
                # The target comes from the manifest (original_path) and passes every check below,
                # as a given path would. Without an entry restore() answers (missing or refused).
                entry = self.manifest_entry(self.read_manifest(), package_id)
                if entry is None:
                    self.restore(result)
                    return result
                path = result["path"] = entry["original_path"]
            if not package_id or not re.match(r"^[A-Za-z]:\\", path):
                result["outcome"], result["reason"] = "refused", "item needs an id and an absolute path (X:\\...)"
                return result
            result["reason"] = self.refusal(package_id, path)
            if result["reason"] is not None:
                result["outcome"] = "refused"
                return result
            if self.mode == "restored":
                self.restore(result)
                return result
            resolved = _full_path(path)
            if not self.present(resolved):
                result["outcome"] = "missing"
                return result
            result["reason"] = self.not_regular(resolved)
            if result["reason"] is not None:
                result["outcome"] = "refused"
                return result
            # act on the resolved path (the lab cannot map '..'), report the given one
            acting = dict(result, path=resolved)
            (self.remove if self.mode == "absent" else self.quarantine)(acting)
            result.update({k: v for k, v in acting.items() if k != "path"})
        # ValueError: an unreadable manifest.json; the script's ConvertFrom-Json throws and the item is refused.
        except (OSError, LabPathError, ValueError, DotnetException) as exc:
            result["outcome"], result["reason"] = "refused", f"error: {getattr(exc, 'strerror', None) or exc}"
        return result

    def run(self) -> tuple[dict, bool]:
        results = [self.run_item(item) for item in self.items]
        changed = any(r["outcome"] in CHANGING | WOULD for r in results)
        return {"items": results, "manifest": self.manifest_path}, changed


@script("compressed_package")
def compressed_package(ctx: HostContext, parameters: dict) -> tuple[dict, bool]:
    """sms_compressed_package.ps1: remove / quarantine / restore with per-item refusals."""
    return _PackageJob(ctx, parameters).run()
