# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Files on the site server through its administrative shares (private to this collection): ``C:\\SMS\\x`` is ``\\\\host\\C$\\SMS\\x``.

Listing, reading byte ranges, writing, renaming and deleting, each over the one session. A path that
is not drive-absolute (``X:\\...``) is refused before anything is sent. Times are the SMB LastWriteTime
(UTC); attributes are the SMB/FSCC ones, so a reparse point (junction, symbolic link) is seen as such."""

from __future__ import annotations

import contextlib
import hashlib
import ntpath
import re
from dataclasses import dataclass
from datetime import datetime, timezone

from ansible_collections.sms.remediation.plugins.module_utils.package_ids import SHORT_NAME_RE
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.base import TransportError
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.connection import (
    NOT_FOUND, SMB1_DIALECT, MsrpcSession, describe, status_code)

# MS-FSCC 2.6 attributes, MS-SMB2 2.2.13 share access and create disposition
FILE_SHARE_READ, FILE_SHARE_WRITE, FILE_SHARE_DELETE = 0x1, 0x2, 0x4
FILE_OVERWRITE_IF = 0x5
FILE_ATTRIBUTE_DIRECTORY = 0x10
FILE_ATTRIBUTE_REPARSE_POINT = 0x400
FILE_READ_DATA = 0x0001
FILE_WRITE_DATA = 0x0002
FILE_READ_ATTRIBUTES = 0x0080
DELETE = 0x00010000
SYNCHRONIZE = 0x00100000
FILE_NON_DIRECTORY_FILE = 0x40
STATUS_FILE_IS_A_DIRECTORY = 0xC00000BA
NOT_A_FILE = NOT_FOUND | {STATUS_FILE_IS_A_DIRECTORY}
CHUNK = 60 * 1024                    # below every dialect's MaxReadSize (SMB1 servers offer ~64 KiB)
_DRIVE_PATH = re.compile(r"^(?P<drive>[A-Za-z]):\\(?P<rest>.*)$")
_BAD_PART = re.compile(r'[<>"|?*\x00-\x1f]')


@dataclass(frozen=True)
class FileInfo:
    name: str
    size: int
    last_write: float          # epoch seconds, UTC
    attributes: int
    short_name_only: bool = False   # listed by an 8.3 name (``ABCDE~1.PCK``) whose long name could not be read
    stamps: tuple[int, int, int] = (0, 0, 0)   # raw FILETIMEs: creation, last write, change (0: not reported)

    @property
    def directory(self) -> bool:
        return bool(self.attributes & FILE_ATTRIBUTE_DIRECTORY)

    @property
    def reparse_point(self) -> bool:
        return bool(self.attributes & FILE_ATTRIBUTE_REPARSE_POINT)

    @property
    def last_write_utc(self) -> str:
        return datetime.fromtimestamp(self.last_write, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def split_path(path: str) -> tuple[str, str]:
    """``D:\\SMSPKG\\x.PCK`` -> (``D$``, ``SMSPKG\\x.PCK``); ValueError for anything else.

    ``..`` and ``.`` parts are refused rather than resolved: the share path is taken literally."""
    match = _DRIVE_PATH.match(path or "")
    if not match:
        raise ValueError(f"{path!r} is not a drive-absolute Windows path (X:\\...)")
    parts = [part for part in match.group("rest").split("\\") if part]
    for part in parts:
        if part in (".", "..") or _BAD_PART.search(part) or ":" in part:
            raise ValueError(f"{path!r}: the path part {part!r} is not allowed")
    return f"{match.group('drive').upper()}$", "\\".join(parts)


FILETIME_EPOCH = 116444736000000000    # 1970-01-01 in 100 ns units since 1601-01-01


def _info(entry) -> FileInfo:
    # impacket's get_wtime_epoch() drops the FILETIME's low 20 bits (up to 0.1 s): a time just past a
    # second would print as the second before. Whole 100 ns units, converted exactly.
    seconds, rest = divmod(entry.get_wtime() - FILETIME_EPOCH, 10_000_000)
    return FileInfo(entry.get_longname(), entry.get_filesize(), seconds + rest / 10_000_000, entry.get_attributes(),
                    stamps=(entry.get_ctime(), entry.get_wtime(), entry.get_mtime()))   # mtime: the change time


class SmbFiles:
    """The file operations of one host; ``operation`` names what the caller is doing, for errors."""

    def __init__(self, session: MsrpcSession):
        self.session = session
        self.bytes_read = 0
        self._listings: dict[str, dict[str, FileInfo] | None] = {}     # see listed()

    def _where(self, operation: str, path: str) -> tuple[str, str]:
        try:
            return split_path(path)
        except ValueError as exc:
            raise TransportError(self.session.host, operation, str(exc)) from None

    def _fail(self, operation: str, exc: BaseException, path: str) -> TransportError:
        return self.session.failure(operation, exc, path)

    # ---- reading ---------------------------------------------------------------------------
    @contextlib.contextmanager
    def listed(self, folder: str, operation: str):
        """Within: ``stat`` of a path directly in ``folder`` answers from one listing of the folder, taken on
        entry (the probe stats five files in ``Logs``: one listing instead of five lookups). For a pass that
        only reads; a change made through this object forgets the listing. A listing that fails is not kept
        (each stat then asks, and fails, on its own)."""
        key = folder.rstrip("\\").lower()
        try:
            entries = self.list_dir(folder, operation)
        except TransportError:
            yield
            return
        self._listings[key] = None if entries is None else {entry.name.lower(): entry for entry in entries}
        try:
            yield
        finally:
            self._listings.pop(key, None)

    def stat(self, path: str, operation: str) -> FileInfo | None:
        """The entry at ``path`` (file or folder), or None when it is not there."""
        share, rest = self._where(operation, path)
        folder, name = ntpath.split(path)
        if rest and folder.rstrip("\\").lower() in self._listings:
            listing = self._listings[folder.rstrip("\\").lower()]
            return None if listing is None else listing.get(name.lower())
        if not rest:                       # the drive root itself
            self.session.tree(share, operation)
            return FileInfo(path, 0, 0.0, FILE_ATTRIBUTE_DIRECTORY)
        try:
            entries = self.session.list_path(share, rest, operation)
        except Exception as exc:
            if status_code(exc) in NOT_FOUND:
                return None
            raise self._fail(operation, exc, path) from None
        name = ntpath.basename(rest).lower()
        for entry in entries:
            if entry.get_longname().lower() == name:
                return _info(entry)
        return None

    def list_dir(self, path: str, operation: str) -> list[FileInfo] | None:
        """Every entry of a folder (no ``.``/``..``), or None when the folder is not there."""
        share, rest = self._where(operation, path)
        pattern = f"{rest}\\*" if rest else "*"
        try:
            entries = self.session.list_path(share, pattern, operation)
        except Exception as exc:
            if status_code(exc) in NOT_FOUND:
                return None
            raise self._fail(operation, exc, path) from None
        listed = [entry for entry in entries if entry.get_longname() not in (".", "..")]
        return [self._long_named(share, rest, entry, operation) for entry in listed]

    def _long_named(self, share: str, folder: str, entry, operation: str) -> FileInfo:
        """The entry under its long name. NT 4.0 keeps 8.3 names beside long ones, and a listing may carry only
        the short one (``ABCDE~1.PCK``): then the file is asked for by that name, which Windows matches against
        both, and the answer carries the long name (one request, for such entries only). When it does not, the
        entry keeps the short name and ``short_name_only`` says so: the classification reports it, kept."""
        info = _info(entry)
        if not SHORT_NAME_RE.search(info.name):
            return info
        try:
            found = self.session.list_path(share, f"{folder}\\{info.name}" if folder else info.name, operation)
        except Exception:  # pylint: disable=broad-exception-caught  # the entry stays as listed, flagged
            found = []
        for candidate in found:
            long_name = candidate.get_longname()
            if long_name and long_name not in (".", "..") and not SHORT_NAME_RE.search(long_name):
                return _info(candidate)
        return FileInfo(info.name, info.size, info.last_write, info.attributes, short_name_only=True, stamps=info.stamps)

    def open_read(self, path: str, operation: str, missing_ok: bool = False) -> "RemoteFile | None":
        """The open file; with ``missing_ok``, None when no file is there (nothing, or a folder)."""
        share, rest = self._where(operation, path)
        tid = self.session.tree(share, operation)
        try:
            # Share read and write: SMS_EXECUTIVE keeps writing its logs while we read them.
            fid = self.session.smb.openFile(tid, rest, desiredAccess=FILE_READ_DATA | FILE_READ_ATTRIBUTES,
                                            shareMode=FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE)
        except Exception as exc:
            if missing_ok and status_code(exc) in NOT_A_FILE:
                return None
            raise self._fail(operation, exc, path) from None
        return RemoteFile(self, tid, fid, path, operation)

    def read_all(self, path: str, operation: str, limit: int, missing_ok: bool = False) -> bytes | None:
        """The whole file, refused when larger than ``limit`` bytes; with ``missing_ok``, None when no file
        is there (one request instead of a lookup first)."""
        handle = self.open_read(path, operation, missing_ok)
        if handle is None:
            return None
        with handle:
            # A short read is not the end: NT 4.0 answers a READ_ANDX with at most ~16 KiB whatever was asked.
            # The first empty read is (the size is not known without one more request anyway).
            data = handle.read(0, limit + 1)
        if len(data) > limit:
            raise TransportError(self.session.host, operation, f"{path} is larger than {limit} bytes")
        return data

    def sha256(self, path: str, operation: str) -> tuple[str, int]:
        """(sha256, size) of a file, read in chunks."""
        digest = hashlib.sha256()
        size = 0
        with self.open_read(path, operation) as handle:
            while True:
                block = handle.read(size, CHUNK)
                if not block:
                    break
                digest.update(block)
                size += len(block)
        return digest.hexdigest(), size

    def exists(self, path: str, operation: str) -> bool:
        return self.stat(path, operation) is not None

    # ---- writing ---------------------------------------------------------------------------
    def write_bytes(self, path: str, data: bytes, operation: str) -> None:
        """Create or overwrite ``path`` with ``data``."""
        self._listings.clear()
        share, rest = self._where(operation, path)
        tid = self.session.tree(share, operation)
        smbc = self.session.smb
        try:
            fid = smbc.createFile(tid, rest, desiredAccess=FILE_READ_DATA | FILE_WRITE_DATA | SYNCHRONIZE,
                                  shareMode=FILE_SHARE_READ, creationOption=FILE_NON_DIRECTORY_FILE,
                                  creationDisposition=FILE_OVERWRITE_IF)
        except Exception as exc:
            raise self._fail(operation, exc, path) from None
        try:
            offset = 0
            view = memoryview(data)
            while offset < len(data):
                offset += self._write_at(tid, fid, bytes(view[offset:offset + CHUNK]), offset, path, operation)
        except TransportError:
            raise
        except Exception as exc:
            raise self._fail(operation, exc, path) from None
        finally:
            self._close(tid, fid)

    def append_bytes(self, path: str, data: bytes, operation: str) -> None:
        """Append to a file (created when missing): read its size, write at the end."""
        info = self.stat(path, operation)
        if info is None:
            self.write_bytes(path, data, operation)
            return
        share, rest = self._where(operation, path)
        tid = self.session.tree(share, operation)
        try:
            fid = self.session.smb.openFile(tid, rest, desiredAccess=FILE_READ_DATA | FILE_WRITE_DATA,
                                            shareMode=FILE_SHARE_READ | FILE_SHARE_WRITE)
            try:
                offset, view = info.size, memoryview(data)
                while offset < info.size + len(data):
                    start = offset - info.size
                    offset += self._write_at(tid, fid, bytes(view[start:start + CHUNK]), offset, path, operation)
            finally:
                self._close(tid, fid)
        except TransportError:
            raise
        except Exception as exc:
            raise self._fail(operation, exc, path) from None

    def rename(self, source: str, target: str, operation: str) -> None:
        """Rename within one share (a rename never copies, so it is atomic on the host)."""
        self._listings.clear()
        share, rest = self._where(operation, source)
        target_share, target_rest = self._where(operation, target)
        if share != target_share:
            raise TransportError(self.session.host, operation,
                                 f"cannot move {source} to {target}: a rename stays on one drive")
        try:
            self.session.smb.rename(share, rest, target_rest)
        except Exception as exc:
            raise self._fail(operation, exc, f"rename {source} -> {target}") from None

    def delete(self, path: str, operation: str) -> None:
        self._listings.clear()
        share, rest = self._where(operation, path)
        try:
            self.session.smb.deleteFile(share, rest)
        except Exception as exc:
            raise self._fail(operation, exc, path) from None

    def make_dirs(self, path: str, operation: str) -> None:
        """Create ``path`` and its missing parents (like Directory.CreateDirectory)."""
        self._listings.clear()
        share, rest = self._where(operation, path)
        built = ""
        for part in rest.split("\\") if rest else []:
            built = f"{built}\\{part}" if built else part
            info = self.stat(f"{share[0]}:\\{built}", operation)
            if info is not None:
                if not info.directory:
                    raise TransportError(self.session.host, operation, f"{share[0]}:\\{built} is a file, not a folder")
                continue
            try:
                self.session.smb.createDirectory(share, built)
            except Exception as exc:
                raise self._fail(operation, exc, f"{share[0]}:\\{built}") from None

    def _write_at(self, tid, fid, block: bytes, offset: int, path: str, operation: str) -> int:
        """Write ``block`` at ``offset``; the bytes the server took. impacket's SMB1 ``writeFile`` answers the
        END OFFSET of what it wrote (it loops over MaxBufferSize blocks), SMB2/3 the count: added to the
        offset as a count, every chunk after the first lands too far on and leaves a hole."""
        answer = self.session.smb.writeFile(tid, fid, block, offset)
        written = answer - offset if self.session.smb.getDialect() == SMB1_DIALECT else answer
        if not 0 < written <= len(block):
            raise TransportError(self.session.host, operation,
                                 f"{path}: the server took {answer} for {len(block)} bytes at offset {offset}")
        return written

    def _close(self, tid, fid) -> None:
        try:
            self.session.smb.closeFile(tid, fid)
        except Exception:  # the handle dies with the session anyway
            pass


class RemoteFile:
    """An open file: ``read(offset, length)`` asks until it has ``length`` bytes or the server answers none
    (one request per CHUNK where reads are large; on NT 4.0 one per ~16 KiB)."""

    def __init__(self, files: SmbFiles, tid, fid, path: str, operation: str):
        self.files, self.tid, self.fid, self.path, self.operation = files, tid, fid, path, operation

    def read(self, offset: int, length: int) -> bytes:
        data = bytearray()
        while length > 0:
            want = min(length, CHUNK)
            try:
                block = self.files.session.smb.readFile(self.tid, self.fid, offset, want)
            except Exception as exc:
                raise self.files._fail(self.operation, exc, self.path) from None
            if not block:           # the end of the file; a short read is not (NT 4.0: ~16 KiB a read)
                break
            data += block
            offset += len(block)
            length -= len(block)
        self.files.bytes_read += len(data)
        return bytes(data)

    def close(self) -> None:
        self.files._close(self.tid, self.fid)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


def drive_shares(session: MsrpcSession) -> tuple[list[str], str]:
    """The fixed drives as their ``<d>$`` shares (letters, sorted) and how they were found.

    Windows creates ``<d>$`` only for local fixed drives and ``NetrShareEnum`` (srvsvc, one call) lists
    them to an administrator. When the server refuses the call, or lists none (Samba hides shares that are
    not browseable), each of ``C$`` .. ``Z$`` is tried with a tree connect."""
    try:
        from impacket.dcerpc.v5 import srvs
        # on the session's \srvsvc pipe (impacket's listShares opens its own, with a tree connect and disconnect)
        dce = session.pipe("srvsvc", srvs.MSRPC_UUID_SRVS, "shares")
        letters = set()
        for share in srvs.hNetrShareEnum(dce, 1)["InfoStruct"]["ShareInfo"]["Level1"]["Buffer"]:
            name = str(share["shi1_netname"]).rstrip("\x00")
            kind = int(share["shi1_type"]) & 0x0FFFFFFF      # strip STYPE_SPECIAL / STYPE_TEMPORARY
            if kind == 0 and re.fullmatch(r"[A-Za-z]\$", name):
                letters.add(name[0].upper())
        if letters:
            return sorted(letters), "NetrShareEnum"
        why = "NetrShareEnum listed no <d>$ share"
    except Exception as exc:  # srvsvc refused or missing: fall back to probing each drive letter
        why = f"NetrShareEnum failed: {exc.message if isinstance(exc, TransportError) else describe(exc)}"
    letters = [chr(code) for code in range(ord("C"), ord("Z") + 1) if session.has_share(f"{chr(code)}$")]
    return letters, f"tree connect C$..Z$ ({why})"


__all__ = ["FileInfo", "RemoteFile", "SmbFiles", "drive_shares", "split_path"]
