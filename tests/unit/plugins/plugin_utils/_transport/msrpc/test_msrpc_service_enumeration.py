"""Service states from one REnumServicesStatusW (issue 22): the buffer's records read, a second call from the resume
index when the first buffer is too small, absent services reported absent, and an account refused the
enumeration served by the per-service queries as before. The manager handle holds exactly the enumeration right."""

from __future__ import annotations

import struct

import pytest
from impacket.dcerpc.v5 import scmr

from ansible_collections.sms.remediation.plugins.plugin_utils._transport.base import TransportError
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc import services as services_module
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.services import (
    SC_MANAGER_CONNECT, SC_MANAGER_ENUMERATE_SERVICE, Services, enum_records)

HOST = "sms600"


def buffer_of(records: list[tuple[str, int]]) -> bytes:
    """ENUM_SERVICE_STATUSW records then their strings, pointers as offsets (as Windows and the lab send them)."""
    fixed, head, strings = 36 * len(records), b"", b""
    for name, state in records:
        name_at = fixed + len(strings)
        strings += (name + "\0").encode("utf-16-le")
        display_at = fixed + len(strings)
        strings += (name.title() + "\0").encode("utf-16-le")
        head += struct.pack("<II7I", name_at, display_at, 0x10, state, 0, 0, 0, 0, 0)
    return head + strings


class Pipe:
    """The \\svcctl handle: answers the service manager's calls from a script, records them."""

    def __init__(self, pages=None, denied_rights=0, states=None):
        self.pages = list(pages or [])
        self.denied_rights = denied_rights
        self.states = states or {}
        self.calls = []

    def request(self, call, *args, **kwargs):
        name = type(call).__name__
        keys = {"ROpenSCManagerW": ("dwDesiredAccess",), "ROpenServiceW": ("dwDesiredAccess",),
                "REnumServicesStatusW": ("dwServiceType", "dwServiceState", "cbBufSize")}.get(name, ())
        self.calls.append((name, {key: call[key] for key in keys}))
        if name == "ROpenSCManagerW":
            if call["dwDesiredAccess"] & self.denied_rights:
                raise scmr.DCERPCSessionError(error_code=5)
            return {"lpScHandle": b"m" * 20}
        if name == "REnumServicesStatusW":
            return self.pages.pop(0)
        if name == "ROpenServiceW":
            service = str(call["lpServiceName"]).rstrip("\0")
            if service not in self.states:
                raise scmr.DCERPCSessionError(error_code=1060)
            return {"lpServiceHandle": service.encode().ljust(20, b"\0")}
        if name == "RQueryServiceStatus":
            service = bytes(call["hService"]).rstrip(b"\0").decode()
            return {"lpServiceStatus": {"dwCurrentState": self.states[service]}}
        raise AssertionError(name)


class Session:
    host = HOST

    def __init__(self, pipe):
        self._pipe = pipe

    def pipe(self, name, uuid, operation):
        return self._pipe

    def failure(self, operation, exc, what=""):
        return TransportError(HOST, operation, f"{what}: {exc}")

    def error(self, operation, message):
        return TransportError(HOST, operation, message)


def page(records, code=0, needed=0, resume=0):
    data = buffer_of(records)
    return {"lpBuffer": data.ljust(services_module.ENUM_FIRST_BUFFER, b"\0"),
            "lpServicesReturned": len(records), "pcbBytesNeeded": needed, "lpResumeIndex": resume, "ErrorCode": code}


def test_the_records_of_the_buffer_are_read_by_their_offsets():
    data = buffer_of([("SMS_EXECUTIVE", 4), ("Spooler", 1), ("SMS_SQL_MONITOR", 2)])
    assert enum_records(data + b"\0" * 40, 3) == {"SMS_EXECUTIVE": "running", "SPOOLER": "stopped",
                                                  "SMS_SQL_MONITOR": "start_pending"}
    assert enum_records(data, 0) == {}


