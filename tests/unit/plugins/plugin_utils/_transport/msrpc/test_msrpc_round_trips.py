"""Fewer SMB messages per probe: a DCE/RPC call is one pipe transact, a key's values come in one
BaseRegQueryMultipleValues (one by one when a value is missing or the server lacks the call), the Logs
folder is listed once for its stats. A whole-file read ends at an empty read, not at a short one (NT 4.0 answers
~16 KiB whatever was asked)."""

from __future__ import annotations

import struct

import pytest
from impacket.dcerpc.v5 import rrp
from impacket.dcerpc.v5.rpcrt import DCERPCException
from impacket.smbconnection import SessionError

from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc import files as files_module
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.files import CHUNK, SmbFiles
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.pipe_transport import (
    TransceiveTransport)
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.registry import (
    ERROR_FILE_NOT_FOUND, ERROR_MORE_DATA, Registry)


class PipeConnection:
    """What TransceiveTransport asks of impacket's SMBConnection, recorded."""

    def __init__(self, replies):
        self.sent, self.replies = [], list(replies)

    def getCredentials(self):  # noqa: N802 - impacket's name
        return ("user", "password", "", "", "", "", None, None)

    def transactNamedPipe(self, tid, fid, data):  # noqa: N802
        self.sent.append(("transact", data))
        return self.replies.pop(0)

    def writeFile(self, tid, fid, data, offset=0):  # noqa: N802
        self.sent.append(("write", data))

    def readFile(self, tid, fid, offset=0, bytesToRead=None):  # noqa: N802, N803
        self.sent.append(("read", None))
        return self.replies.pop(0)

    def disconnectTree(self, tid):  # noqa: N802
        self.sent.append(("disconnect", None))


def test_a_call_is_one_transact_and_further_reply_fragments_are_read():
    smb = PipeConnection([b"first fragment", b"second fragment"])
    pipe = TransceiveTransport("host", 445, filename="\\winreg", smb_connection=smb)
    pipe.send(b"request")
    assert smb.sent == []                                   # held until the reply is asked for
    assert pipe.recv() == b"first fragment"
    assert pipe.recv(forceRecv=1) == b"second fragment"
    assert smb.sent == [("transact", b"request"), ("read", None)]


def test_a_request_in_fragments_writes_all_but_the_last_and_an_unanswered_one_is_written():
    smb = PipeConnection([b"reply"])
    pipe = TransceiveTransport("host", 445, filename="\\winreg", smb_connection=smb)
    pipe.send(b"fragment 1", forceWriteAndx=1)
    pipe.send(b"fragment 2", forceWriteAndx=1, forceRecv=1)
    assert pipe.recv() == b"reply"
    pipe.send(b"auth3")                                     # no reply is ever asked for
    pipe.disconnect()
    assert smb.sent == [("write", b"fragment 1"), ("transact", b"fragment 2"), ("write", b"auth3"),
                        ("disconnect", None)]


class RegistryPipe:
    """A winreg pipe: BaseRegQueryMultipleValues answered from ``values`` (or failing), the rest recorded."""

    def __init__(self, values, multiple=True, room=1 << 20):
        self.values, self.multiple, self.room, self.calls = values, multiple, room, []

    def request(self, request):
        name = type(request).__name__
        self.calls.append(name)
        if not self.multiple:
            raise DCERPCException(error_code=0x1C010002)         # nca_s_op_rng_error: no such call
        wanted = [entry["ve_valuename"].rstrip("\x00") for entry in request["val_listIn"]]
        if any(n not in self.values for n in wanted):
            raise rrp.DCERPCSessionError(error_code=ERROR_FILE_NOT_FOUND)
        buffer, listed = b"", []
        for n in wanted:
            kind, data = self.values[n]
            raw = struct.pack("<L", data) if kind == rrp.REG_DWORD else (data + "\x00").encode("utf-16le")
            listed.append({"ve_valuelen": len(raw), "ve_valueptr": len(buffer), "ve_type": kind})
            buffer += raw
        if len(buffer) > min(self.room, request["ldwTotsize"]):
            raise rrp.DCERPCSessionError(error_code=ERROR_MORE_DATA)
        return {"val_listOut": listed, "lpvalueBuf": [bytes([b]) for b in buffer]}


class Session:
    host = "sms610"

    def __init__(self, pipe):
        self._pipe = pipe

    def pipe(self, name, uuid, operation):
        return self._pipe

    def failure(self, operation, exc, what=""):
        return RuntimeError(f"{operation}: {what}: {exc}")


