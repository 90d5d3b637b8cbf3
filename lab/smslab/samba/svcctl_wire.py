"""What the lab's ``\\svcctl`` (``smslab.samba.svcctl``) writes by hand rather than with impacket's classes:
MS-RPCE response and fault PDUs (a fault's body is 16 bytes: impacket's ``DCERPCServer`` sends 12, which
Samba's client cannot read), SERVICE_STATUS fields, REnumServicesStatusW's buffer (records, then the
strings they point to by offset) and QueryServiceConfigW's sizes."""

from __future__ import annotations

import struct

from impacket.dcerpc.v5 import scmr
from impacket.dcerpc.v5.rpcrt import (MSRPC_FAULT, PFC_DID_NOT_EXECUTE, PFC_FIRST_FRAG, PFC_LAST_FRAG, MSRPCRequestHeader,
                                      MSRPCRespHeader)

from smslab.samba import services

# Fault statuses (C706 appendix E / MS-RPCE 2.2.2.11) as Windows sends them.
NCA_S_OP_RNG_ERROR = 0x1C010002      # opnum not in the interface
NCA_S_UNKNOWN_IF = 0x1C010003        # request on a context that was never bound
NCA_S_PROTO_ERROR = 0x1C01000B       # a PDU type this server does not take here
RPC_X_BAD_STUB_DATA = 0x000006F7     # the request's NDR could not be read
ERROR_INSUFFICIENT_BUFFER, ERROR_MORE_DATA = 122, 234
QUERY_SERVICE_CONFIGW_SIZE = 36      # nine 32-bit fields, as NT 4.0 (x86, Alpha: 32-bit) lays it out
ENUM_SERVICE_STATUSW_SIZE = 36       # two string offsets and SERVICE_STATUS (7 DWORDs)
MAX_ENUM_BUFFER = 0x40000            # BOUNDED_DWORD_256K (MS-SCMR 2.2.7)
SERVICE_TYPES = 0x13F                # every SERVICE_* type bit, with SERVICE_INTERACTIVE_PROCESS
STATUS_FIELDS = ("dwServiceType", "dwCurrentState", "dwControlsAccepted", "dwWin32ExitCode",
                 "dwServiceSpecificExitCode", "dwCheckPoint", "dwWaitHint")


def status_values(record: dict) -> tuple[int, ...]:
    """SERVICE_STATUS (MS-SCMR 2.2.47) of a service record, field by field."""
    state = record.get("state", "stopped")
    accepted = scmr.SERVICE_ACCEPT_STOP | scmr.SERVICE_ACCEPT_SHUTDOWN if state in ("running", "paused") else 0
    pending = state.endswith("_pending")
    return (scmr.SERVICE_WIN32_OWN_PROCESS, services.STATE_CODES.get(state, 1), accepted, 0, 0,
            1 if pending else 0, 3000 if pending else 0)


def resume_index(stub: bytes) -> int | None:
    """REnumServicesStatusW's [in, out, unique] lpResumeIndex, None when the pointer is null (read here:
    impacket's NDR reads a non-null one past the end). Layout: handle 20, type, state, cbBufSize, pointer."""
    (referent,) = struct.unpack_from("<I", stub, 32)
    return struct.unpack_from("<I", stub, 36)[0] if referent else None


def no_config(response, code: int) -> bytes:
    """A QueryServiceConfig answer without a configuration (null strings), as Windows sends with an error."""
    for field in ("lpBinaryPathName", "lpLoadOrderGroup", "lpDependencies", "lpServiceStartName", "lpDisplayName"):
        response["lpServiceConfig"][field] = scmr.NULL
    response["ErrorCode"] = code
    return response.getData()


def valid_enum_request(service_type: int, service_state: int, size: int) -> bool:
    """REnumServicesStatusW's parameters as the SCM checks them (else ERROR_INVALID_PARAMETER): known type
    bits, a state of SERVICE_ACTIVE / INACTIVE / STATE_ALL, a buffer within the IDL's 256 KiB bound."""
    return bool(service_type & SERVICE_TYPES) and not service_type & ~SERVICE_TYPES and size <= MAX_ENUM_BUFFER \
        and service_state in (scmr.SERVICE_ACTIVE, scmr.SERVICE_INACTIVE, scmr.SERVICE_STATE_ALL)


def aligned(size: int) -> int:
    return size + (-size % 4)


def enum_buffer(records: list[tuple[str, str, dict]]) -> bytes:
    """ENUM_SERVICE_STATUSW records, then their strings; each string pointer is its offset from the
    buffer's start, as the SCM returns them (MS-SCMR 3.1.4.11; Samba pulls them as [relative] pointers)."""
    fixed = ENUM_SERVICE_STATUSW_SIZE * len(records)
    head, strings = b"", b""
    for name, display, record in records:
        offsets = []
        for text in (name, display):
            offsets.append(fixed + len(strings))
            strings += (text + "\0").encode("utf-16-le")
        head += struct.pack("<II7I", *offsets, *status_values(record))
    return head + strings


def fitting(records: list, size: int) -> int:
    """How many of ``records`` (from the first) fit in ``size`` bytes."""
    count = 0
    while count < len(records) and len(enum_buffer(records[:count + 1])) <= size:
        count += 1
    return count


def answer(request: bytes, pdu_type: int, flags: int, alloc_hint: int, body: bytes) -> MSRPCRespHeader:
    """A response or fault PDU to ``request`` (its call id and context id), without auth trailer."""
    answer = MSRPCRespHeader()
    parsed = MSRPCRequestHeader(request)
    answer["type"] = pdu_type
    answer["flags"] = flags
    answer["representation"] = 0x10
    answer["call_id"] = parsed["call_id"]
    answer["ctx_id"] = parsed["ctx_id"]
    answer["alloc_hint"] = alloc_hint
    answer["pduData"] = body
    answer["frag_len"] = len(answer)
    return answer


def fault(request: bytes, status: int) -> MSRPCRespHeader:
    """A fault PDU: alloc_hint, p_cont_id, cancel_count, reserved, status, reserved = 16 bytes after the
    common header (C706 12.6.4.7, MS-RPCE 2.2.2.11); "did not execute" set, as nothing ran."""
    return answer(request, MSRPC_FAULT, PFC_FIRST_FRAG | PFC_LAST_FRAG | PFC_DID_NOT_EXECUTE, 0,
                  struct.pack("<II", status, 0))
