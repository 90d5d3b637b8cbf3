# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading the SMS hierarchy from a site server's SMS Provider (private to this collection), for the
``sms_hierarchy`` inventory plugin: ``SMS_ProviderLocation`` in ``root\\SMS`` (the site code, when none is
given) and every ``SMS_Site`` row of ``root\\SMS\\site_<code>``. Read-only, one connection.

- ``msrpc``: the msrpc transport's WMI client over DCOM (``_transport/msrpc/wmi.py``: ``connected``,
  ``WmiConnection.query``), the same code and limits as the probe's WMI reads;
- ``winrm``: ``sms_hierarchy.ps1`` run by itself through pywinrm (one ``-EncodedCommand``,
  ``_scripts.standalone_command``); an inventory plugin has no task, so not through ``win_powershell``.

Both return ``{"site_code", "sites": [row, ...], "provider_location": {...} | None}``; a failure raises
``HierarchySourceError`` ("<server>: hierarchy: <cause>"), never with the password in it.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field

from ansible_collections.sms.remediation.plugins.module_utils.sms20 import DEFAULTS, WMI_TIMEOUT_SECONDS
from ansible_collections.sms.remediation.plugins.plugin_utils._scripts import standalone_command
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.base import TransportError
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.settings import DEFAULT_DCOM_AUTH_LEVEL

OPERATION = "hierarchy"
_STDERR_SHOWN = 2000                 # characters of a failed command's stderr kept in the message


class HierarchySourceError(TransportError):
    """The site server could not be read; the message names it and the cause."""


@dataclass(frozen=True)
class CentralSettings:
    """How to reach the queried site server (``host`` names it in messages). ``address`` is where it answers
    (its name when nothing else is known); ``wmi_address`` where its DCOM port 135 answers, if elsewhere."""

    host: str
    address: str
    user: str = ""
    password: str = field(default="", repr=False)
    domain: str = ""
    timeout: int = 30
    allow_ntlmv1: bool = False
    wmi_address: str | None = None
    dcom_auth_level: str = DEFAULT_DCOM_AUTH_LEVEL     # msrpc: as wmi.target_of reads it
    port: int | None = None              # winrm
    scheme: str = "https"
    path: str = "/wsman"
    winrm_transport: str = "ntlm"
    cert_validation: str = "validate"


def _classes() -> dict:
    return DEFAULTS["wmi_classes"]


def _namespace(site_code: str) -> str:
    return DEFAULTS["wmi_namespace_template"].format(site_code=site_code)


def read_msrpc(settings: CentralSettings, site_code: str | None) -> dict:
    """The hierarchy over DCOM/WMI with the msrpc transport's client."""
    from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc import wmi

    classes = _classes()
    try:
        with wmi.connected(settings, settings.timeout) as connection:
            location = None
            if not site_code:
                query = f"select * from {classes['provider_location']} where ProviderForLocalSite = true"
                rows = connection.query(MSRPC_DEFAULTS["ProviderNamespace"], query)
                if not rows or not rows[0].get("SiteCode"):
                    raise HierarchySourceError(settings.host, OPERATION, f"{classes['provider_location']} names no "
                                               "provider for the local site: the SMS Provider is not installed")
                location = {key: rows[0].get(key) for key in ("Machine", "NamespacePath", "SiteCode")}
                site_code = str(location["SiteCode"])
            sites = connection.query(_namespace(site_code), f"select * from {classes['site']}")
    except HierarchySourceError:
        raise
    except TransportError as exc:
        raise HierarchySourceError(settings.host, OPERATION, exc.message) from None
    return {"site_code": site_code, "sites": sites, "provider_location": location}


def _winrm_endpoint(settings: CentralSettings) -> str:
    port = settings.port or (5986 if settings.scheme == "https" else 5985)
    path = settings.path if settings.path.startswith("/") else "/" + settings.path
    return f"{settings.scheme}://{settings.address}:{port}{path}"


def _run_ps(settings: CentralSettings, command: str) -> tuple[int, str, str]:
    """Run ``command`` in powershell.exe over WinRM (pywinrm's Protocol, as Ansible's winrm connection uses it)."""
    try:
        from winrm.protocol import Protocol
    except ImportError:
        raise HierarchySourceError(settings.host, OPERATION, "transport winrm needs pywinrm on the controller "
                                                             "(pip install pywinrm)") from None
    encoded = base64.b64encode(command.encode("utf-16-le")).decode("ascii")
    endpoint = _winrm_endpoint(settings)
    try:
        protocol = Protocol(endpoint=endpoint, transport=settings.winrm_transport, username=settings.user,
                            password=settings.password, server_cert_validation=settings.cert_validation,
                            operation_timeout_sec=settings.timeout, read_timeout_sec=settings.timeout + 10)
        shell = protocol.open_shell()
        try:
            command_id = protocol.run_command(shell, "powershell.exe", ["-NoProfile", "-NonInteractive",
                                                                        "-EncodedCommand", encoded])
            stdout, stderr, rc = protocol.get_command_output(shell, command_id)
            protocol.cleanup_command(shell, command_id)
        finally:
            protocol.close_shell(shell)
    except Exception as exc:            # noqa: BLE001 - pywinrm, requests and the auth libraries raise their own
        text = str(exc).replace(settings.password, "********") if settings.password else str(exc)
        raise HierarchySourceError(settings.host, OPERATION, f"WinRM {endpoint}: {type(exc).__name__}: {text}") from None
    return rc, stdout.decode("utf-8", "replace"), stderr.decode("utf-8", "replace")


def script_parameters(table: dict, site_code: str = "", timeout: int = WMI_TIMEOUT_SECONDS) -> dict:
    """``sms_hierarchy.ps1``'s parameters from the sms20 table (its param() defaults are these, tested)."""
    return {"SiteCode": site_code or "", "ProviderNamespace": table["wmi_classes"]["provider_namespace"],
            "WmiTimeoutSeconds": int(timeout)}


def read_winrm(settings: CentralSettings, site_code: str | None) -> dict:
    """The hierarchy through ``sms_hierarchy.ps1`` run by itself over WinRM."""
    parameters = script_parameters(DEFAULTS, site_code or "", settings.timeout)
    rc, stdout, stderr = _run_ps(settings, standalone_command("sms_hierarchy", parameters))
    if rc != 0:
        raise HierarchySourceError(settings.host, OPERATION, f"sms_hierarchy.ps1 exited with {rc}: "
                                                             f"{stderr.strip()[:_STDERR_SHOWN] or stdout.strip()[:200]}")
    try:
        answer = json.loads(stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise HierarchySourceError(settings.host, OPERATION, f"sms_hierarchy.ps1 printed no JSON: {stdout[:200]!r}") from None
    if not isinstance(answer, dict):
        raise HierarchySourceError(settings.host, OPERATION, f"sms_hierarchy.ps1 printed {type(answer).__name__}, not an object")
    if answer.get("error"):
        raise HierarchySourceError(settings.host, OPERATION, str(answer["error"]))
    sites = answer.get("sites")
    if not isinstance(sites, list) or not all(isinstance(row, dict) for row in sites):
        raise HierarchySourceError(settings.host, OPERATION, "sms_hierarchy.ps1 returned no SMS_Site rows")
    return {"site_code": answer.get("site_code"), "sites": sites, "provider_location": answer.get("provider_location")}


# What the msrpc reading assumes for the script's parameters (the same namespace and timeout, tested).
MSRPC_DEFAULTS = script_parameters(DEFAULTS)
READERS = {"msrpc": read_msrpc, "winrm": read_winrm}