@pytest.fixture
def registry(monkeypatch):
    def make(pipe):
        reg = Registry(Session(pipe))
        monkeypatch.setattr(reg, "_open", lambda key, access, operation: HANDLE)
        monkeypatch.setattr(reg, "_query", lambda handle, key, name, operation: (
            pipe.calls.append(f"query {name}") or (None, None) if name not in pipe.values else
            (pipe.values[name][0], pipe.values[name][1])))
        return reg
    return make


HANDLE = rrp.RPC_HKEY()              # a key context handle
SETUP = {"Full Version": (rrp.REG_SZ, "2.00.1493.2000"), "Installation Directory": (rrp.REG_SZ, "C:\\SMS"),
         "Type": (rrp.REG_DWORD, 1)}


def test_the_values_of_a_key_come_in_one_call(registry):
    pipe = RegistryPipe(SETUP)
    values = registry(pipe).read_values("HKLM\\SOFTWARE\\Microsoft\\SMS\\Setup", list(SETUP))
    assert values == {"Full Version": "2.00.1493.2000", "Installation Directory": "C:\\SMS", "Type": 1}
    assert pipe.calls == ["BaseRegQueryMultipleValues"]


def test_a_missing_value_is_read_one_by_one_as_none(registry):
    pipe = RegistryPipe(SETUP)
    values = registry(pipe).read_values("HKLM\\SOFTWARE\\Microsoft\\SMS\\Setup", ["Type", "UI Version"])
    assert values == {"Type": 1, "UI Version": None}
    assert pipe.calls == ["BaseRegQueryMultipleValues", "query UI Version"]


class KeyPipe(RegistryPipe):
    """A winreg pipe that also opens keys (every open answers a handle)."""

    def request(self, request):
        name = type(request).__name__
        if name in ("OpenLocalMachine", "BaseRegOpenKey", "BaseRegCloseKey"):
            self.calls.append(name)
            return {"phKey": HANDLE, "phkResult": HANDLE, "ErrorCode": 0}
        return super().request(request)


def test_a_key_is_opened_once_per_session_and_never_closed_one_by_one():
    pipe = KeyPipe(SETUP)
    reg = Registry(Session(pipe))
    for _attempt in range(2):
        assert reg.read_values("HKLM:\\SOFTWARE\\Microsoft\\SMS\\Setup", list(SETUP))["Type"] == 1
    assert reg.read_values("HKLM\\software\\microsoft\\sms\\SETUP", ["Type", "Full Version"])["Type"] == 1
    # the pipe's close frees its handles on the server: no BaseRegCloseKey round trip per key
    assert pipe.calls == ["OpenLocalMachine", "BaseRegOpenKey"] + ["BaseRegQueryMultipleValues"] * 3


def test_values_larger_than_the_first_buffer_are_asked_again_with_room():
    long_path = {"A": (rrp.REG_SZ, "x" * 600), "B": (rrp.REG_SZ, "y")}
    pipe = RegistryPipe(long_path)
    reg = Registry(Session(pipe))
    assert reg._query_multiple(HANDLE, ["A", "B"]) == {"A": "x" * 600, "B": "y"}
    assert pipe.calls == ["BaseRegQueryMultipleValues"] * 2


def test_a_server_without_the_call_is_not_asked_again(registry):
    pipe = RegistryPipe(SETUP, multiple=False)
    reg = registry(pipe)
    for _attempt in range(2):
        assert reg.read_values("HKLM\\SOFTWARE\\Microsoft\\SMS\\Setup", ["Type", "Full Version"]) == {
            "Type": 1, "Full Version": "2.00.1493.2000"}
    assert pipe.calls.count("BaseRegQueryMultipleValues") == 1


class Listing:
    def __init__(self, name, size, attributes=0x20):
        self.name, self.size, self.attributes = name, size, attributes

    def get_longname(self):
        return self.name

    def get_filesize(self):
        return self.size

    def get_wtime(self):
        return files_module.FILETIME_EPOCH

    get_ctime = get_mtime = get_wtime

    def get_attributes(self):
        return self.attributes


class ListingSmb:
    def __init__(self, folders):
        self.folders, self.calls = folders, []

    def listPath(self, share, pattern):  # noqa: N802
        self.calls.append(pattern)
        folder, name = pattern.rsplit("\\", 1)
        if folder not in self.folders:
            raise RuntimeError("not found")          # any failure: the listing is not kept
        return [e for e in self.folders[folder] if name == "*" or e.get_longname().lower() == name.lower()]

    def deleteFile(self, share, path):  # noqa: N802
        self.calls.append(f"delete {path}")


