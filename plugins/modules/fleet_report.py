# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: fleet_report
short_description: Write the KB Q244405 fleet report (JSON, CSV, Markdown, HTML) on the controller
version_added: 0.1.0
description:
  - Collects what M(sms.remediation.remediate) (the C(sms.remediation.q244405) role) recorded for each host
    (the fact C(q244405_outcome), or the variable of that name the role sets when the task failed, and the
    verification facts) and writes one report per run in O(dest) on the controller, named by mode and time
    (C(q244405-check-20261125T150000.json), C(q244405-run-...)).
  - Hosts without a record (unreachable, or failed before facts were gathered) are listed with that reason.
  - A host where a source of facts could not be read (WMI down, a package folder that could not be listed, the
    console check) is C(incomplete), not C(ok) - its C(sources_failed) names each source with the cause and what
    it left undone (C(active packages unknown - ...; nothing removed)), in every format.
  - Check-mode runs report what would be removed or applied.
  - Runs on the controller only; run it on C(localhost) with C(check_mode=false) so the report is written
    in check mode too.
extends_documentation_fragment:
  - sms.remediation.common
options:
  hosts:
    description: Inventory names of the site servers to report on.
    type: list
    elements: str
    required: true
  dest:
    description: Controller folder for the report files (created when missing).
    type: path
    required: true
  formats:
    description: Which files to write.
    type: list
    elements: str
    choices: [json, csv, markdown, html]
    default: [json, csv, markdown, html]
  policy:
    description: The policy of the run, recorded in the report.
    type: str
    default: auto
  started:
    description: When the run started (ISO 8601), recorded in the report.
    type: str
    default: ""
  run_check_mode:
    description: Whether the remediation ran in check mode (pass C(ansible_check_mode)).
    type: bool
    default: false
attributes:
  action:
    support: full
    description: Runs on the controller only.
  check_mode:
    support: none
    description: Writes the report; set C(check_mode=false) on the task and pass O(run_check_mode).
  diff_mode:
    support: none
    description: No diff.
  platform:
    support: full
    platforms: posix
    description: The Ansible controller.
seealso:
  - module: sms.remediation.site_facts
author:
  - SMS Remediation Team (@sms-remediation)
"""

EXAMPLES = r"""
- name: Write the fleet report
  sms.remediation.fleet_report:
    hosts: "{{ groups['sms_site_servers'] }}"
    dest: "{{ playbook_dir }}/reports"
    started:
    description: When the run started (ISO 8601), recorded in the report.
    type: str
    default: ""
  run_check_mode: "{{ ansible_check_mode }}"
  check_mode: false
"""

RETURN = r"""
files:
  description: Paths of the files written, by format.
  returned: always
  type: dict
  sample: {json: /srv/reports/q244405-run-20261125T150000.json, html: /srv/reports/q244405-run-20261125T150000.html}
totals:
  description: Fleet totals (hosts, ok, incomplete, failed, unreachable, skipped, affected, leftovers removed, bytes
    reclaimed).
  returned: always
  type: dict
report:
  description: The whole report as written to the JSON file.
  returned: always
  type: dict
ansible_facts:
  description: Facts added to the host (with C(delegate_facts), to the delegate).
  returned: always
  type: dict
  contains:
    q244405_report_files:
      description: The files written, as RV(files); remediate.yml skips its final report when the last batch wrote it.
      returned: always
      type: dict
"""
