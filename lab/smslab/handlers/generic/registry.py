"""win_reg_stat (read-only) and win_regedit over the host's registry (host.json keeps values untyped)."""

from __future__ import annotations

import re

from smslab.handlers import HostContext, LabUnsupported, module
from smslab.handlers.generic.common import failed
from smslab.state import HostState


_REG_STAT_HIVES = {"HKLM": "HKLM", "HKCU": "HKCU", "HKCR": "HKCR", "HKU": "HKU", "HKCC": "HKCC"}
_REG_STAT_TYPES = {"DWord": "REG_DWORD", "QWord": "REG_QWORD", "String": "REG_SZ", "MultiString": "REG_MULTI_SZ"}


def _reg_stat_value(value) -> dict:
    """host.json keeps registry values untyped: int -> REG_DWORD (REG_QWORD above 32 bits), str -> REG_SZ,
    list -> REG_MULTI_SZ (the same reading as win_regedit's)."""
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, int):
        kind = "REG_DWORD" if 0 <= value <= 0xFFFFFFFF else "REG_QWORD"
        return {"type": kind, "value": value, "raw_value": value}
    if isinstance(value, list):
        return {"type": "REG_MULTI_SZ", "value": list(value), "raw_value": list(value)}
    return {"type": "REG_SZ", "value": str(value), "raw_value": str(value)}


@module("ansible.windows.win_reg_stat")
def win_reg_stat(ctx: HostContext, args: dict) -> dict:
    path = str(args.get("path") or args.get("key") or "")
    name = args.get("name", args.get("entry", args.get("value")))
    match = re.match(r"^(HK(?:CC|CR|CU|LM|U)):\\(.*)$", path)
    if not match:
        return failed(f"path: {path} is not a valid registry path, see module documentation for examples.")
    key = f"{_REG_STAT_HIVES[match.group(1)]}\\{match.group(2)}".rstrip("\\")
    registry = ctx.state.data.get("registry", {})
    values = ctx.state.registry_key(key)
    prefix = key.lower() + "\\"
    children = [stored for stored in registry if stored.lower().startswith(prefix)]
    if values is None and not children:
        return {"changed": False, "exists": False}
    values = values or {}
    if name is None:
        sub_keys = sorted({stored[len(prefix):].split("\\")[0] for stored in children})
        return {"changed": False, "exists": True, "sub_keys": sub_keys,
                "properties": {k: _reg_stat_value(v) for k, v in values.items()}}
    for value_name, value in values.items():
        if value_name.lower() == str(name).lower():
            return {"changed": False, "exists": True, **_reg_stat_value(value)}
    return {"changed": False, "exists": False}


# host.json keeps registry data without a type: an int is a DWord (a QWord above 0xffffffff), a str a
# String, a list of str a MultiString. Only the types the collection can ask for are simulated.
_REG_TYPES = {"dword": "DWord", "qword": "QWord", "string": "String", "expandstring": "ExpandString",
              "multistring": "MultiString"}
_REG_PATH = re.compile(r"^HK(CC|CR|CU|LM|U):\\", re.IGNORECASE)


def _reg_type_of(value) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, str, list)):
        return "Unknown"
    if isinstance(value, int):
        return "QWord" if value > 0xFFFFFFFF else "DWord"
    return "MultiString" if isinstance(value, list) else "String"


def _reg_diff_value(kind: str, value) -> dict:
    if kind == "DWord":
        return {"type": kind, "value": f"0x{value & 0xFFFFFFFF:08x}"}
    if kind == "QWord":
        return {"type": kind, "value": f"0x{value & 0xFFFFFFFFFFFFFFFF:016x}"}
    return {"type": kind, "value": value}


def _reg_data(kind: str, data):
    """The module's conversion of ``data`` for ``type`` (None for dword/qword is 0)."""
    if kind in ("DWord", "QWord"):
        limit = 0xFFFFFFFF if kind == "DWord" else 0xFFFFFFFFFFFFFFFF
        try:
            number = 0 if data is None else int(str(data), 0) if isinstance(data, str) else int(data)
        except (TypeError, ValueError):
            raise LabUnsupported(f"win_regedit data {data!r} is not a number for type {kind}") from None
        if isinstance(data, float) and data % 1:
            raise LabUnsupported(f"data '{data}' cannot be a decimal or float value with a remainder")
        if not 0 <= number <= limit:
            raise LabUnsupported(f"data cannot be larger than 0x{limit:x} when type is {kind.lower()}")
        return number
    if kind == "MultiString":
        return [] if data is None else [str(item) for item in data] if isinstance(data, list) else [str(data)]
    return "" if data is None else str(data)


