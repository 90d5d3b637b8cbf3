# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The site server's registry over MS-RRP (``\\pipe\\winreg``) on the session's SMB connection (private to this collection).

Keys are written as the scripts write them (``HKLM:\\SOFTWARE\\...`` or ``HKLM\\SOFTWARE\\...``); only
HKEY_LOCAL_MACHINE is needed. Values come back as Python values the way PowerShell's ``GetValue`` gives
them: REG_SZ / REG_EXPAND_SZ as text, REG_DWORD / REG_QWORD as int, REG_MULTI_SZ as a list."""

from __future__ import annotations

import re

# impacket / pefile are imported guarded: ansible-test imports every file without them, and the transport says
# what is missing before anything is used (deps.missing()).
try:
    from impacket.dcerpc.v5 import rrp
except ImportError:
    rrp = None

from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.connection import (
    MsrpcSession, status_code)

_HKLM = re.compile(r"^(?:HKLM|HKEY_LOCAL_MACHINE):?\\", re.IGNORECASE)
ERROR_FILE_NOT_FOUND, ERROR_MORE_DATA, ERROR_CANTREAD = 2, 234, 1012
# bytes for all the values of one key: SMS keeps short text; impacket packs the [in] buffer byte by byte (~3 ms of
# controller CPU per KiB and call), so the first try is small
MULTIPLE_BUFFER_SIZES = (256, 16384)
# value types and access rights (MS-RRP 2.2.4 / 2.2.3)
REG_SZ, REG_EXPAND_SZ, REG_DWORD, REG_MULTI_SZ, REG_QWORD = 1, 2, 4, 7, 11
KEY_READ, KEY_SET_VALUE = 0x20019, 0x0002
VALUE_TYPES = {"string": REG_SZ, "expandstring": REG_EXPAND_SZ, "dword": REG_DWORD,
               "qword": REG_QWORD, "multistring": REG_MULTI_SZ}
TYPE_NAMES = {code: name for name, code in VALUE_TYPES.items()}


def subkey(key: str) -> str:
    """``HKLM:\\SOFTWARE\\Microsoft\\SMS`` -> ``SOFTWARE\\Microsoft\\SMS``; ValueError for other hives."""
    match = _HKLM.match(key or "")
    if not match:
        raise ValueError(f"registry key {key!r}: only HKLM keys are read or written")
    return key[match.end():].strip("\\")


def _plain(value_type: int, data):
    if value_type in (REG_SZ, REG_EXPAND_SZ) and isinstance(data, str):
        return data.rstrip("\x00")
    if value_type == REG_MULTI_SZ and isinstance(data, str):
        return data.rstrip("\x00").split("\x00")
    return data


class Registry:
    def __init__(self, session: MsrpcSession):
        self.session = session
        self._root = None
        self._keys: dict[tuple[str, int], object] = {}     # open handles by (subkey, access), reused all session
        self._multiple = True            # BaseRegQueryMultipleValues answered (until a server says otherwise)

    def _dce(self, operation: str):
        return self.session.pipe("winreg", rrp.MSRPC_UUID_RRP, operation)

    def _hklm(self, operation: str):
        if self._root is None:
            try:
                self._root = rrp.hOpenLocalMachine(self._dce(operation))["phKey"]
            except Exception as exc:
                raise self.session.failure(operation, exc, "OpenLocalMachine") from None
        return self._root

    def _open(self, key: str, access: int, operation: str):
        """An open key handle, or None when the key does not exist. A key opened once stays open for the session:
        a server runs down every context handle of a pipe when the pipe is closed (DCE/RPC context handle
        rundown), so closing each key is a round trip that buys nothing."""
        try:
            path = subkey(key)
        except ValueError as exc:
            raise self.session.error(operation, str(exc)) from None
        cached = self._keys.get((path.lower(), access))
        if cached is not None:
            return cached
        dce = self._dce(operation)
        try:
            handle = rrp.hBaseRegOpenKey(dce, self._hklm(operation), path, samDesired=access)["phkResult"]
        except Exception as exc:
            if status_code(exc) == ERROR_FILE_NOT_FOUND:
                return None
            raise self.session.failure(operation, exc, f"registry key {key}") from None
        self._keys[(path.lower(), access)] = handle
        return handle

    def read_values(self, key: str, names: list[str], operation: str = "registry") -> dict | None:
        """``{name: value or None}`` for exactly ``names``; None when the key itself is missing.

        One open (none when the session opened the key before), one BaseRegQueryMultipleValues for all the
        names; when a value is missing (the call fails for all of them) or the server has no such call, one
        BaseRegQueryValue per name."""
        handle = self._open(key, KEY_READ, operation)
        if handle is None:
            return None
        values = self._query_multiple(handle, names) if len(names) > 1 else None
        if values is None:
            values = {name: self._query(handle, key, name, operation)[1] for name in names}
        return values

    def _query_multiple(self, handle, names: list[str]) -> dict | None:
        """Every value of ``names`` in one call (MS-RRP 3.1.5.23), or None to read them one by one."""
        if not self._multiple:
            return None
        request = rrp.BaseRegQueryMultipleValues()
        request["hKey"] = handle
        for name in names:
            entry = rrp.RVALENT()
            entry["ve_valuename"] = name + "\x00"
            entry["ve_valuelen"] = 2 * len(name + "\x00")
            entry["ve_valueptr"] = 0
            entry["ve_type"] = 0
            request["val_listIn"].append(entry)
        request["num_vals"] = len(names)
        for size in MULTIPLE_BUFFER_SIZES:
            request["lpvalueBuf"] = list(bytes(size))      # [in, out]: the server fills it
            request["ldwTotsize"] = size
            try:
                answer = self._dce("registry").request(request)
            except Exception as exc:  # a missing value, no room, or no such call: the caller reads one by one
                code = status_code(exc)
                if code == ERROR_MORE_DATA:
                    continue
                if code not in (ERROR_FILE_NOT_FOUND, ERROR_CANTREAD):
                    self._multiple = False        # not answered by this server: not asked again
                return None
            data = b"".join(answer["lpvalueBuf"])
            values = {}
            for name, entry in zip(names, answer["val_listOut"]):
                raw = data[entry["ve_valueptr"]:entry["ve_valueptr"] + entry["ve_valuelen"]]
                values[name] = _plain(entry["ve_type"], rrp.unpackValue(entry["ve_type"], [raw]))
            return values if len(values) == len(names) else None
        return None

    def _query(self, handle, key: str, name: str, operation: str) -> tuple[int | None, object]:
        try:
            value_type, data = rrp.hBaseRegQueryValue(self._dce(operation), handle, name)
        except Exception as exc:
            if status_code(exc) == ERROR_FILE_NOT_FOUND:
                return None, None
            raise self.session.failure(operation, exc, f"registry value {key}\\{name}") from None
        return value_type, _plain(value_type, data)

    def read_value(self, key: str, name: str, operation: str = "registry") -> tuple[bool, int | None, object]:
        """(key exists, value type or None, value or None)."""
        handle = self._open(key, KEY_READ, operation)
        if handle is None:
            return False, None, None
        value_type, data = self._query(handle, key, name, operation)
        return True, value_type, data

    def set_value(self, key: str, name: str, value_type: str, data, operation: str = "registry") -> None:
        """Write one value in an existing key (the SMS keys are made by SMS setup, never by us)."""
        code = VALUE_TYPES.get(value_type)
        if code is None:
            raise self.session.error(operation, f"value type {value_type!r}: expected one of {', '.join(VALUE_TYPES)}")
        handle = self._open(key, KEY_READ | KEY_SET_VALUE, operation)
        if handle is None:
            raise self.session.error(operation, f"registry key {key} not found")
        if code in (REG_SZ, REG_EXPAND_SZ):
            data = str(data) + "\x00"
        elif code == REG_MULTI_SZ:
            data = "".join(f"{part}\x00" for part in data) + "\x00"
        else:
            data = int(data)
        try:
            rrp.hBaseRegSetValue(self._dce(operation), handle, name, code, data)
        except Exception as exc:
            raise self.session.failure(operation, exc, f"set {key}\\{name}") from None
