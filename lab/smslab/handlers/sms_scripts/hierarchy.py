"""Twin of sms_hierarchy.ps1: the SMS hierarchy as the host's SMS Provider lists it (read-only).

``SMS_ProviderLocation`` (when no site code is given) is the host's own site, ``SMS_Site`` its ``wmi.sites``
(the site and every site beneath it, ``smslab.scenario``), as the DCOM responder answers them over msrpc.
Faults ``wmi_down`` / ``wmi_unavailable`` give the script's error text (``Format-WmiError``).
"""

from __future__ import annotations

from smslab.handlers import HostContext, script
from smslab.dcom.wql import provider_location_rows, site_rows
from smslab.handlers.sms_scripts.common import wmi_namespace_error


@script("hierarchy")
def hierarchy(ctx: HostContext, params: dict) -> tuple[dict, bool]:
    state = ctx.state
    provider = params["ProviderNamespace"]
    result = {"schema": 1, "site_code": None, "namespace": provider, "provider_location": None, "sites": None,
              "error": None}
    code = params["SiteCode"]
    if not code:
        result["error"] = wmi_namespace_error(state, provider)
        if result["error"]:
            return result, False
        locations = provider_location_rows(state)
        if not locations:
            result["error"] = (f"SMS_ProviderLocation in {provider} names no provider for the local site: "
                               "the SMS Provider is not installed")
            return result, False
        code = locations[0]["SiteCode"]
        result["provider_location"] = {key: locations[0][key] for key in ("Machine", "SiteCode", "NamespacePath")}
    result["site_code"] = code
    result["namespace"] = f"{provider}\\site_{code}"
    result["error"] = wmi_namespace_error(state, result["namespace"])
    if not result["error"]:
        result["sites"] = site_rows(state)
    return result, False