class SmbSession:
    host = "sms610"

    def __init__(self, smb):
        self.smb = smb

    def list_path(self, share, pattern, _operation):
        return self.smb.listPath(share, pattern)

    def failure(self, operation, exc, what=""):
        from ansible_collections.sms.remediation.plugins.plugin_utils._transport.base import TransportError
        return TransportError(self.host, operation, f"{what}: {exc}")


def test_stats_in_a_listed_folder_cost_one_listing_and_a_change_forgets_it():
    smb = ListingSmb({"SMS\\Logs": [Listing("Distmgr.log", 20), Listing("Q244405.log", 5)]})
    files = SmbFiles(SmbSession(smb))
    with files.listed("C:\\SMS\\Logs", "log"):
        assert files.stat("C:\\SMS\\Logs\\DISTMGR.LOG", "log").size == 20
        assert files.stat("C:\\SMS\\Logs\\Distmgr.lo_", "log") is None
        assert files.exists("C:\\SMS\\Logs\\Q244405.log", "log")
        assert smb.calls == ["SMS\\Logs\\*"]
        files.delete("C:\\SMS\\Logs\\Q244405.log", "test")
        files.stat("C:\\SMS\\Logs\\Distmgr.log", "log")          # asked again after the change
    assert smb.calls == ["SMS\\Logs\\*", "delete SMS\\Logs\\Q244405.log", "SMS\\Logs\\Distmgr.log"]
    files.stat("C:\\SMS\\Logs\\Distmgr.log", "log")              # and after the block
    assert smb.calls[-1] == "SMS\\Logs\\Distmgr.log"


def test_a_folder_that_cannot_be_listed_leaves_each_stat_to_ask():
    smb = ListingSmb({})
    files = SmbFiles(SmbSession(smb))
    with files.listed("C:\\SMS\\Logs", "log"):
        with pytest.raises(Exception):
            files.stat("C:\\SMS\\Logs\\Distmgr.log", "log")
    assert smb.calls == ["SMS\\Logs\\*", "SMS\\Logs\\Distmgr.log"]


class ReadSmb:
    def __init__(self, data):
        self.data, self.reads = data, 0

    def openFile(self, tid, path, desiredAccess=0, shareMode=0):  # noqa: N802, N803
        if path != "SMS\\bin\\i386\\Distmgr.dll":
            raise SessionError(0xC0000034)          # STATUS_OBJECT_NAME_NOT_FOUND
        return 7

    def readFile(self, tid, fid, offset, length):  # noqa: N802
        self.reads += 1
        return self.data[offset:offset + length]

    def closeFile(self, tid, fid):  # noqa: N802
        pass


class ReadSession(SmbSession):
    def tree(self, share, operation):
        return 1


@pytest.mark.parametrize("size, reads", [(0, 1), (1000, 2), (CHUNK, 2), (CHUNK * 3 + 5, 5)])
def test_a_whole_file_read_ends_at_its_first_empty_read(size, reads):
    smb = ReadSmb(bytes(size))
    files = SmbFiles(ReadSession(smb))
    assert files.read_all("C:\\SMS\\bin\\i386\\Distmgr.dll", "platforms", 1 << 30) == bytes(size)
    assert smb.reads == reads
    assert files.read_all("C:\\SMS\\bin\\alpha\\Distmgr.dll", "platforms", 1 << 30, missing_ok=True) is None


class Nt4ReadSmb(ReadSmb):
    """NT 4.0 without CAP_LARGE_READX: a READ_ANDX answers at most ~MaxBufferSize, whatever was asked."""

    def readFile(self, tid, fid, offset, length):  # noqa: N802
        return super().readFile(tid, fid, offset, min(length, 16644 - 60))


def test_a_short_read_is_not_the_end_of_the_file():
    data = bytes(range(256)) * 1100                 # 281,600 bytes: 17 reads of 16,584
    smb = Nt4ReadSmb(data)
    files = SmbFiles(ReadSession(smb))
    assert files.read_all("C:\\SMS\\bin\\i386\\Distmgr.dll", "platforms", 1 << 30) == data
    assert smb.reads == -(-len(data) // 16584) + 1     # and one empty read at the end
    handle = files.open_read("C:\\SMS\\bin\\i386\\Distmgr.dll", "platforms")
    assert handle.read(100, CHUNK) == data[100:100 + CHUNK]