def _reg_key(state: HostState, path: str) -> tuple[str, dict | None, bool]:
    """(stored name or path, values or None, exists): a key exists if stored or a parent of a stored key."""
    wanted = path.replace(":", "", 1).rstrip("\\")
    values = state.registry_key(wanted)
    if values is not None:
        stored = next(name for name in state.data.get("registry", {}) if name.lower() == wanted.lower())
        return stored, values, True
    prefix = wanted.lower() + "\\"
    exists = any(name.lower().startswith(prefix) for name in state.data.get("registry", {}))
    return wanted, None, exists


@module("ansible.windows.win_regedit")
def win_regedit(ctx: HostContext, args: dict) -> dict:
    path = args.get("path") or args.get("key")
    name = args.get("name", args.get("entry", args.get("value")))
    name = None if name == "" else name
    kind = _REG_TYPES.get(str(args.get("type") or args.get("datatype") or "string").lower())
    wanted_state = args.get("state") or "present"
    if not path:
        return failed("missing required arguments: path")
    if args.get("hive"):
        return failed("lab: win_regedit hive is not simulated")
    if kind is None:
        return failed(f"lab: win_regedit type={args.get('type')} is not simulated")
    if wanted_state not in ("present", "absent"):
        return failed(f"value of state must be one of: present, absent, got: {wanted_state}")
    if not _REG_PATH.match(path):
        return failed(f"path: {path} is not a valid powershell path, see module documentation for examples.")
    if name is None and kind != "String":
        kind = "String"      # the (Default) value can only be a string
    result = {"changed": False, "data_changed": False, "data_type_changed": False}
    before, after = _regedit_absent(ctx, path, name, args, result) if wanted_state == "absent" else \
        _regedit_present(ctx, path, name, kind, args, result)
    if ctx.diff:
        result["diff"] = {"before": before, "after": after}
    return result


def _value_name(values: dict | None, name: str) -> str | None:
    """The stored spelling of a value name (registry value names are case-insensitive)."""
    return next((stored for stored in (values or {}) if stored.lower() == name.lower()), None)


def _regedit_present(ctx: HostContext, path: str, name, kind: str, args: dict, result: dict):
    stored_key, values, exists = _reg_key(ctx.state, path)
    if not exists:
        result["changed"] = True
        before, after = {}, {path: {}}
        if not ctx.check_mode:
            ctx.state.data.setdefault("registry", {})[stored_key] = {}
    else:
        before, after = {path: {}}, {path: {}}
    if (not exists and ctx.check_mode) or (name is None and args.get("data") is None):
        return before, after     # the module stops here too: no key to read yet, or nothing to set
    data = _reg_data(kind, args.get("data"))
    value_key = "" if name is None else name
    stored_name = _value_name(values, value_key)
    if stored_name is not None:
        existing = values[stored_name]
        existing_kind = _reg_type_of(existing)
        result["data_type_changed"] = existing_kind != kind
        result["data_changed"] = existing != data
        if result["data_type_changed"] or result["data_changed"]:
            result["changed"] = True
            before[path][name] = _reg_diff_value(existing_kind, existing)
            after[path][name] = _reg_diff_value(kind, data)
            if not ctx.check_mode:
                ctx.state.set_registry_value(stored_key, stored_name, data)
        else:
            before[path][name] = after[path][name] = _reg_diff_value(existing_kind, existing)
    else:
        result["changed"] = True
        after[path][name] = _reg_diff_value(kind, data)
        if not ctx.check_mode:
            ctx.state.set_registry_value(stored_key, value_key, data)
    return before, after


def _regedit_absent(ctx: HostContext, path: str, name, args: dict, result: dict):
    stored_key, values, exists = _reg_key(ctx.state, path)
    if not exists:
        return "", ""
    if name is None and args.get("delete_key", True):
        result["changed"] = True
        if not ctx.check_mode:
            registry = ctx.state.data.get("registry", {})
            prefix = stored_key.lower() + "\\"
            for stored in [k for k in registry if k.lower() == stored_key.lower() or k.lower().startswith(prefix)]:
                del registry[stored]
        return {path: {}}, {}
    stored_name = _value_name(values, "" if name is None else name)
    if stored_name is None:
        return "", ""
    result["changed"] = True
    before = {path: {name: _reg_diff_value(_reg_type_of(values[stored_name]), values[stored_name])}}
    if not ctx.check_mode:
        del values[stored_name]
    return before, {path: {}}
