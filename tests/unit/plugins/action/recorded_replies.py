"""Replies of the remote modules as the action plugins received them from the lab, recorded by
record_replies.py into recorded_replies.json (see there for how and when to record again).

``calls(recording, host)`` gives a host's recorded module calls in order; ``powershell_reply(result)`` is a
``win_powershell`` reply with every key the recorded one has (streams, ``error``, ``output`` ...), carrying the
given ``$Ansible.Result``, for tests that need a result the lab scenarios do not produce.
"""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path

RECORDING_FILE = Path(__file__).resolve().parent / "recorded_replies.json"
POWERSHELL = "ansible.windows.win_powershell"


@functools.lru_cache(maxsize=1)
def _recordings() -> dict:
    return json.loads(RECORDING_FILE.read_text(encoding="utf-8"))["recordings"]


def recordings() -> dict:
    return copy.deepcopy(_recordings())


def calls(recording: str, host: str, script: str | None = None) -> list[dict]:
    """The host's recorded calls in ``recording`` (optionally only those of one script, by marker name)."""
    found = [call for call in recordings()[recording]["calls"] if call["host"] == host]
    if script is not None:
        found = [call for call in found if call["script"] and call["script"].startswith(f"# sms.remediation:{script} ")]
    assert found, f"recorded_replies.json: no {script or ''} call of {host} in {recording}"
    return found


def recorded_reply(recording: str, host: str, script: str, index: int = 0) -> dict:
    """The reply to the host's ``index``-th call of ``script`` (marker name, e.g. ``probe``)."""
    return calls(recording, host, script)[index]["reply"]


@functools.lru_cache(maxsize=1)
def _envelope() -> dict:
    """A successful recorded win_powershell reply without its result: the keys every such reply has."""
    for recording in _recordings().values():
        for call in recording["calls"]:
            reply = call["reply"]
            if call["module"] == POWERSHELL and not reply.get("failed") and isinstance(reply.get("result"), dict):
                return {key: value for key, value in reply.items() if key not in ("result", "changed")}
    raise AssertionError("recorded_replies.json holds no successful win_powershell reply")


def powershell_reply(result: dict, changed: bool = False) -> dict:
    """A win_powershell reply shaped as the recorded ones, with ``result`` as its ``$Ansible.Result``."""
    return dict(copy.deepcopy(_envelope()), changed=changed, result=result)
