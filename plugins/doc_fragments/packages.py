# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """Options about the compressed package copies (.PCK), shared by the modules that read or act on them."""

    # compressed_package, remediate, remediation_plan: what the workaround may act on, and where to.
    DOCUMENTATION = r"""
options:
  force:
    description:
      - Package IDs to remove although their evidence is weaker than the chosen level (C(stale_unconfirmed)).
      - Active packages, packages present at their origin site, reparse points and names that are not package IDs
        are refused even when forced.
    type: list
    elements: str
    default: []
  quarantine_dir:
    description:
      - Host folder that quarantined leftovers are moved to (and restored from), with their C(manifest.json),
        for example C(D:\SMSPKG-Q244405).
      - A drive-absolute path (C(X:\...)); a relative one is refused by the host.
      - With the C(msrpc) transport it must be on the same drive as the package folder of each file - a move there
        is an SMB rename, which cannot cross drives (administrative shares C(D$), C(E$)) - a file on another drive
        is refused, in check mode too, with a reason naming the host and both drives, and nothing is moved. Over
        C(winrm) PowerShell's move copies across drives.
    type: str
"""

    # site_facts, package_facts, remediate: where the probe looks.
    FOLDERS = r"""
options:
  package_folders:
    description:
      - Folders holding compressed package copies, for example C(D:\SMSPKG), used when the module probes the host
        (no C(sms_probe) fact of an earlier M(sms.remediation.site_facts) task, or a refresh).
      - When empty the probe looks for C(<drive>:\SMSPKG) on every fixed drive (the folder name comes
        from the C(sms20) table key C(package_folder_name)).
    type: list
    elements: str
    default: []
"""

    # package_facts, remediate: how leftovers are classified.
    EVIDENCE = r"""
options:
  min_evidence:
    description:
      - The weakest evidence level that makes a leftover C(stale_confirmed) (actionable); the levels are described
        in M(sms.remediation.package_facts).
      - The default acts on the two strongest levels. C(log) adds log claims whose origin is not in the run;
        C(absent_here) trusts the active package list alone.
    type: str
    choices: [log_and_origin, origin, log, absent_here]
    default: origin
  origin_sites:
    description:
      - Facts of the other sites, keyed by site code, each the C(sms_site) fact of that site (the filter
        P(sms.remediation.origin_sites#filter) builds it).
      - When empty, the run's index in the variable C(q244405_origin_sites) is used (the dict or its JSON
        text), else the C(sms_site) facts of every host gathered in this run.
    type: dict
    default: {}
"""
