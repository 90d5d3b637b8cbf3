# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The SMS hierarchy as an inventory: hosts, groups and depths from the central site's ``SMS_Site`` rows.

Pure data, no Ansible: the ``sms_hierarchy`` inventory plugin reads the rows (over msrpc or winrm) and
hands them here. ``build_hierarchy(rows, root_code)`` checks them and returns a ``Hierarchy``; every
problem raises ``HierarchyError`` naming the site(s): a row without a valid site code, a site listed
twice, a site without a server name, two sites on one server, a parent that is not listed, a parent
cycle. The queried site (``root_code``) may report to a parent outside the list: it is then the root of
the part of the hierarchy that was read (a provider lists its own site and the sites beneath it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ansible_collections.sms.remediation.plugins.module_utils.sms20 import DEFAULTS
from ansible_collections.sms.remediation.plugins.module_utils.versions import parse_version

__all__ = ["HOSTNAME_CHOICES", "Hierarchy", "HierarchyError", "Site", "build_hierarchy", "first_fixed_build"]

SITE_TYPES = {1: "secondary", 2: "primary"}        # SMS_Site.Type (SMS 2.0 Resource Guide, Table B.39)
SITE_STATUS = {1: "active", 2: "pending", 3: "failed", 4: "deleted", 5: "upgrade"}   # SMS_Site.Status (SDK)
HOSTNAME_CHOICES = ("server_name", "server_name_lower", "site_code")
_SITE_CODE = re.compile(r"[A-Za-z0-9]{3}")


class HierarchyError(ValueError):
    """The rows do not make a hierarchy; the message names the site(s) and the cause."""


@dataclass(frozen=True)
class Site:
    """One ``SMS_Site`` row, checked (site codes upper case, "" parent = none)."""

    code: str
    parent: str | None
    server: str
    name: str = ""
    type: str = "primary"
    version: str | None = None
    build: int | None = None
    install_dir: str | None = None
    status: str | None = None


@dataclass
class Hierarchy:
    """The checked sites, parents before children, with each site's host name and depth (root 0)."""

    root: str
    sites: list[Site]
    hosts: dict[str, str]                    # site code -> inventory host name
    depths: dict[str, int]
    children: dict[str, list[str]] = field(default_factory=dict)

    def site(self, code: str) -> Site:
        return next(site for site in self.sites if site.code == code)

    def groups(self) -> dict[str, list[str]]:
        """Group name -> host names: ``sms_site_<code>``, ``sms_primary``, ``sms_secondary``,
        ``sms_children_of_<code>`` (codes lower case, as group names usually are)."""
        found: dict[str, list[str]] = {"sms_primary": [], "sms_secondary": []}
        for site in self.sites:
            host = self.hosts[site.code]
            found[f"sms_site_{site.code.lower()}"] = [host]
            found[f"sms_{site.type}"].append(host)
            if site.parent is not None and site.parent in self.hosts:
                found.setdefault(f"sms_children_of_{site.parent.lower()}", []).append(host)
        return found


def first_fixed_build(sms20: dict | None = None) -> int:
    """The build number (third version field) of the first service pack with the Q244405 fix (SP2: 1493)."""
    table = sms20 or DEFAULTS
    wanted = table["first_fixed_service_pack"]
    entry = next(sp for sp in table["service_packs"] if sp["name"] == wanted)
    return parse_version(entry["version"]).build


def _text(value) -> str:
    return "" if value is None else str(value).strip()


def _int_or_none(value, what: str, code: str) -> int | None:
    if value in (None, ""):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise HierarchyError(f"site {code}: {what} {value!r} is not a number") from None


def _site(row: dict) -> Site:
    code = _text(row.get("SiteCode")).upper()
    if not _SITE_CODE.fullmatch(code):
        raise HierarchyError(f"an SMS_Site row has no valid site code (SiteCode {row.get('SiteCode')!r}, "
                             f"ServerName {row.get('ServerName')!r})")
    parent = _text(row.get("ReportingSiteCode")).upper() or None
    if parent is not None and not _SITE_CODE.fullmatch(parent):
        raise HierarchyError(f"site {code}: its parent site code {parent!r} (ReportingSiteCode) is not valid")
    type_number = _int_or_none(row.get("Type"), "Type", code)
    if type_number not in SITE_TYPES:
        raise HierarchyError(f"site {code}: Type {row.get('Type')!r} is neither 1 (secondary) nor 2 (primary)")
    status = _int_or_none(row.get("Status"), "Status", code)
    return Site(code=code, parent=parent, server=_text(row.get("ServerName")), name=_text(row.get("SiteName")),
                type=SITE_TYPES[type_number], version=_text(row.get("Version")) or None,
                build=_int_or_none(row.get("BuildNumber"), "BuildNumber", code),
                install_dir=_text(row.get("InstallDir")) or None,
                status=SITE_STATUS.get(status, str(status)) if status is not None else None)


def host_name(site: Site, hostnames) -> str:
    """The first of ``hostnames`` (``HOSTNAME_CHOICES``) that gives a name for ``site``."""
    for choice in hostnames or HOSTNAME_CHOICES[:1]:
        if choice not in HOSTNAME_CHOICES:
            raise HierarchyError(f"hostnames: {choice!r} is not one of {', '.join(HOSTNAME_CHOICES)}")
        name = {"server_name": site.server, "server_name_lower": site.server.lower(), "site_code": site.code}[choice]
        if name:
            return name
    raise HierarchyError(f"site {site.code}: none of hostnames {list(hostnames)} gives it a name")


def _check_servers(sites: list[Site]) -> None:
    by_server: dict[str, str] = {}
    for site in sites:
        if not site.server:
            raise HierarchyError(f"site {site.code}{f' ({site.name})' if site.name else ''} has no server name "
                                 "(SMS_Site.ServerName is empty): its site server cannot be named or reached")
        other = by_server.setdefault(site.server.upper(), site.code)
        if other != site.code:
            raise HierarchyError(f"sites {other} and {site.code} are both on server {site.server}: one host cannot "
                                 "be two sites (an inventory host per site server)")


def _order(sites: dict[str, Site], root: str) -> tuple[list[str], dict[str, int], dict[str, list[str]]]:
    """Site codes parents first, depths and children; raises on an unknown parent or a parent cycle."""
    children: dict[str, list[str]] = {code: [] for code in sites}
    for code, site in sites.items():
        if code == root or site.parent is None:
            continue
        if site.parent not in sites:
            raise HierarchyError(f"site {code} reports to site {site.parent}, which the central site's SMS_Site "
                                 "does not list (a parent that is not in the hierarchy)")
        children[site.parent].append(code)
    for code in sites:                          # a walk up from each site must reach a root
        seen = [code]
        parent = sites[code].parent if code != root else None
        while parent is not None:
            if parent in seen:
                loop = seen[seen.index(parent):] + [parent]
                raise HierarchyError(f"sites {' -> '.join(loop)} form a parent cycle (ReportingSiteCode)")
            seen.append(parent)
            parent = sites[parent].parent if parent != root else None
    roots = [code for code, site in sites.items() if code == root or site.parent is None]
    if roots != [root]:
        others = [code for code in roots if code != root]
        raise HierarchyError(f"site{'s' if len(others) > 1 else ''} {', '.join(others)} "
                             f"{'have' if len(others) > 1 else 'has'} no parent but site {root} was queried: "
                             "a provider lists only its own site and the sites beneath it")
    order, depths = [], {}
    queue = [(root, 0)]
    while queue:
        code, depth = queue.pop(0)
        order.append(code)
        depths[code] = depth
        queue += [(child, depth + 1) for child in sorted(children[code])]
    return order, depths, {code: sorted(kids) for code, kids in children.items()}


def build_hierarchy(rows, root_code: str, hostnames=("server_name",)) -> Hierarchy:
    """The hierarchy under ``root_code`` from ``SMS_Site`` rows (dicts); ``HierarchyError`` names what is wrong."""
    root = _text(root_code).upper()
    sites: dict[str, Site] = {}
    for row in rows or []:
        site = _site(row)
        if site.code in sites:
            raise HierarchyError(f"site {site.code} is listed twice in SMS_Site (servers {sites[site.code].server} "
                                 f"and {site.server})")
        sites[site.code] = site
    if root not in sites:
        raise HierarchyError(f"site {root or '(none)'} was queried but its own SMS_Site lists it not "
                             f"(listed: {', '.join(sorted(sites)) or 'nothing'})")
    _check_servers(list(sites.values()))
    order, depths, children = _order(sites, root)
    hosts = {code: host_name(sites[code], hostnames) for code in order}   # unique: servers and codes are
    return Hierarchy(root=root, sites=[sites[code] for code in order], hosts=hosts, depths=depths,
                     children=children)


def hierarchy_vars(hierarchy: Hierarchy, code: str, fixed_build: int | None = None) -> dict:
    """The hierarchy's host variables of site ``code`` (the transport's settings come from the plugin)."""
    site = hierarchy.site(code)
    fixed_build = first_fixed_build() if fixed_build is None else fixed_build
    return {
        "sms_site_code": site.code,
        "sms_parent_site_code": site.parent,
        "sms_site_name": site.name or None,
        "sms_server_name": site.server,
        "sms_site_type": site.type,
        "sms_site_version": site.version,
        "sms_site_build": site.build,
        "sms_site_install_dir": site.install_dir,
        "sms_site_status": site.status,
        "sms_site_depth": hierarchy.depths[code],
        "sms_child_site_codes": list(hierarchy.children.get(code, [])),
        # SP2 or later has the fix: the play may skip its probe, but a parent is still the origin of its
        # children's packages (the evidence), so remediate.yml keeps it unless told otherwise.
        "sms_fixed_by_build": site.build is not None and site.build >= fixed_build,
    }
