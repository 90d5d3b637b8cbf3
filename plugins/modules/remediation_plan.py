# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: remediation_plan
short_description: Decide what to do about KB Q244405 on a site server, from its facts and a policy
version_added: 0.1.0
description:
  - Decides from the facts of M(sms.remediation.site_facts) and M(sms.remediation.package_facts) whether to
    apply the hotfix and which leftovers to remove, and why each other one is kept or refused, with the steps
    M(sms.remediation.remediate) would run. Changes nothing.
  - The same decision as M(sms.remediation.remediate) with the same options; the hotfix files are looked at on
    the controller (sha256, file version), so the plan refuses what the run would refuse.
  - C(report) decides nothing; C(workaround) removes confirmed leftovers; C(hotfix) applies the hotfix where the
    site is affected; C(auto) does both, since the hotfix stops new leftovers but does not remove existing ones.
  - Runs on the controller from cached facts; it does not contact the host.
extends_documentation_fragment:
  - sms.remediation.common
  - sms.remediation.common.attributes
  - sms.remediation.plan
  - sms.remediation.packages
  - sms.remediation.hotfix
seealso:
  - module: sms.remediation.package_facts
author:
  - SMS Remediation Team (@sms-remediation)
"""

EXAMPLES = r"""
- name: Plan with the default policy
  sms.remediation.remediation_plan:

- name: Only report
  sms.remediation.remediation_plan:
    policy: report
"""

RETURN = r"""
ansible_facts:
  description: Facts added to the host.
  returned: always
  type: dict
  contains:
    sms_plan:
      description:
        - The decision (module_utils/decision.py), as M(sms.remediation.remediate) makes it.
        - C(remove) the leftovers to remove; C(kept) the others with their reason (nobody asked for them);
          C(refused) what was asked for and may not be done (a forced ID that cannot be forced).
        - C(hotfix_refused) true when the hotfix was asked for and must not be applied (console open, services
          missing, installer on Alpha ...); the run would fail at the hotfix step with C(hotfix_reason).
        - C(steps) the steps the run carries out, in order, each with its arguments.
      returned: always
      type: dict
      sample:
        policy: auto
        hotfix: true
        hotfix_method: manual
        hotfix_reason: "affected: SMS 2.0 SP1 (2.00.1380.1000) with Distmgr.dll 2.00.1380.1000 < 2.00.1380.1083: affected; hotfix by method manual"
        hotfix_refused: false
        remove: [{package_id: "60000012", path: "D:\\SMSPKG\\60000012.PCK", status: stale_confirmed}]
        kept: [{id: "60000013", name: 60000013.PCK, reason: "active: listed by this site"}]
        refused: []
        notes: []
        steps: [{kind: workaround, args: {state: absent}}, {kind: hotfix_transaction, args: {staging_dir: "C:\\SMS\\hotfix\\Q244405\\i386"}}]
"""
