"""win_ping and setup: the connection check and the facts the collection reads."""

from __future__ import annotations

from smslab.handlers import HostContext, module
from smslab.handlers.generic.common import failed


@module("ansible.windows.win_ping")
def win_ping(ctx: HostContext, args: dict) -> dict:
    data = args.get("data", "pong")
    if data == "crash":      # the real module's way to test failure handling
        return failed("boom")
    return {"changed": False, "ping": data}


@module("ansible.windows.setup")
def setup(ctx: HostContext, args: dict) -> dict:
    env = ctx.state.data.get("environment") or {}
    computer = env.get("COMPUTERNAME") or ctx.state.name.upper()
    facts = {
        "ansible_hostname": computer,
        "ansible_nodename": computer,
        "ansible_fqdn": computer,
        "ansible_os_family": "Windows",
        "ansible_system": "Win32NT",
        "ansible_os_name": ctx.state.data.get("os_name", "Microsoft Windows NT 4.0 Server"),
        "ansible_architecture": env.get("PROCESSOR_ARCHITECTURE", "x86"),
        "ansible_env": dict(env),
        "module_setup": True,
    }
    return {"changed": False, "ansible_facts": facts}
