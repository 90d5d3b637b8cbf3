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
options:
  method:
    description: C(installer) runs C(Q244405.exe /s); C(manual) replaces C(Distmgr.dll).
    type: str
    choices: [installer, manual]
    required: true
  installer_path:
    description: Path of C(Q244405.exe) on the host (or a UNC path), with its C(I386) folder beside it.
    type: str
  src:
    description: Controller path of the fixed C(Distmgr.dll) for the host's platform (O(method=manual)).
    type: path
  sha256:
    description:
      - Expected sha256 of O(src). When given, a different file fails the task before anything is copied.
    type: str
  staging_dir:
    description:
      - Host folder where the new C(Distmgr.dll) is staged before the swap. Default C(<sms_root>\hotfix\Q244405\<platform>).
    type: str
  allow_console_open:
    description:
      - Proceed although the SMS Administrator console (C(mmc.exe) with C(sms.msc)) is open on the host, or although
        the probe cannot tell whether it is open (its WMI console check failed - WMI down, or the C(msrpc) transport
        without WMI); unknown is refused like open, with the probe's cause.
      - The KB asks to close it first.
    type: bool
    default: false
  allow_cross_build:
    description:
      - Apply the hotfix although its C(Distmgr.dll) belongs to another SMS build than the site's (the KB's
        hotfix DLL, 2.00.1380.1083, is the SP1 bundle's; on an RTM site, build 1239, it mixes component
        builds, which KB Q244405 does not describe; its resolution there is the service pack).
      - Without it the task fails on such a site, saying so.
    type: bool
    default: false
  wait_seconds:
    description: Bounded wait for each service to stop or start.
    type: int
    default: 120
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
