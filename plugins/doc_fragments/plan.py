# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """Options of the decision, shared by remediate (which carries it out) and remediation_plan (which
    shows it): the same options give the same plan. Use with the C(sms.remediation.packages) fragment
    (O(quarantine_dir))."""

    DOCUMENTATION = r"""
options:
  policy:
    description:
      - C(auto) applies the hotfix where the site is affected and removes the confirmed leftovers (the hotfix
        stops new leftovers but does not remove existing ones); C(workaround) removes leftovers only; C(hotfix)
        applies the hotfix only; C(report) changes nothing.
    type: str
    choices: [auto, report, workaround, hotfix]
    default: auto
  workaround_state:
    description: C(absent) deletes the leftovers; C(quarantined) moves them to O(quarantine_dir) with a manifest.
    type: str
    choices: [absent, quarantined]
    default: absent
  hotfix_method:
    description:
      - C(manual) replaces C(Distmgr.dll) (any platform); C(installer) runs C(Q244405.exe /s) (I386 only, so the
        plan refuses it on Alpha).
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
"""
