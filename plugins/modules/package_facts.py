# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: package_facts
short_description: Classify the compressed package copies (.PCK) of an SMS 2.0 site, with evidence
version_added: 0.1.0
description:
  - Classifies every file in the site's package folders (C(<drive>:\SMSPKG)) as C(stale_confirmed),
    C(stale_unconfirmed), C(active) or C(unknown), each with the evidence it rests on.
  - Evidence levels, strongest first, C(log_and_origin) (Distmgr.log claims the deletion, the package is
    gone at the site that created it and absent here), C(origin) (gone at its origin site and absent here),
    C(log) (log claim and absent here; the origin site is not in the run), C(absent_here) (absent from this
    site's active packages only).
  - A package's origin is the site whose code starts its package ID. When that site's facts were gathered
    in the same play (M(sms.remediation.site_facts) on all hosts first), its active package list is used.
  - A package present at its origin site, active here, being deleted by Distribution Manager
    (C(ActionInProgress=3)), or whose file name is not a package ID is never actionable.
  - Uses the C(sms_probe) fact of an earlier M(sms.remediation.site_facts) when present; otherwise runs the
    probe itself (one round trip).
extends_documentation_fragment:
  - sms.remediation.common
  - sms.remediation.common.attributes
  - sms.remediation.msrpc
  - sms.remediation.packages.folders
  - sms.remediation.packages.evidence
notes:
  - The KB documents the fault on child primary sites. Packages created at the site itself are classified
    with log and local evidence only; origin evidence needs a different site.
seealso:
  - module: sms.remediation.site_facts
  - module: sms.remediation.compressed_package
author:
  - SMS Remediation Team (@sms-remediation)
"""

EXAMPLES = r"""
- name: Gather facts on every site first, so origin evidence is available
  sms.remediation.site_facts:

- name: Classify leftovers
  sms.remediation.package_facts:

- name: Show what could be removed
  ansible.builtin.debug:
    msg: "{{ ansible_facts.sms_packages.leftovers | selectattr('actionable') | map(attribute='package_id') | list }}"

- name: Also act on log claims whose origin site is not in the inventory
  sms.remediation.package_facts:
    min_evidence: log
"""

RETURN = r"""
ansible_facts:
  description: Facts added to the host.
  returned: always
  type: dict
  contains:
    sms_packages:
      description: The classification.
      returned: always
      type: dict
      contains:
        leftovers:
          description: One entry per file in the package folders.
          type: list
          elements: dict
          returned: always
          sample:
            - package_id: "60000012"
              name: 60000012.PCK
              path: D:\SMSPKG\60000012.PCK
              size: 65536
              status: stale_confirmed
              evidence_level: log_and_origin
              actionable: true
              reasons: ["Distmgr.log claims the deletion", "absent at origin site 600"]
              evidence:
                log: {claim: "~Successfully deleted the package 60000012", time: "1999-10-15T17:09:46.677000", thread: 297}
                origin: {site_code: "600", in_run: true, present: false}
        summary:
          description: Counts per status and the bytes the workaround would reclaim.
          type: dict
          returned: always
          sample: {count: 4, stale_confirmed: 1, stale_unconfirmed: 1, active: 1, unknown: 1, bytes_reclaimable: 65536}
        min_evidence:
          description: The evidence level used.
          type: str
          returned: always
        evidence_available:
          description: Whether this site has a Distmgr.log to take claims from.
          type: bool
          returned: always
"""
