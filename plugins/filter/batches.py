# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of remediate.yml's fleet controls; the logic is plugins/module_utils/batches.py."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.sms.remediation.plugins.module_utils import batches
from ansible_collections.sms.remediation.plugins.module_utils.host_result import outcome_of
from ansible_collections.sms.remediation.plugins.plugin_utils._hostvars import host_vars, site_facts


def _sites(hosts, hostvars) -> dict:
    sites = {}
    for host in hosts or []:
        site = site_facts(hostvars, host)
        sites[str(host)] = {"site_code": site.site_code if site else None,
                            "parent_site_code": site.parent_site_code if site else None}
    return sites


def _outcomes(hosts, hostvars) -> dict:
    outcomes = {}
    for host in hosts or []:
        outcome = outcome_of(host_vars(hostvars, host))
        outcomes[str(host)] = dict(outcome) if isinstance(outcome, dict) else {}
    return outcomes


def _removed(all_hosts, active_hosts) -> list:
    active = {str(h) for h in active_hosts or []}
    return [str(h) for h in all_hosts or [] if str(h) not in active]


def batch_plan(hosts, hostvars, serial="100%", by_level=False):
    """The remediation play's host order (children first), serial sizes and batches."""
    if not isinstance(hosts, (list, tuple)):
        raise AnsibleFilterError(f"batch_plan: expects a list of inventory names, got {type(hosts).__name__}")
    try:
        return batches.batch_plan(_sites(hosts, hostvars), serial, bool(by_level))
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError(f"batch_plan: serial {serial!r} is not a count, a percentage or a list of them: {exc}") from exc


def failed_child_reason(site_code, hostvars, all_hosts, active_hosts=None):
    """The skip reason of a parent site whose children failed, or an empty string."""
    sites = _sites(all_hosts, hostvars)
    outcomes = _outcomes(all_hosts, hostvars)
    children = batches.failed_children(site_code, sites, outcomes, _removed(all_hosts, active_hosts or all_hosts))
    return batches.skip_reason(site_code, children, sites, outcomes) if children else ""


def batch_summary(batch_hosts, hostvars, all_hosts, active_hosts=None, plan=None, check_mode=False):
    """One progress line for a finished batch."""
    plan = plan if isinstance(plan, dict) else {}
    return batches.batch_summary(batch_hosts, _outcomes(batch_hosts, hostvars), all_hosts, plan.get("batches"),
                                 _removed(all_hosts, active_hosts or all_hosts), bool(check_mode))


class FilterModule:
    """sms.remediation fleet-control filters."""

    def filters(self):
        return {"batch_plan": batch_plan, "failed_child_reason": failed_child_reason, "batch_summary": batch_summary}
