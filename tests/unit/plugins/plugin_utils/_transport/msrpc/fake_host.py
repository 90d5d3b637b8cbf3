"""An in-memory site server with the msrpc helpers' interfaces (files, services, session), for the logic
of the transaction, the package actions and the log cache without a network.

Faults name an operation and a path or service: ``files.fail[("rename", path)] = "STATUS_SHARING_VIOLATION"``
makes that call raise the TransportError a real SMB server's answer would give. The protocol itself is
covered by the integration tests against Samba."""

from __future__ import annotations

import copy
import hashlib
import ntpath

from ansible_collections.sms.remediation.plugins.plugin_utils._transport.base import TransportError
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.files import (
    FILE_ATTRIBUTE_DIRECTORY, FileInfo)

HOST = "fakehost"


def key(path: str) -> str:
    return ntpath.normpath(path).rstrip("\\").lower()


class FakeSession:
    host = HOST

    class settings:                     # noqa: N801 - read like a settings object
        host = HOST
        cache_dir = None

    def __init__(self):
        self.smb = self

    def error(self, operation, message):
        return TransportError(HOST, operation, message)

    def failure(self, operation, exc, what=""):
        return TransportError(HOST, operation, f"{what}: {exc}")

    def getServerName(self):            # noqa: N802 - impacket's name
        return "FAKEHOST"


class FakeFiles:
    def __init__(self):
        self.entries: dict[str, dict] = {}
        self.fail: dict[tuple, str] = {}
        self.bytes_read = 0
        self.writes = 0
        self.on_rename = None            # callable(source, target) after a rename (to corrupt, in tests)
        self.down = False                # the session dropped: every call fails (FakeHost.reconnect revives it)

    # ---- building the host ----
    def add_file(self, path, data: bytes, attributes: int = 0, mtime: float = 946684800.0):
        self.add_dir(ntpath.dirname(path))
        self.entries[key(path)] = {"path": path, "data": bytes(data), "attributes": attributes, "mtime": mtime}

    def add_dir(self, path, attributes: int = 0):
        parts = ntpath.normpath(path).rstrip("\\").split("\\")
        for end in range(1, len(parts) + 1):
            sub = "\\".join(parts[:end]) + ("\\" if end == 1 else "")
            if key(sub) not in self.entries:
                self.entries[key(sub)] = {"path": sub, "data": None, "attributes": FILE_ATTRIBUTE_DIRECTORY, "mtime": 0.0}
        self.entries[key(path)]["attributes"] |= attributes

    def data(self, path) -> bytes | None:
        entry = self.entries.get(key(path))
        return None if entry is None else entry["data"]

    def snapshot(self) -> dict:
        return copy.deepcopy(self.entries)

    def _check(self, operation, path):
        if self.down:
            raise TransportError(HOST, operation, f"{path}: ConnectionResetError: the connection was reset")
        message = self.fail.get((operation, key(path)))
        if message:
            raise TransportError(HOST, operation, f"{path}: {message}")

    # ---- the SmbFiles interface ----
    def stat(self, path, operation):
        self._check("stat", path)
        entry = self.entries.get(key(path))
        if entry is None:
            return None
        size = 0 if entry["data"] is None else len(entry["data"])
        return FileInfo(ntpath.basename(entry["path"]), size, entry["mtime"], entry["attributes"])

    def exists(self, path, operation):
        return self.stat(path, operation) is not None

    def list_dir(self, path, operation):
        if key(path) not in self.entries:
            return None
        prefix = key(path) + "\\"
        return [self.stat(e["path"], operation) for k, e in self.entries.items()
                if k.startswith(prefix) and "\\" not in k[len(prefix):]]

    def read_all(self, path, operation, limit):
        self._check("read", path)
        data = self.data(path)
        if data is None:
            raise TransportError(HOST, operation, f"{path}: STATUS_OBJECT_NAME_NOT_FOUND (0xc0000034)")
        self.bytes_read += len(data)
        return data

    def sha256(self, path, operation):
        data = self.read_all(path, operation, 1 << 40)
        return hashlib.sha256(data).hexdigest(), len(data)

    def open_read(self, path, operation):
        files = self

        class Handle:
            def read(self, offset, length):
                data = files.data(path)[offset:offset + length]
                files.bytes_read += len(data)
                return data

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                return None
        return Handle()

    def write_bytes(self, path, data, operation):
        self._check("write", path)
        self.writes += 1
        entry = self.entries.get(key(path))
        attributes = entry["attributes"] if entry else 0
        self.add_file(path, data, attributes)

    def append_bytes(self, path, data, operation):
        self._check("write", path)
        self.write_bytes(path, (self.data(path) or b"") + data, operation)

    def rename(self, source, target, operation):
        self._check("rename", source)
        if ntpath.splitdrive(source)[0].lower() != ntpath.splitdrive(target)[0].lower():
            raise TransportError(HOST, operation, f"cannot move {source} to {target}: a rename stays on one drive")
        if key(target) in self.entries:
            raise TransportError(HOST, operation, f"rename {source} -> {target}: STATUS_OBJECT_NAME_COLLISION")
        entry = self.entries.pop(key(source))
        entry["path"] = target
        self.entries[key(target)] = entry
        if self.on_rename:
            self.on_rename(source, target)

    def delete(self, path, operation):
        self._check("delete", path)
        self.entries.pop(key(path))

    def make_dirs(self, path, operation):
        self._check("mkdir", path)
        self.add_dir(path)


class FakeServices:
    def __init__(self, states: dict):
        self.states = dict(states)
        self.wont_stop: set[str] = set()
        self.wont_start: set[str] = set()
        self.dies_after_start: set[str] = set()
        self.calls: list[tuple] = []
        self.down = False                # the session dropped (see FakeFiles.down)

    def _check(self, operation):
        if self.down:
            raise TransportError(HOST, operation, "\\pipe\\svcctl: ConnectionResetError: the connection was reset")

    def state(self, name, operation="services"):
        self._check(operation)
        return self.states.get(name)

    def config(self, name, operation="services"):
        return None if name not in self.states else {"start_mode": "auto", "path": None}

    def stop(self, name, seconds, operation):
        self._check(operation)
        self.calls.append(("stop", name))
        if name in self.wont_stop:
            raise TransportError(HOST, operation, f"service {name} did not stop within {seconds:g} seconds (state running)")
        self.states[name] = "stopped"

    def start(self, name, seconds, operation):
        self._check(operation)
        self.calls.append(("start", name))
        if name in self.wont_start:
            raise TransportError(HOST, operation, f"service {name} did not start within {seconds:g} seconds (state stopped)")
        self.states[name] = "stopped" if name in self.dies_after_start else "running"


class FakeHost:
    def __init__(self, services: dict | None = None):
        self.session = FakeSession()
        self.files = FakeFiles()
        self.services = FakeServices(services or {})
        self.log_cache = None
        self.reachable = True            # False: a reconnect fails too (the controller lost the host)

    def drop(self, reachable: bool = True) -> None:
        """The session drops: every call fails until ``reconnect`` (which fails too unless ``reachable``)."""
        self.files.down = self.services.down = True
        self.reachable = reachable

    def reconnect(self) -> None:
        """As MsrpcHost.reconnect: a new session, or the TransportError of a host that cannot be reached."""
        if not self.reachable:
            raise TransportError(HOST, "connect", "cannot reach fakehost:445: TimeoutError")
        self.files.down = self.services.down = False
