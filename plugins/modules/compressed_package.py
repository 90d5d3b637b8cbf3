# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: compressed_package
short_description: Remove, quarantine or restore leftover compressed package copies (KB Q244405 workaround)
version_added: 0.1.0
description:
  - The KB Q244405 workaround, delete the compressed copy (C(<drive>:\SMSPKG\<PackageID>.PCK)) that Distribution
    Manager left behind at a child site after the package was deleted at the parent.
  - Only leftovers that M(sms.remediation.package_facts) classifies as C(stale_confirmed) are removed. Active,
    unknown and weakly evidenced ones are refused, each with its reason, unless forced per ID with O(force).
  - All selected files are handled by ONE script on the host, which checks again, per file, that the name is a
    package ID, that the file sits directly in a package folder and is not a reparse point, and that the package
    is not active in WMI at that moment.
  - C(quarantined) moves the files to O(quarantine_dir) and records each one (sha256, size, origin) in
    C(manifest.json) there; C(restored) moves each one back to the path it was quarantined from (its manifest
    entry's C(original_path), in whichever package folder that is) after checking the sha256, and refuses to
    overwrite. That path must still be directly inside one of the host's package folders.
extends_documentation_fragment:
  - sms.remediation.common
  - sms.remediation.common.attributes
  - sms.remediation.msrpc
  - sms.remediation.packages
options:
  state:
    description:
      - C(absent) deletes, C(quarantined) moves to O(quarantine_dir), C(restored) moves quarantined files back.
    type: str
    choices: [absent, quarantined, restored]
    default: absent
  packages:
    description:
      - Package IDs to act on. When empty, every C(stale_confirmed) leftover of the site (C(absent),
        C(quarantined)). C(restored) needs the IDs to restore; an empty list fails the task.
    type: list
    elements: str
    default: []
  min_evidence:
    description:
      - Evidence level used when no C(sms_packages) fact exists yet; see M(sms.remediation.package_facts).
    type: str
    choices: [log_and_origin, origin, log, absent_here]
notes:
  - In check mode the host script runs with C(-WhatIf) and reports what it would do; nothing changes.
seealso:
  - module: sms.remediation.package_facts
author:
  - SMS Remediation Team (@sms-remediation)
"""

EXAMPLES = r"""
- name: Remove every confirmed leftover
  sms.remediation.compressed_package:
    state: absent

- name: Quarantine instead, so a later run can restore
  sms.remediation.compressed_package:
    state: quarantined
    quarantine_dir: D:\SMSPKG-Q244405

- name: Put one package back
  sms.remediation.compressed_package:
    state: restored
    quarantine_dir: D:\SMSPKG-Q244405
    packages: ["60000012"]

- name: Remove one leftover whose only evidence is its absence here
  sms.remediation.compressed_package:
    packages: ["60000015"]
    force: ["60000015"]
"""

RETURN = r"""
removed:
  description: Package IDs removed (or, in check mode, that would be removed).
  returned: always
  type: list
  elements: str
  sample: ["60000012"]
quarantined:
  description: Package IDs moved to the quarantine folder.
  returned: always
  type: list
  elements: str
restored:
  description: Package IDs moved back from the quarantine folder.
  returned: always
  type: list
  elements: str
refused:
  description: Packages not touched, each with its reason.
  returned: always
  type: list
  elements: dict
  sample: [{id: "60000013", name: 60000013.PCK, reason: "active at this site"}]
missing:
  description: Selected package IDs that had no file any more.
  returned: always
  type: list
  elements: str
bytes_reclaimed:
  description: Bytes freed in the package folders (or that would be, in check mode).
  returned: always
  type: int
manifest:
  description: Path of the quarantine manifest on the host.
  returned: when state is quarantined or restored
  type: str
outcomes:
  description: The host script's outcome per file (id, path, outcome, reason, sha256, size).
  returned: always
  type: list
  elements: dict
"""
