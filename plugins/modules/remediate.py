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
options:
  policy:
    description:
      - C(auto) applies the hotfix where the site is affected and removes the confirmed leftovers;
        C(workaround) removes leftovers only; C(hotfix) applies the hotfix only; C(report) changes nothing.
    type: str
    choices: [auto, report, workaround, hotfix]
    default: auto
  min_evidence:
    description: The weakest evidence level the workaround acts on; see M(sms.remediation.package_facts).
    type: str
    choices: [log_and_origin, origin, log, absent_here]
    default: origin
  force:
    description: Package IDs to remove although their evidence is weaker than O(min_evidence) (never active ones).
    type: list
    elements: str
    default: []
  origin_sites:
    description:
      - Facts of the other sites, keyed by site code (the filter P(sms.remediation.origin_sites#filter) builds it).
      - When empty, the run's index in the variable C(q244405_origin_sites) is used (the dict or its JSON
        text), else the C(sms_site) facts of every host gathered in this run.
    type: dict
    default: {}
  package_folders:
    description: Package folders to probe when no C(sms_probe) fact exists; see M(sms.remediation.site_facts).
    type: list
    elements: str
    default: []
  workaround_state:
    description: C(absent) deletes the leftovers; C(quarantined) moves them to O(quarantine_dir) with a manifest.
    type: str
    choices: [absent, quarantined]
    default: absent
  quarantine_dir:
    description:
      - Host folder for O(workaround_state=quarantined), drive-absolute (C(X:\...)).
      - With the C(msrpc) transport, on the same drive as the package folder - a move there is an SMB rename, which
        cannot cross drives; a leftover on another drive is refused in the plan (check mode too) with a reason
        naming the host and both drives. Over C(winrm) PowerShell's move copies across drives.
    type: str
  hotfix_method:
    description: C(manual) replaces C(Distmgr.dll) (any platform); C(installer) runs C(Q244405.exe /s) (I386 only).
    type: str
    choices: [installer, manual]
    default: manual
  hotfix_files:
    description: Controller path of the fixed C(Distmgr.dll) per platform folder (C(i386), C(alpha)), for C(manual).
    type: dict
    default: {}
  hotfix_sha256:
    description: Expected sha256 per platform of the O(hotfix_files), checked before anything is copied.
    type: dict
    default: {}
  installer_path:
    description: Host or UNC path of C(Q244405.exe), for O(hotfix_method=installer).
    type: str
  staging_dir:
    description: Host folder where the new C(Distmgr.dll) is staged; see M(sms.remediation.distmgr_hotfix).
    type: str
  allow_console_open:
    description: Apply the hotfix although the SMS Administrator console is open, or cannot be checked (WMI down, or
      C(msrpc) without WMI; unknown is refused like open). The KB asks to close it.
    type: bool
    default: false
  allow_cross_build:
    description:
      - Apply the hotfix although its C(Distmgr.dll) belongs to another SMS build than the site's (the KB's
        hotfix DLL, 2.00.1380.1083, is the SP1 bundle's; on an RTM site, build 1239, it mixes component
        builds, which KB Q244405 does not describe; its resolution there is the service pack).
      - Without it such a site is not given the hotfix and the plan says why. Set it for one run, knowingly.
    type: bool
    default: false
  wait_seconds:
    description: Bounded wait for each service to stop or start during the hotfix.
    type: int
    default: 120
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
