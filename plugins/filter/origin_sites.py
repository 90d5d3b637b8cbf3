# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""origin_sites: index every site's active packages once per run, for origin evidence."""

from __future__ import annotations

from ansible_collections.sms.remediation.plugins.plugin_utils._hostvars import origin_index


def origin_sites(hosts, hostvars) -> dict:
    """site code -> the origin facts of that site, for each host that has sms_site facts."""
    return origin_index(hostvars, hosts)


class FilterModule:
    """sms.remediation origin-evidence filter."""

    def filters(self):
        return {"origin_sites": origin_sites}
