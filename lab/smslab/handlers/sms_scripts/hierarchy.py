"""Twin of sms_hierarchy.ps1: the SMS hierarchy as the host's SMS Provider lists it (read-only).

``SMS_ProviderLocation`` (when no site code is given) is the host's own site, ``SMS_Site`` its ``wmi.sites``
(the site and every site beneath it, ``smslab.scenario``), as the DCOM responder answers them over msrpc.
Faults ``wmi_down`` / ``wmi_unavailable`` give the script's error text (``Format-WmiError``).
"""

from __future__ import annotations

from smslab.handlers import HostContext, script
from smslab.handlers.sms_scripts.common import wmi_namespace_error, wmi_site_code


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
        own = wmi_site_code(state)
        if not own:
            result["error"] = (f"SMS_ProviderLocation in {provider} names no provider for the local site: "
                               "the SMS Provider is not installed")
            return result, False
        machine = (state.wmi.get("site") or {}).get("ServerName") or state.environment.get("COMPUTERNAME")
        code = own
        result["provider_location"] = {"Machine": machine, "SiteCode": own,
                                       "NamespacePath": f"\\\\{machine}\\root\\SMS\\site_{own}"}
    result["site_code"] = code
    result["namespace"] = f"{provider}\\site_{code}"
    result["error"] = wmi_namespace_error(state, result["namespace"])
    if not result["error"]:
        rows = state.wmi.get("sites") or ([state.wmi["site"]] if state.wmi.get("site") else [])
        result["sites"] = [dict(row) for row in rows]
    return result, False
