# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: distmgr_hotfix
short_description: Apply the KB Q244405 hotfix (Distmgr.dll) to an SMS 2.0 site server
version_added: 0.1.0
description:
  - Applies the hotfix only where the site is affected (SMS 2.0 RTM or SP1 whose C(Distmgr.dll) is older than
    the fixed version and without C(Q244405.log)); a fixed host reports C(changed=false).
  - O(method=installer) runs C(Q244405.exe /s) on the host (KB method 1, I386 only; refused on Alpha).
  - O(method=manual) is KB method 2 as one transaction on the host. The new C(Distmgr.dll) is first staged on
    the host (ordinary copy, sha256 checked); then ONE script stops SMS_SITE_COMPONENT_MANAGER, SMS_EXECUTIVE
    and SMS_SITE_BACKUP (those running), backs up C(Distmgr.dll), swaps it, verifies sha256 and file version,
    starts the services that were running and checks they run. Any failure after the first stop restores the
    backup and starts the services again, so a dropped connection cannot leave the site stopped.
  - Both methods end with a new probe; the task fails unless the host now reads as fixed.
  - The hotfix stops new leftovers; it does not remove existing ones (use M(sms.remediation.compressed_package)).
extends_documentation_fragment:
  - sms.remediation.common
  - sms.remediation.common.attributes
  - sms.remediation.msrpc
  - sms.remediation.hotfix
  - sms.remediation.hotfix.transaction
options:
  method:
    description: C(installer) runs C(Q244405.exe /s); C(manual) replaces C(Distmgr.dll).
    type: str
    choices: [installer, manual]
    required: true
  src:
    description: Controller path of the fixed C(Distmgr.dll) for the host's platform (O(method=manual)).
    type: path
  sha256:
    description:
      - Expected sha256 of O(src). When given, a different file fails the task before anything is copied.
    type: str
notes:
  - Pre-checks, an affected build, a known platform, the SMS services present, the console closed.
  - The backup is kept as C(Distmgr.dll.pre-Q244405) beside the original (the suffix is the C(sms20) key C(backup_suffix)).
seealso:
  - module: sms.remediation.site_facts
  - module: sms.remediation.compressed_package
author:
  - SMS Remediation Team (@sms-remediation)
"""

EXAMPLES = r"""
- name: Replace Distmgr.dll by hand, the KB's method 2
  sms.remediation.distmgr_hotfix:
    method: manual
    src: "files/{{ ansible_facts.sms_site.platform }}/Distmgr.dll"

- name: Run the hotfix installer quietly (I386 only)
  sms.remediation.distmgr_hotfix:
    method: installer
    installer_path: \\fileserver\hotfixes\Q244405\Q244405.exe
"""

RETURN = r"""
outcome:
  description: C(already_fixed), C(replaced), C(installed), C(would_replace) or C(would_install).
  returned: always
  type: str
  sample: replaced
fixed_by:
  description: What fixes the host after the task (C(sp2), C(hotfix)) or null.
  returned: always
  type: str
distmgr_version:
  description: Distmgr.dll file version before and after.
  returned: always
  type: dict
  sample: {before: 2.00.1380.1000, after: 2.00.1380.1083}
services:
  description: Service states before and after the transaction (O(method=manual)).
  returned: when the transaction ran
  type: dict
steps:
  description: The transaction's steps with their outcome (O(method=manual)).
  returned: when the transaction ran
  type: list
  elements: dict
"""
