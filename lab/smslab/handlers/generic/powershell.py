"""win_powershell: the collection's scripts, dispatched on their marker line to SCRIPT_HANDLERS."""

from __future__ import annotations

from smslab.handlers import SCRIPT_HANDLERS, HostContext, ScriptError, module, script_name


@module("ansible.windows.win_powershell")
def win_powershell(ctx: HostContext, args: dict) -> dict:
    text = args.get("script") or ""
    name = script_name(text)
    ctx.notes["script"] = name
    if ctx.check_mode and "SupportsShouldProcess" not in text:
        return {**_empty_streams(), "changed": True, "msg": "skipped, running in check mode"}
    handler = SCRIPT_HANDLERS.get(name) if name else None
    if handler is None:
        first_line = text.strip().splitlines()[0] if text.strip() else "(empty script)"
        return _script_failed(f"lab: script not simulated: {name or first_line!r}")
    try:
        result, changed = handler(ctx, dict(args.get("parameters") or {}), script_text=text)
    except ScriptError as exc:
        return _script_failed(str(exc))
    return {**_empty_streams(), "changed": bool(changed), "result": result, "failed": False}


def _empty_streams() -> dict:
    return {"output": [], "error": [], "host_out": "", "host_err": "", "warning": [],
            "verbose": [], "debug": [], "information": [], "result": {}}


def _script_failed(message: str) -> dict:
    error = {"output": message, "error_details": None, "exception": {"message": message, "type": "lab.ScriptError"},
             "target_object": None, "category_info": {"category": "NotSpecified", "reason": "ScriptError"},
             "fully_qualified_error_id": "lab.ScriptError", "script_stack_trace": ""}
    return {**_empty_streams(), "changed": False, "failed": True, "msg": message, "error": [error]}
