"""The simulated state of one SMS 2.0 site server, kept in a folder a person can read.

``host.json`` holds registry, services, processes, WMI and faults; ``fs/`` holds the files, with a
Windows path ``C:\\A\\B`` stored at ``fs/C/A/B``. Windows paths are case-insensitive, so lookups
match each path component without regard to case.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path

_VERSION_MARKER = re.compile(rb"FileVersion=(\d+(?:\.\d+){1,3})")


class LabPathError(ValueError):
    """A Windows path the lab cannot map (not absolute, or escaping the drive)."""


def dll_bytes(file_version: str | None, size: int = 4096) -> bytes:
    """Bytes of a simulated PE file whose version resource says ``file_version`` (None: no resource)."""
    body = b"MZ\x90\x00SMS-LAB-PE\n"
    if file_version is not None:
        body += b"FileVersion=" + file_version.encode("ascii") + b"\n"
    return body + b"\x00" * max(0, size - len(body))


def file_version_of(data: bytes) -> str | None:
    match = _VERSION_MARKER.search(data[:4096])
    return match.group(1).decode("ascii") if match else None


def split_windows_path(path: str) -> tuple[str, list[str]]:
    """``C:\\SMS\\bin`` -> (``C``, [``SMS``, ``bin``]); refuses relative paths and ``..``."""
    normalised = path.replace("/", "\\")
    match = re.match(r"^([A-Za-z]):(?:\\(.*))?$", normalised)
    if not match:
        raise LabPathError(f"not an absolute Windows path: {path!r}")
    parts = [p for p in (match.group(2) or "").split("\\") if p not in ("", ".")]
    if ".." in parts:
        raise LabPathError(f"path escapes its folder: {path!r}")
    return match.group(1).upper(), parts


@dataclass
class HostState:
    """One simulated site server. All mutation goes through methods so they can be locked."""

    root: Path                      # D/hosts/<name>
    data: dict = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    # ---- persistence -------------------------------------------------------------------
    @classmethod
    def load(cls, root: Path) -> "HostState":
        root = Path(root)
        with open(root / "host.json", encoding="utf-8") as handle:
            return cls(root=root, data=json.load(handle))

    def save(self) -> None:
        with self.lock:
            tmp = self.root / "host.json.tmp"
            with open(tmp, "w", encoding="utf-8") as handle:
                json.dump(self.data, handle, indent=2, sort_keys=True)
                handle.write("\n")
            os.replace(tmp, self.root / "host.json")

    @property
    def name(self) -> str:
        return self.data["name"]

    @property
    def fs_root(self) -> Path:
        return self.root / "fs"

    # ---- files -------------------------------------------------------------------------
    def local_path(self, windows_path: str, must_exist: bool = False) -> Path:
        """Map a Windows path to the lab file, matching each component case-insensitively."""
        drive, parts = split_windows_path(windows_path)
        current = self.fs_root / drive
        for part in parts:
            candidate = current / part
            if not candidate.exists() and current.is_dir():
                for entry in os.listdir(current):
                    if entry.lower() == part.lower():
                        candidate = current / entry
                        break
            current = candidate
        if must_exist and not current.exists():
            raise FileNotFoundError(windows_path)
        return current

    def exists(self, windows_path: str) -> bool:
        return self.local_path(windows_path).exists()

    def is_dir(self, windows_path: str) -> bool:
        return self.local_path(windows_path).is_dir()

    def read_bytes(self, windows_path: str) -> bytes:
        return self.local_path(windows_path, must_exist=True).read_bytes()

    def write_bytes(self, windows_path: str, data: bytes) -> None:
        with self.lock:
            target = self.local_path(windows_path)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)

    def makedirs(self, windows_path: str) -> None:
        with self.lock:
            self.local_path(windows_path).mkdir(parents=True, exist_ok=True)

    def remove(self, windows_path: str) -> None:
        with self.lock:
            target = self.local_path(windows_path, must_exist=True)
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            else:
                target.unlink()

    def move(self, source: str, dest: str) -> None:
        with self.lock:
            src = self.local_path(source, must_exist=True)
            dst = self.local_path(dest)
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, dst)

    def listdir(self, windows_path: str) -> list[str]:
        target = self.local_path(windows_path)
        return sorted(os.listdir(target)) if target.is_dir() else []

    def sha256(self, windows_path: str) -> str:
        return hashlib.sha256(self.read_bytes(windows_path)).hexdigest()

    def sha1(self, windows_path: str) -> str:
        return hashlib.sha1(self.read_bytes(windows_path)).hexdigest()

    def file_version(self, windows_path: str) -> str | None:
        return file_version_of(self.read_bytes(windows_path))

    def is_reparse_point(self, windows_path: str) -> bool:
        """A symlink in the lab folder stands for an NTFS junction / symbolic link."""
        return self.local_path(windows_path).is_symlink()

    # ---- registry, services, processes, WMI --------------------------------------------
    def registry_key(self, key: str) -> dict | None:
        """``HKLM\\SOFTWARE\\Microsoft\\SMS\\Setup`` (``HKLM:`` accepted) -> its values, or None."""
        wanted = key.replace("HKLM:", "HKLM").rstrip("\\").lower()
        for name, values in self.data.get("registry", {}).items():
            if name.lower() == wanted:
                return values
        return None

    def set_registry_value(self, key: str, value_name: str, value) -> None:
        with self.lock:
            wanted = key.replace("HKLM:", "HKLM").rstrip("\\")
            registry = self.data.setdefault("registry", {})
            for name in registry:
                if name.lower() == wanted.lower():
                    registry[name][value_name] = value
                    return
            registry[wanted] = {value_name: value}

    @property
    def services(self) -> dict:
        """name -> {"state": running|stopped, "start_mode": auto|manual|disabled, "path": str}."""
        return self.data.setdefault("services", {})

    @property
    def processes(self) -> list:
        """[{"name": "mmc.exe", "command_line": "..."}]: an open SMS console is an mmc with sms.msc."""
        return self.data.setdefault("processes", [])

    @property
    def wmi(self) -> dict:
        """{"available": bool, "site": {SMS_Site props}, "packages": [{PackageID, ActionInProgress, SourceSite}]}."""
        return self.data.setdefault("wmi", {"available": True, "site": None, "packages": []})

    @property
    def faults(self) -> dict:
        """Injected faults, see scenario docs: e.g. {"service_wont_stop": "SMS_EXECUTIVE"}."""
        return self.data.setdefault("faults", {})

    @property
    def environment(self) -> dict:
        """Environment variables (PROCESSOR_ARCHITECTURE, COMPUTERNAME, TEMP)."""
        return self.data.setdefault("environment", {})
