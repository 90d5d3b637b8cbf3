"""win_service: start, stop, restart and start mode, with the faults service_wont_stop / service_wont_start."""

from __future__ import annotations

from smslab.handlers import HostContext, module
from smslab.handlers.generic.common import failed, fault_names, find_service


@module("ansible.windows.win_service")
def win_service(ctx: HostContext, args: dict) -> dict:
    name = args.get("name")
    wanted_state, wanted_mode = args.get("state"), args.get("start_mode")
    service_name, service = find_service(ctx, name or "")
    if service is None:
        if wanted_state in ("absent", None) and wanted_mode is None:
            return {"changed": False, "exists": False}
        return failed(f"Service '{name}' is not installed, need to set 'path' to create a new service")
    if wanted_state == "absent":
        return failed("lab: win_service state=absent is not simulated")
    if wanted_state not in (None, "started", "stopped", "restarted"):
        return failed(f"lab: win_service state={wanted_state} is not simulated")
    after = dict(service)
    changed = False
    if wanted_mode is not None and after.get("start_mode") != wanted_mode:
        after["start_mode"], changed = wanted_mode, True
    if wanted_state is not None:
        failure = _service_transition_failure(ctx, service_name, after, wanted_state)
        if failure:
            return failed(failure, name=service_name, exists=True, state=service.get("state"))
        target = "stopped" if wanted_state == "stopped" else "running"
        if wanted_state == "restarted" or after.get("state") != target:
            after["state"], changed = target, True
    if changed and not ctx.check_mode:
        service.update(after)
    return _service_result(service_name, after, changed)


def _service_transition_failure(ctx: HostContext, name: str, service: dict, wanted_state: str) -> str | None:
    """The injected faults: a service that will not stop, or will not start."""
    stopping = wanted_state == "restarted" or (wanted_state == "stopped" and service.get("state") != "stopped")
    starting = wanted_state == "restarted" or (wanted_state == "started" and service.get("state") != "running")
    if stopping and name.lower() in fault_names(ctx, "service_wont_stop"):
        return f"Failed to stop service {name}: lab fault: the service did not stop (service_wont_stop)"
    if starting and name.lower() in fault_names(ctx, "service_wont_start"):
        return f"Failed to start service {name}: lab fault: the service did not start (service_wont_start)"
    return None


def _service_result(name: str, service: dict, changed: bool) -> dict:
    return {
        "changed": changed,
        "exists": True,
        "name": name,
        "display_name": service.get("display_name", name),
        "state": service.get("state", "stopped"),
        "start_mode": service.get("start_mode", "manual"),
        "path": service.get("path"),
        "description": service.get("description", ""),
        "username": service.get("username", "LocalSystem"),
        "desktop_interact": False,
        "dependencies": service.get("dependencies", []),
        "depended_by": service.get("depended_by", []),
        "can_pause_and_continue": False,
    }
