# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a failed WMI/DCOM call means on an SMS site server: HRESULT and RPC status names (private to this collection)."""

from __future__ import annotations

import errno

NAMES = {
    0x8004100E: ("WBEM_E_INVALID_NAMESPACE", "the namespace does not exist: the SMS Provider is not installed "
                                             "or not running on this server"),
    0x80041003: ("WBEM_E_ACCESS_DENIED", "the account may not use this WMI namespace"),
    0x80070005: ("E_ACCESSDENIED", "DCOM refused the account: it must be a local administrator of the site server"),
    0x00000005: ("rpc_s_access_denied", "logon refused: wrong user, domain or password, or no DCOM access"),
    0x80041010: ("WBEM_E_INVALID_CLASS", "the class does not exist in this namespace"),
    0x80041017: ("WBEM_E_INVALID_QUERY", "the query was refused"),
    0x80041002: ("WBEM_E_NOT_FOUND", "the object does not exist"),
    0x80040154: ("REGDB_E_CLASSNOTREG", "WMI is not installed on this server"),
    0x80080005: ("CO_E_SERVER_EXEC_FAILURE", "the WMI service (winmgmt) did not start on this server"),
    0x800706BA: ("RPC_S_SERVER_UNAVAILABLE", "nothing answers on TCP port 135: the server is down, a firewall "
                                             "blocks it or DCOM is disabled"),
}


def error_code(exc: BaseException) -> int | None:
    getter = getattr(exc, "get_error_code", None)
    code = getter() if getter else None
    if code is None and isinstance(exc, OSError) and exc.errno in (errno.ECONNREFUSED, errno.EHOSTUNREACH):
        return 0x800706BA
    if code is None and "rpc_s_access_denied" in str(exc):
        return 0x00000005
    if code is None and "Connection refused" in str(exc):
        return 0x800706BA
    return code


def describe(exc: BaseException, what: str = "") -> str:
    """One line: what failed, the HRESULT name and code, and what it means for an SMS site server."""
    code = error_code(exc)
    prefix = f"{what}: " if what else ""
    if code in NAMES:
        name, meaning = NAMES[code]
        return f"{prefix}{name} (0x{code:08x}): {meaning}"
    if code is not None:
        return f"{prefix}error 0x{code:08x} ({exc})"
    return f"{prefix}{type(exc).__name__}: {exc}"
