# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of remediate.yml's fleet controls; the logic is plugins/module_utils/batches.py."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.sms.remediation.plugins.module_utils import batches
from ansible_collections.sms.remediation.plugins.plugin_utils import _hostvars


def batch_plan(hosts, hostvars, serial="100%", by_level=False):
    """The remediation play's host order (children first), serial sizes and batches."""
    if not isinstance(hosts, (list, tuple)):
        raise AnsibleFilterError(f"batch_plan: expects a list of inventory names, got {type(hosts).__name__}")
    try:
        return batches.batch_plan(_hostvars.sites(hostvars, hosts), serial, bool(by_level))
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError(f"batch_plan: serial {serial!r} is not a count, a percentage or a list of them: {exc}") from exc


def failed_child_reason(site_code, hostvars, all_hosts, active_hosts=None):
    """The skip reason of a parent site whose children failed, or an empty string."""
    return _hostvars.failed_child_reason(site_code, hostvars, all_hosts, active_hosts)


def batch_summary(batch_hosts, hostvars, all_hosts, active_hosts=None, plan=None, check_mode=False):
    """One progress line for a finished batch."""
    plan = plan if isinstance(plan, dict) else {}
    return batches.batch_summary(batch_hosts, _hostvars.outcomes(hostvars, batch_hosts), all_hosts, plan.get("batches"),
                                 _hostvars.removed_hosts(all_hosts, active_hosts or all_hosts), bool(check_mode),
                                 _hostvars.incomplete_hosts(hostvars, batch_hosts))


class FilterModule:
    """sms.remediation fleet-control filters."""

    def filters(self):
        return {"batch_plan": batch_plan, "failed_child_reason": failed_child_reason, "batch_summary": batch_summary}
