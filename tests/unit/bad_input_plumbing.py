"""The plumbing of the bad-input catalogue (test_bad_input_catalogue.py): the site 610 with its genuine
confirmed leftover ``GOOD``, the parent's facts, the plan, and a compressed_package action plugin whose remote
calls are recorded (``Recorder``) so a row can prove nothing was sent to the host."""
from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
for extra in (HERE / "plugins" / "module_utils", HERE / "plugins" / "action"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

from ansible_collections.sms.remediation.plugins.module_utils import sms20  # noqa: E402
from ansible_collections.sms.remediation.plugins.module_utils.decision import plan  # noqa: E402
from ansible_collections.sms.remediation.plugins.module_utils.leftovers import (  # noqa: E402
    classify,
    origin_view_from_facts,
)
from ansible_collections.sms.remediation.plugins.module_utils.probe_result import parse_probe  # noqa: E402

from mocked_action import mocked_action  # noqa: E402
import probe_builders as pb  # noqa: E402
from probe_builders import request  # noqa: E402
from recorded_replies import powershell_reply  # noqa: E402

TABLE = sms20.merge_overrides(None)
HOST = "sms610"
PWSH = "ansible.windows.win_powershell"
GOOD = "60000012"            # a confirmed leftover (claimed in the log, gone at its origin 600)
ACTIVE_AT_ORIGIN = "60000013"
PARENT_FACTS = {"host": "sms600", "site_code": "600",
                "active": {"available": True, "ids": [ACTIVE_AT_ORIGIN], "deleting": []}}
CLAIM = (pb.deleting(GOOD), pb.deleted(GOOD))


class Recorder:
    """Stands in for ``_execute_module``: answers win_powershell with ``reply``, records every call."""

    def __init__(self, reply=None):
        self.reply = reply
        self.calls = []

    def __call__(self, module_name=None, module_args=None, task_vars=None, **_unused):
        self.calls.append((module_name, module_args))
        if self.reply is None:
            raise AssertionError(f"unexpected remote call {module_name}")
        return self.reply

    def sent_items(self) -> list:
        return [item for name, args in self.calls if name == PWSH
                for item in (args.get("parameters") or {}).get("Items") or []]


def make_action(module: str, args: dict, reply=None, check_mode: bool = False):
    return mocked_action(module, args, Recorder(reply), check_mode)


def task_vars_for(probe_answer, parent=True):
    hostvars = {"sms600": {"ansible_facts": {"sms_site": PARENT_FACTS}}} if parent else {}
    return {"inventory_hostname": HOST, "hostvars": hostvars,
            "ansible_facts": {"sms_probe": probe_answer, "sms_packages": {"min_evidence": "origin"}}}


def echo_reply(items_removed=()):
    return powershell_reply({"items": [{"id": pid, "path": f"D:\\SMSPKG\\{pid}.PCK", "outcome": "removed",
                                        "reason": None, "sha256": "00", "size": 1} for pid in items_removed],
                             "manifest": None}, changed=bool(items_removed))


def child(files=(), log=CLAIM, **overrides):
    """The child site 610 with a genuine confirmed leftover GOOD plus ``files``."""
    answer = pb.site_probe("610", "600", files=[pb.pck(GOOD), *files], log=log)
    answer.update(overrides)
    return answer


def decide(answer, parent=True, min_evidence="origin", force=()):
    site = parse_probe(HOST, answer, TABLE)
    origins = {"600": origin_view_from_facts(PARENT_FACTS)} if parent else {}
    items = classify(site, origins, min_evidence)
    return site, items, plan(site, items, request("auto", None, True, force), TABLE)