def test_one_enumeration_gives_every_state_and_absent_services_are_absent():
    pipe = Pipe([page([("Alerter", 4), ("SMS_EXECUTIVE", 4), ("SMS_SITE_COMPONENT_MANAGER", 1)])])
    services = Services(Session(pipe))
    states = services.states(["SMS_EXECUTIVE", "sms_site_component_manager", "SMS_SQL_MONITOR"])
    assert states == {"SMS_EXECUTIVE": "running", "sms_site_component_manager": "stopped", "SMS_SQL_MONITOR": None}
    assert [name for name, _arguments in pipe.calls] == ["ROpenSCManagerW", "REnumServicesStatusW"]
    assert pipe.calls[0][1]["dwDesiredAccess"] == SC_MANAGER_ENUMERATE_SERVICE        # exactly that right
    assert pipe.calls[1][1] == {"dwServiceType": 0x30, "dwServiceState": 3, "cbBufSize": 4096}
    assert services.state("SMS_SQL_MONITOR") is None            # known absent: no OpenService
    assert len(pipe.calls) == 2


def test_a_buffer_too_small_is_continued_from_the_resume_index():
    pipe = Pipe([page([("Alerter", 4)], code=234, needed=5000, resume=1), page([("SMS_EXECUTIVE", 7)])])
    states = Services(Session(pipe)).states(["SMS_EXECUTIVE"])
    assert states == {"SMS_EXECUTIVE": "paused"}
    assert [call["cbBufSize"] for name, call in pipe.calls if name == "REnumServicesStatusW"] == [4096, 5000]


def test_more_data_without_a_resume_index_is_an_error_naming_the_host():
    pipe = Pipe([page([("Alerter", 4)], code=234, needed=5000, resume=0)])
    with pytest.raises(TransportError) as failed:
        Services(Session(pipe)).states(["SMS_EXECUTIVE"])
    assert str(failed.value).startswith("sms600: services: enumerate services: ERROR_MORE_DATA")


def test_an_account_refused_the_enumeration_asks_each_service():
    pipe = Pipe(denied_rights=SC_MANAGER_ENUMERATE_SERVICE, states={"SMS_EXECUTIVE": 4})
    states = Services(Session(pipe)).states(["SMS_EXECUTIVE", "SMS_SQL_MONITOR"])
    assert states == {"SMS_EXECUTIVE": "running", "SMS_SQL_MONITOR": None}
    opened = [call["dwDesiredAccess"] for name, call in pipe.calls if name == "ROpenSCManagerW"]
    assert opened == [SC_MANAGER_ENUMERATE_SERVICE, SC_MANAGER_CONNECT]


def test_an_enumeration_refused_for_another_reason_fails():
    pipe = Pipe([page([], code=6)])            # ERROR_INVALID_HANDLE
    with pytest.raises(TransportError) as failed:
        Services(Session(pipe)).states(["SMS_EXECUTIVE"])
    assert "ERROR_INVALID_HANDLE" in str(failed.value)


@pytest.mark.parametrize("resume", [None, 7])
def test_the_reply_read_with_struct_is_what_impacket_s_ndr_reads(resume):
    # impacket's reply class makes one NDR object per byte of the buffer (~3.7 ms for 4 KiB); the reply is read here
    records = buffer_of([("SMS_EXECUTIVE", 4), ("Spooler", 1)]).ljust(4096, b"\0")
    reply = scmr.REnumServicesStatusWResponse()
    reply["lpBuffer"] = list(records)
    reply["pcbBytesNeeded"] = 300
    reply["lpServicesReturned"] = 2
    reply["lpResumeIndex"] = scmr.NULL if resume is None else resume
    reply["ErrorCode"] = 234
    data = reply.getData()
    theirs = scmr.REnumServicesStatusWResponse(data)
    ours = services_module.REnumServicesStatusWResponse(data)
    assert ours["lpBuffer"] == b"".join(theirs["lpBuffer"]) == records
    assert (ours["pcbBytesNeeded"], ours["lpServicesReturned"], ours["ErrorCode"]) == (
        theirs["pcbBytesNeeded"], theirs["lpServicesReturned"], theirs["ErrorCode"]) == (300, 2, 234)
    assert ours["lpResumeIndex"] == (None if resume is None else theirs["lpResumeIndex"]) == resume
    assert enum_records(ours["lpBuffer"], 2) == {"SMS_EXECUTIVE": "running", "SPOOLER": "stopped"}
