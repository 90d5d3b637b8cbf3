"""The simulated state of one SMS 2.0 site server, kept in a folder a person can read.

``host.json`` holds registry, services, processes, WMI and faults; ``fs/`` holds the files, with a
Windows path ``C:\\A\\B`` stored at ``fs/C/A/B``. Windows paths are case-insensitive, so lookups
match each path component without regard to case.

Big files are not written once per host. ``host.json`` ``generated_files`` maps a Windows path to
``{"append": "logs/<seed>-<size>.log", "size": <bytes>}``: the host sees the file ``fs/...`` (its own
small part) followed by ``<state_dir>/shared/<append>``, one file shared by every host with the same
content. Read such files through ``open_read`` / ``read_bytes`` / ``file_size`` / ``sha1``; writing,
removing or moving the path drops the shared part (the host then has a plain file).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path

from smslab.pe import pe_image, version_of


class LabPathError(ValueError):
    """A Windows path the lab cannot map (not absolute, or escaping the drive)."""


def dll_bytes(file_version: str | None, size: int = 4096, machine: str = "i386", corrupt: bool = False) -> bytes:
    """A real PE32 DLL of ``size`` bytes whose version resource says ``file_version`` (None: no
    resource; ``corrupt``: a damaged one); ``machine`` i386 or alpha. See smslab.pe."""
    return pe_image(file_version, size, machine=machine, corrupt=corrupt)


def file_version_of(data: bytes) -> str | None:
    """The version from a PE image's version resource (the first 2 KB are enough for lab images)."""
    return version_of(data)


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


def path_key(windows_path: str) -> str:
    """The case-insensitive identity of a Windows path: ``c:\\sms\\logs\\distmgr.log``."""
    drive, parts = split_windows_path(windows_path)
    return (f"{drive}:\\" + "\\".join(parts)).lower()


def tree_digest(folder: Path) -> str:
    """One sha256 over every path below ``folder``, each link's target and each file's content: an equal
    digest means nothing there was added, removed, relinked or rewritten (what check mode promises)."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        digest.update(str(path.relative_to(folder)).encode())
        if path.is_symlink():
            digest.update(b"->" + os.readlink(path).encode())
        elif path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


class ChainedReader(io.RawIOBase):
    """Read-only, seekable view of several local files one after the other."""

    def __init__(self, paths: list[Path]):
        super().__init__()
        self._parts = []
        start = 0
        for path in paths:
            size = os.stat(path).st_size
            self._parts.append((start, size, path))
            start += size
        self._size = start
        self._pos = 0
        self._index = -1
        self._handle = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer) -> int:
        view = memoryview(buffer).cast("B")
        for index, (start, size, path) in enumerate(self._parts):
            if start <= self._pos < start + size:
                if index != self._index:
                    if self._handle is not None:
                        self._handle.close()
                    self._handle, self._index = open(path, "rb"), index     # pylint: disable=consider-using-with
                self._handle.seek(self._pos - start)
                count = self._handle.readinto(view[: min(len(view), start + size - self._pos)])
                self._pos += count
                return count
        return 0

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        super().close()


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

    # ---- generated files: the host's own part + a part shared by hosts --------------------
    @property
    def shared_root(self) -> Path:
        """``<state_dir>/shared``: content shared by hosts (big generated logs)."""
        return self.root.parent.parent / "shared"

    def generated(self, windows_path: str) -> dict | None:
        files = self.data.get("generated_files")
        if not files:
            return None
        wanted = path_key(windows_path)
        for key, spec in files.items():
            if path_key(key) == wanted:
                return spec
        return None

    def _forget_generated(self, windows_path: str) -> dict | None:
        files = self.data.get("generated_files")
        if not files:
            return None
        wanted = path_key(windows_path)
        for key in list(files):
            if path_key(key) == wanted:
                spec = files.pop(key)
                if not files:
                    del self.data["generated_files"]
                return spec
        return None

    def file_parts(self, windows_path: str) -> list[Path]:
        """The local files whose concatenation is the host's file (one for a plain file)."""
        local = self.local_path(windows_path, must_exist=True)
        spec = self.generated(windows_path) if local.is_file() else None
        if spec is None:
            return [local]
        return [local, self.shared_root / spec["append"]]

    def file_size(self, windows_path: str) -> int:
        return sum(os.stat(part).st_size for part in self.file_parts(windows_path))

    def open_read(self, windows_path: str, buffering: int = 1 << 20):
        """A buffered binary stream over the whole file (generated parts included)."""
        parts = self.file_parts(windows_path)
        if len(parts) == 1:
            return open(parts[0], "rb", buffering=buffering)        # pylint: disable=consider-using-with
        return io.BufferedReader(ChainedReader(parts), buffer_size=buffering)

    def read_bytes(self, windows_path: str) -> bytes:
        parts = self.file_parts(windows_path)
        if len(parts) == 1:
            return parts[0].read_bytes()
        with self.open_read(windows_path) as handle:
            return handle.read()

    def write_bytes(self, windows_path: str, data: bytes) -> None:
        with self.lock:
            self._forget_generated(windows_path)
            target = self.local_path(windows_path)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)

    def makedirs(self, windows_path: str) -> None:
        with self.lock:
            self.local_path(windows_path).mkdir(parents=True, exist_ok=True)

    def remove(self, windows_path: str) -> None:
        with self.lock:
            target = self.local_path(windows_path, must_exist=True)
            self._forget_generated(windows_path)
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
            self._forget_generated(dest)
            spec = self._forget_generated(source)
            if spec is not None:
                self.data.setdefault("generated_files", {})[dest] = spec

    def listdir(self, windows_path: str) -> list[str]:
        target = self.local_path(windows_path)
        return sorted(os.listdir(target)) if target.is_dir() else []

    def checksum(self, windows_path: str, algorithm: str) -> str:
        """Streamed: a generated 200 MB log is never held in memory."""
        digest = hashlib.new(algorithm)
        with self.open_read(windows_path) as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()

    def sha256(self, windows_path: str) -> str:
        return self.checksum(windows_path, "sha256")

    def sha1(self, windows_path: str) -> str:
        return self.checksum(windows_path, "sha1")

    def file_version(self, windows_path: str) -> str | None:
        with self.open_read(windows_path) as handle:
            return file_version_of(handle.read(4096))

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
