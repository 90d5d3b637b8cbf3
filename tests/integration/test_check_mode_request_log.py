"""The check-mode assertion of test_check_mode_fleet.py can fail: it reads what the controller sent from the lab's
request log, so it catches a controller that sends a change in --check even though the lab refuses that change
and the hosts stay byte-identical.

The broken controller is the collection with its remediate action plugin replaced by a subclass of the real one
that decides as in a real run but still sends every module in check mode: with the workaround policy it sends the
removal (the compressed_package script) in --check. collection_overlay.py puts it together in the test's
temporary folder and first on the collections path.
"""

from __future__ import annotations

from collection_overlay import overlay_collection
from lab_harness import SCENARIOS
from request_log import changes_sent_in_check_mode, check_mode_violation, hosts_without_a_probe

BROKEN_REMEDIATE = '''\
"""Deliberately broken for a test: the task decides as in a real run (its check-mode flag is lost on the way to
the steps), while every module still goes to the host in check mode. So the removal is sent in --check, and the
lab, like the host script, only answers what it would do."""
from ansible_collections.sms.remediation.plugins.action._real_remediate import ActionModule as RealRemediate


class ActionModule(RealRemediate):
    def run(self, tmp=None, task_vars=None):
        self._task.check_mode = False
        return super().run(tmp, task_vars)

    def _update_module_args(self, module_name, module_args, task_vars, ignore_unknown_opts=False):
        super()._update_module_args(module_name, module_args, task_vars, ignore_unknown_opts=ignore_unknown_opts)
        module_args["_ansible_check_mode"] = True
'''


def test_a_controller_that_sends_the_removal_in_check_mode_is_caught(lab_factory, tmp_path):
    lab = lab_factory(SCENARIOS / "demo.yml")
    lab.env = dict(lab.env, ANSIBLE_COLLECTIONS_PATH=str(overlay_collection(tmp_path / "broken", {"remediate": BROKEN_REMEDIATE})))
    before = lab.state_hash()
    run = lab.playbook("--check", "--diff", extra_vars={"q244405_policy": "workaround"})
    assert lab.state_hash() == before, "the lab changed a host in check mode"   # blind to the broken step
    sent = changes_sent_in_check_mode(lab.state_dir, lab.host_names)
    assert any("script compressed_package" in line for line in sent), (sent, run.stdout[-4000:])
    assert hosts_without_a_probe(lab.state_dir, lab.host_names) == []


def test_the_real_controller_sends_no_change_in_check_mode(lab_factory):
    lab = lab_factory(SCENARIOS / "demo.yml")
    run = lab.playbook("--check", "--diff", extra_vars={"q244405_enable_distmgr_logging": True})
    assert lab.host_names and not run.failed_hosts(), run.stdout[-4000:]
    # win_regedit predicts the logging change (its own check mode); nothing else but the probe is sent
    assert changes_sent_in_check_mode(lab.state_dir, lab.host_names,
                                      predicting={"ansible.windows.win_regedit"}) == []
    assert hosts_without_a_probe(lab.state_dir, lab.host_names) == []


def test_each_kind_of_change_is_named():
    probe = {"name": "ansible.windows.win_powershell", "script": "probe", "check_mode": True}
    assert check_mode_violation(probe) is None
    assert check_mode_violation(dict(probe, check_mode=False)) == "sent without check mode"
    for script in ("compressed_package", "hotfix_transaction", None):
        assert check_mode_violation(dict(probe, script=script)) == "a script that changes the host"
    for module in ("win_regedit", "win_service", "win_copy", "win_command"):
        entry = {"name": f"ansible.windows.{module}", "check_mode": True}
        assert check_mode_violation(entry) == "a module that changes the host"
    regedit = {"name": "ansible.windows.win_regedit", "check_mode": True}
    assert check_mode_violation(regedit, frozenset({"ansible.windows.win_regedit"})) is None
    assert check_mode_violation(dict(regedit, check_mode=False), frozenset({"ansible.windows.win_regedit"}))
    assert check_mode_violation({"name": "winrm_put_file.ps1"}).startswith("a command that is not a module")
    assert check_mode_violation({"name": "raw"}).startswith("a command that is not a module")
    assert check_mode_violation({"name": "cleanup"}) is None
