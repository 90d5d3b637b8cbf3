# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """Options and attributes shared by every sms.remediation module."""

    DOCUMENTATION = r"""
options:
  sms20:
    description:
      - Overrides for the table of SMS 2.0 facts that KB Q244405 does not state (registry paths,
        build numbers per service pack, the C(SMSPKG) folder name, log names, service names).
      - Merged key by key over the defaults in C(plugins/module_utils/sms20.py); an unknown key
        fails the task with the list of valid keys.
      - Set it once for the fleet with the role variable C(q244405_sms20).
    type: dict
    default: {}
"""

    ATTRIBUTES = r"""
attributes:
  action:
    support: full
    description: Runs as an action plugin on the controller; it calls a few remote primitives.
  check_mode:
    support: full
    description: Reads the host in check mode and reports what would change; changes nothing.
  diff_mode:
    support: full
    description: Shows the planned change with C(--diff).
  platform:
    support: full
    platforms: windows
    description: Microsoft SMS 2.0 site servers reached with C(ansible.builtin.winrm) or C(psrp).
"""
