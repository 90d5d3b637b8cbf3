# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: site_facts
short_description: Gather SMS 2.0 site facts and the KB Q244405 state of a site server
version_added: 0.1.0
description:
  - Runs ONE read-only PowerShell probe on the site server (through M(ansible.windows.win_powershell))
    and returns the site code, parent site, site type, install directory, version, build, service pack,
    platform, the C(Distmgr.dll) version per platform, the SMS services and their states, whether the
    SMS Administrator console is open, Distribution Manager logging, and the KB Q244405 verdict
    (C(affected), C(fixed_by), C(reason)).
  - The probe also lists the compressed package copies (C(.PCK)), the site's active packages from WMI
    and the Distmgr.log lines that mention package deletions, filtered on the host. These are kept in
    the C(sms_probe) fact so M(sms.remediation.package_facts) and the other modules of the play do not
    probe again.
  - The probe runs in check mode too; it never changes the host.
extends_documentation_fragment:
  - sms.remediation.common
  - sms.remediation.common.attributes
  - sms.remediation.msrpc
  - sms.remediation.packages.folders
options:
  refresh:
    description:
      - Probe again even when an earlier task of the play left a C(sms_probe) fact.
    type: bool
    default: true
notes:
  - SMS 2.0 turns server logging off by default, so C(Distmgr.log) often does not exist. The facts say so
    in C(logging) and in C(warnings); see M(sms.remediation.package_facts) for the evidence used instead.
  - C(Setup\Full Version) is missing on secondary sites installed from the parent's console; the version then
    comes from WMI C(SMS_Site) and a warning says so.
seealso:
  - module: sms.remediation.package_facts
  - module: sms.remediation.distmgr_hotfix
author:
  - SMS Remediation Team (@sms-remediation)
"""

EXAMPLES = r"""
- name: Gather SMS 2.0 facts
  sms.remediation.site_facts:

- name: Show the Q244405 verdict
  ansible.builtin.debug:
    msg: "{{ ansible_facts.sms_site.site_code }}: {{ ansible_facts.sms_site.q244405.reason }}"

- name: Look only in one package folder and read registry values from a non-default root
  sms.remediation.site_facts:
    package_folders:
      - E:\SMSPKG
    sms20:
      registry_root: HKLM:\SOFTWARE\Microsoft\SMS
"""

RETURN = r"""
ansible_facts:
  description: Facts added to the host.
  returned: always
  type: dict
  contains:
    sms_site:
      description: The site server's facts.
      returned: always
      type: dict
      sample:
        site_code: "610"
        parent_site_code: "600"
        site_type: primary
        install_dir: C:\SMS
        version: 2.00.1380.1000
        build: 1380
        service_pack: SP1
        platform: i386
        platforms:
          i386: {exists: true, file_version: 2.00.1380.1000, sha256: "9f86d0...", path: C:\SMS\bin\i386\Distmgr.dll}
        services: {SMS_EXECUTIVE: running, SMS_SITE_COMPONENT_MANAGER: running, SMS_SITE_BACKUP: stopped}
        console_open: false
        hotfix_log_present: false
        logging: {enabled: false, evidence_available: false, note: "Distmgr.log logging is off",
                  registry_key: HKLM:\SOFTWARE\Microsoft\SMS\Tracing\SMS_DISTRIBUTION_MANAGER,
                  value_name: Enabled, service: SMS_EXECUTIVE}
        q244405: {affected: true, fixed_by: null, service_pack: SP1, reason: "SMS 2.0 SP1 ... affected"}
        warnings: []
    sms_probe:
      description:
        - The raw answer of the probe (schema 1, see C(docs/internals.md) in the collection).
        - Used by the other modules of the collection so the host is probed once per play.
      returned: always
      type: dict
"""
