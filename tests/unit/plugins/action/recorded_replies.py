"""Recorded reply shapes of the remote modules the action plugins call."""

from __future__ import annotations


def powershell_reply(result: dict, changed: bool = False) -> dict:
    return {"changed": changed, "result": result, "output": [], "error": [], "host_out": "", "host_err": ""}
