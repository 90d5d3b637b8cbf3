# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading other hosts' variables from ``hostvars`` without templating them again (private to this
collection)."""

from __future__ import annotations

from collections.abc import Mapping

from ansible_collections.sms.remediation.plugins.module_utils import batches
from ansible_collections.sms.remediation.plugins.module_utils.facts import SITE_FACT, SiteFacts
from ansible_collections.sms.remediation.plugins.module_utils.host_result import outcome_of, sources_failed


def host_vars(hostvars, host) -> Mapping:
    """One host's variables as stored (``HostVars.raw_get``), or {} for a host that is not there.

    ``hostvars[host][name]`` renders the whole value through the template engine on every access. What the
    collection reads (facts, the outcome record) is data, never a template, and rendering it for each host
    of a 200-host report cost seconds. Plain dicts (unit tests) are read as they are."""
    raw_get = getattr(hostvars, "raw_get", None)
    try:
        found = raw_get(host) if raw_get is not None else hostvars[host]
    except KeyError:
        return {}
    return found if isinstance(found, Mapping) else {}


def host_facts(hostvars, host) -> Mapping:
    """The ``ansible_facts`` of one host ({} when it has none)."""
    facts = host_vars(hostvars, host).get("ansible_facts")
    return facts if isinstance(facts, Mapping) else {}


def site_facts(hostvars, host) -> SiteFacts | None:
    """One host's ``sms_site`` fact as SiteFacts (without its files: a fleet-wide read), or None."""
    facts = host_facts(hostvars, host).get(SITE_FACT)
    if not isinstance(facts, Mapping) or not facts:
        return None
    return SiteFacts.from_facts(dict(facts), str(host), with_files=False)


def origin_index(hostvars, hosts) -> dict:
    """site code -> the origin facts of that site, for each of ``hosts`` that has ``sms_site`` facts."""
    index = {}
    for host in hosts or []:
        site = site_facts(hostvars, host)
        if site is not None and site.site_code:
            index[site.site_code] = site.origin_summary()
    return index


def sites(hostvars, hosts) -> dict:
    """host -> ``{site_code, parent_site_code}`` from each host's ``sms_site`` facts (None when it has none)."""
    found = {}
    for host in hosts or []:
        site = site_facts(hostvars, host)
        found[str(host)] = {"site_code": site.site_code if site else None,
                            "parent_site_code": site.parent_site_code if site else None}
    return found


def outcomes(hostvars, hosts) -> dict:
    """host -> its ``q244405_outcome`` record ({} when it has none)."""
    found = {}
    for host in hosts or []:
        outcome = outcome_of(host_vars(hostvars, host))
        found[str(host)] = dict(outcome) if isinstance(outcome, Mapping) else {}
    return found


def incomplete_hosts(hostvars, hosts) -> list:
    """The hosts whose facts say a source of facts could not be read there (the report's ``incomplete``)."""
    found = []
    for host in hosts or []:
        site = site_facts(hostvars, host)
        if site is not None and sources_failed(site, False):
            found.append(str(host))
    return found


def removed_hosts(all_hosts, active_hosts) -> list:
    """The hosts of the play that ansible-core took out of it (failed or unreachable)."""
    active = {str(h) for h in active_hosts or []}
    return [str(h) for h in all_hosts or [] if str(h) not in active]


def failed_child_reason(site_code, hostvars, all_hosts, active_hosts=None) -> str:
    """Why the site ``site_code`` is not remediated (a child site failed or was stopped earlier in the play,
    ``q244405_stop_at_failed_child``), or an empty string."""
    known = sites(hostvars, all_hosts)
    records = outcomes(hostvars, all_hosts)
    children = batches.failed_children(site_code, known, records, removed_hosts(all_hosts, active_hosts or all_hosts))
    return batches.skip_reason(site_code, children, known, records) if children else ""
