# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""origin_sites: index every site's active packages once per run, for origin evidence."""

from __future__ import annotations

from ansible_collections.sms.remediation.plugins.module_utils.leftovers import origin_summary
from ansible_collections.sms.remediation.plugins.plugin_utils._hostvars import host_facts


def origin_sites(hosts, hostvars) -> dict:
    """site code -> the origin facts of that site, for each host that has sms_site facts."""
    index = {}
    for host in hosts or []:
        facts = host_facts(hostvars, host).get("sms_site") or {}
        if facts.get("site_code"):
            index[facts["site_code"]] = origin_summary(facts)
    return index


class FilterModule:
    """sms.remediation origin-evidence filter."""

    def filters(self):
        return {"origin_sites": origin_sites}
