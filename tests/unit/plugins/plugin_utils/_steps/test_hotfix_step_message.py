"""What a failed hotfix transaction did to Distmgr.dll, said from the steps it reports (issue 11 defect 5)."""

from __future__ import annotations

import pytest

from ansible_collections.sms.remediation.plugins.plugin_utils._steps.hotfix import what_happened_to_distmgr


def outcome(*steps, restored=False):
    return {"restored": restored, "steps": [{"step": name, "ok": ok, "detail": detail} for name, ok, detail in steps]}


@pytest.mark.parametrize("steps, restored, expected", [
    ((("precheck", False, "staged file altered"),), False, "Distmgr.dll was not changed"),
    ((("stop:SMS_EXECUTIVE", True, None), ("backup", False, "disk full")), False, "Distmgr.dll was not changed"),
    ((("swap", True, None), ("verify", False, "sha256"), ("rollback:restore", True, None)), True,
     "the original Distmgr.dll was restored"),
    ((("swap", True, None), ("verify", False, "sha256"), ("rollback:restore", False, "sharing violation")), False,
     "putting the original Distmgr.dll back FAILED (sharing violation): Distmgr.dll may be the new or a partly "
     "written file; the original is kept as Distmgr.dll.pre-Q244405"),
    ((("swap", False, "sharing violation"),), False,
     "the swap failed and the transaction reports no restore: Distmgr.dll may be partly written; the original is "
     "kept as Distmgr.dll.pre-Q244405"),
    ((("swap", True, None), ("verify", False, "sha256")), False,
     "Distmgr.dll was swapped and the transaction reports no restore: it may be the new file; the original is "
     "kept as Distmgr.dll.pre-Q244405"),
])
def test_the_message_follows_the_steps_taken(steps, restored, expected):
    assert what_happened_to_distmgr(outcome(*steps, restored=restored), ".pre-Q244405") == expected
