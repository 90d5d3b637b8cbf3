# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Step ``enable_logging`` (private to this collection): Distribution Manager tracing on."""

from __future__ import annotations


def enable_logging(transport, args: dict) -> dict:
    """Set the tracing value to 1 (dword) where the plan says it is off; restart ``restart_service``
    when the value was changed (SMS_EXECUTIVE reads it when it starts). Check mode: what would change."""
    record = {"registry_key": args["registry_key"], "value_name": args["value_name"],
              "was_enabled": args["was_enabled"], "changed": False, "executive_restarted": False}
    if not args["set"]:
        return record
    reply = transport.set_registry_value(args["registry_key"], args["value_name"], 1, "dword")
    record["changed"] = bool(reply.get("changed"))
    if reply.get("diff"):
        record["diff"] = reply["diff"]
    if record["changed"] and args["restart_service"]:
        record["executive_restarted"] = bool(transport.restart_service(args["restart_service"]).get("changed"))
    return record
