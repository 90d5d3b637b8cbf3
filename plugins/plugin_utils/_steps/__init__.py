# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The steps of a remediation plan (private to this collection): plain functions that carry out one
step of ``decision.Plan`` on one host through a ``HostTransport`` and decide nothing. ``run_plan`` runs
the plan's steps in order; the action plugins only build their arguments (facts -> plan -> steps).

Each step returns its record for the outcome (``changed``, what it did, ``diff``) or raises
``StepError`` (or the transport's ``TransportError``)."""

from __future__ import annotations

from ansible_collections.sms.remediation.plugins.plugin_utils._steps.errors import StepError
from ansible_collections.sms.remediation.plugins.plugin_utils._steps.hotfix import hotfix_installer, hotfix_transaction
from ansible_collections.sms.remediation.plugins.plugin_utils._steps.tracing import enable_logging
from ansible_collections.sms.remediation.plugins.plugin_utils._steps.packages import workaround
from ansible_collections.sms.remediation.plugins.plugin_utils._steps.recover import recover_hotfix

__all__ = ["OUTCOME_KEYS", "Progress", "StepError", "run_plan"]

# step kind -> (outcome key, function). ``recover_hotfix`` finishes a journal left by a cut connection.
_RUNNERS = {
    "recover_hotfix": ("recovery", recover_hotfix),
    "enable_logging": ("logging", lambda transport, args, measure: enable_logging(transport, args)),
    "workaround": ("workaround", lambda transport, args, measure: workaround(transport, args)),
    "hotfix_installer": ("hotfix", hotfix_installer),
    "hotfix_transaction": ("hotfix", hotfix_transaction),
}
OUTCOME_KEYS = ("recovery", "logging", "workaround", "hotfix")


class Progress:
    """Where a run of the plan is: the step running now (for the failure record) and the records of
    the steps done."""

    def __init__(self):
        self.step = "plan"
        self.records: dict = {}

    @property
    def changed(self) -> bool:
        return any(record.get("changed") for record in self.records.values())


def run_plan(plan, transport, measure, progress: Progress | None = None) -> Progress:
    """Run ``plan.steps`` in order on ``transport``'s host. ``measure()`` probes the host again and returns
    ``(answer, SiteFacts)``: the hotfix verifies itself with it. Raises at the first step that fails;
    ``progress`` (pass one in to read it after a failure) then names that step."""
    progress = progress or Progress()
    for step in plan.steps:
        if step.kind == "refuse":
            progress.step = step.args["step"]
            raise StepError(f"{transport.host}: {step.args['reason']}")
        if step.kind not in _RUNNERS:
            raise StepError(f"{transport.host}: no step carries out {step.kind!r} in this version of sms.remediation")
        key, runner = _RUNNERS[step.kind]
        progress.step = key
        progress.records[key] = runner(transport, step.args, measure)
    return progress
