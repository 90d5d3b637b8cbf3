# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The seam to WMI over DCOM (module ``wmi`` of this package, written separately) (private to this collection).

Until that module exists, every WMI fact of an msrpc host is unavailable with ``NOT_YET``: the site's
active packages are unknown, so the classification removes nothing there and says why. When it exists,
the probe calls ``wmi.active_packages(session, site_code, timeout)`` (the probe's ``active_packages``
dict) and, if the module defines them, ``wmi.site(session, site_code, timeout)`` (the probe's
``wmi_site`` dict) and ``wmi.console_check(session, process, snap_in, timeout)`` (``open``: True, False or
None with the ``error`` the probe reports under source ``processes``)."""

from __future__ import annotations

import importlib

NOT_YET = "WMI over DCOM is not implemented yet"
_MODULE = __name__.rsplit(".", 1)[0] + ".wmi"


def wmi_module():
    """The ``wmi`` module of this package, or None while it does not exist."""
    try:
        return importlib.import_module(_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name != _MODULE:
            raise
        return None


def unavailable_site(message: str) -> dict:
    return {"available": False, "error": message, "SiteCode": None, "ReportingSiteCode": None, "Type": None,
            "Version": None, "BuildNumber": None, "InstallDir": None}


def unavailable_packages(message: str, namespace: str | None) -> dict:
    return {"available": False, "error": message, "namespace": namespace, "packages": None}
