# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: remediate
short_description: Remediate KB Q244405 on one SMS 2.0 site server, in one task
version_added: 0.2.0
description:
  - The whole remediation of one site server as one task, which the C(sms.remediation.q244405) role runs
    on each host. In order, classifies the compressed package copies (as M(sms.remediation.package_facts)),
    decides from O(policy) (as M(sms.remediation.remediation_plan)), turns Distribution Manager logging on
    when asked, removes or quarantines the confirmed leftovers (as M(sms.remediation.compressed_package)),
    applies the hotfix where the site is affected (as M(sms.remediation.distmgr_hotfix)), then probes the
    host again when something changed.
  - Decides from the C(sms_probe) fact of an earlier M(sms.remediation.site_facts) (no round trip); without
    it, runs the probe itself.
  - In check mode the facts gathered in this run say what would be removed and whether the hotfix would run;
    nothing is sent to the host after the probe, except the check-mode C(ansible.windows.win_regedit) (and
    C(win_service)) of O(enable_distmgr_logging). C(--diff) shows the files, C(Distmgr.dll) and the logging value.
  - A host where nothing needs doing reports C(changed=false) and costs no round trip beyond the probe.
  - The step that fails stops the task. The failed result still carries the outcome record,
    so the fleet report shows what was done before the failure and where it failed.
extends_documentation_fragment:
  - sms.remediation.common
  - sms.remediation.common.attributes
  - sms.remediation.msrpc
  - sms.remediation.plan
  - sms.remediation.packages
  - sms.remediation.packages.folders
  - sms.remediation.packages.evidence
  - sms.remediation.hotfix
  - sms.remediation.hotfix.transaction
options:
  enable_distmgr_logging:
    description:
      - Set the Distribution Manager tracing value (key and value name from the C(sms20) table) to 1 where
        logging is off, so that the next run has log evidence. Any policy.
    type: bool
    default: false
  restart_executive:
    description:
      - Restart a running C(SMS_EXECUTIVE) when O(enable_distmgr_logging) changed the value, so that logging
        starts now rather than at its next restart.
    type: bool
    default: false
  verify:
    description:
      - Probe the host again after a change, so the facts and the report show the measured state.
      - The hotfix always verifies itself; its probe serves when it ran.
    type: bool
    default: true
  stop_reason:
    description:
      - When not empty, the host is not remediated, only classified, and the outcome record says C(skipped)
        with this reason.
    type: str
    default: ""
  stop_at_failed_child:
    description:
      - Do not remediate a site whose child site failed (or was itself stopped) earlier in the play, as
        O(stop_reason) does, with a reason naming each such child host and site (the role's
        C(q244405_stop_at_failed_child); the play runs children first). The children are read from every play
        host's C(sms_site) facts and outcome record.
    type: bool
    default: false
notes:
  - The outcome record is the fact C(q244405_outcome), which M(sms.remediation.fleet_report) reads.
  - A hotfix transaction cut in the middle (the connection lost while it ran) leaves a journal on the host; the
    next run finishes it first, rolling back or completing it, so the services end in their original states and
    C(Distmgr.dll) is the original or the verified new one. Under C(policy=report) it is only noted.
seealso:
  - module: sms.remediation.site_facts
  - module: sms.remediation.compressed_package
  - module: sms.remediation.distmgr_hotfix
  - module: sms.remediation.fleet_report
author:
  - SMS Remediation Team (@sms-remediation)
"""

EXAMPLES = r"""
- name: Gather facts on every site server first (origin evidence)
  sms.remediation.site_facts:

- name: Remove the confirmed leftovers and replace Distmgr.dll where affected
  sms.remediation.remediate:
    policy: auto
    hotfix_files:
      i386: /srv/hotfix/Q244405/i386/Distmgr.dll
      alpha: /srv/hotfix/Q244405/alpha/Distmgr.dll

- name: Quarantine the leftovers instead of deleting them, and turn logging on
  sms.remediation.remediate:
    policy: workaround
    workaround_state: quarantined
    quarantine_dir: D:\Q244405-quarantine
    enable_distmgr_logging: true
"""

RETURN = r"""
q244405_outcome:
  description:
    - This host's outcome record, in the result of a failed task (a failed task sets no facts); otherwise
      it is the fact C(q244405_outcome).
    - C(site_before) and C(packages_before) are the facts decided from, C(plan) the decision, C(logging),
      C(workaround) and C(hotfix) the result of each step that ran (those of M(sms.remediation.compressed_package)
      and M(sms.remediation.distmgr_hotfix)), C(error) and C(failed_step) say where it failed, C(skipped) why
      it was not remediated. C(site_before) is there when the host changed (or failed in a task that
      probed it itself); otherwise the C(sms_site) fact is the state before (and after).
    - C(recovery) is there when the probe found the journal of a hotfix transaction a cut connection had left
      (C(<sms_root>\Logs\Q244405.journal.json)); it ran before every other step and says C(action)
      (C(rollback) or C(complete)), C(outcome), C(transaction_id), C(reasons) and the transaction's C(steps).
  returned: failure
  type: dict
  sample: {error: null, plan: {policy: auto, hotfix: true}, workaround: {removed: [60000012]}, hotfix: {outcome: replaced}}
ansible_facts:
  description: Facts added to the host.
  returned: success
  type: dict
  contains:
    sms_site:
      description: The site facts, when this task probed the host (no earlier site_facts) or measured it again after a change.
      returned: when they are new
      type: dict
    sms_packages:
      description: The classification (after the run when it measured the host again).
      returned: always
      type: dict
    sms_plan:
      description:
        - The decision, with the steps run and every refusal with its reason (see M(sms.remediation.remediation_plan)).
        - Leftovers nobody asked for are C(kept) with their reason; C(refused) lists only what was asked for.
      returned: unless skipped
      type: dict
    q244405_outcome:
      description: The outcome record.
      returned: always
      type: dict
"""
