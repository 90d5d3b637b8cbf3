"""meta/runtime.yml's action group: module_defaults for every sms.remediation module at once."""

from __future__ import annotations

import subprocess

from lab_harness import VENV_BIN, ansible_env

PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  module_defaults:
    group/sms.remediation.sms:
      sms20: {claim_tolerance_hours: -1}
  tasks:
    - name: Any module of the group gets the default
      sms.remediation.fleet_report:
        hosts: []
        dest: "{{ report_dir }}"
        policy: auto
"""


def test_group_module_defaults_reach_the_modules(tmp_path):
    playbook = tmp_path / "defaults.yml"
    playbook.write_text(PLAYBOOK, encoding="utf-8")
    run = subprocess.run([str(VENV_BIN / "ansible-playbook"), str(playbook), "-e", f"report_dir={tmp_path / 'reports'}"],
                         env=ansible_env(tmp_path), capture_output=True, text=True, check=False, timeout=120)
    assert run.returncode != 0, run.stdout[-2000:]
    # the group default arrived: the module refuses the override it carries, naming the host and the cause
    assert "localhost: invalid sms20 override: sms20 override claim_tolerance_hours=-1: expected 0 or more hours" \
        in run.stdout, run.stdout[-2000:]
    assert not (tmp_path / "reports").exists()
