# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How to reach one msrpc host: the ``q244405_msrpc_*`` host variables, checked once per task (private to this collection).

The variables are documented in the doc fragment ``sms.remediation.msrpc``; every bad value fails the
task naming the variable, the value (never the password) and the host."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

VAR_PREFIX = "q244405_msrpc_"
DIALECTS = ("auto", "smb1", "smb2", "smb3")
DEFAULT_PORT = 445
DEFAULT_TIMEOUT = 30
DEFAULT_CACHE_DIR = os.path.join("~", ".cache", "sms.remediation", "msrpc")
# MS-DCOM notes NT/2000's own clients default to CONNECT; the collection keeps the strongest level and never
# lowers it on its own (whether NT 4.0 accepts PKT_PRIVACY is not known): the user chooses.
DCOM_AUTH_LEVELS = ("connect", "pkt_integrity", "pkt_privacy")
DEFAULT_DCOM_AUTH_LEVEL = "pkt_privacy"


class SettingsError(ValueError):
    """A ``q244405_msrpc_*`` variable is missing or has a bad value (the message names it)."""


@dataclass(frozen=True)
class MsrpcSettings:
    host: str                      # inventory name: every error message starts with it
    address: str                   # ansible_host, else the inventory name
    user: str
    password: str = field(repr=False)
    domain: str = ""
    port: int = DEFAULT_PORT
    dialect: str = "auto"          # auto: SMB2/3 when the server offers it, else NT LM 0.12
    allow_ntlmv1: bool = False
    allow_plaintext_password: bool = False   # a server without a challenge (ChallengeLength 0) gets the password
    timeout: int = DEFAULT_TIMEOUT  # seconds, per SMB/RPC call and per service wait step
    cache_dir: str = DEFAULT_CACHE_DIR
    wmi_address: str | None = None  # where the host's DCOM port 135 answers, when not at ``address``
    dcom_auth_level: str = DEFAULT_DCOM_AUTH_LEVEL   # RPC authentication level of every DCOM call

    @property
    def account(self) -> str:
        return f"{self.domain}\\{self.user}" if self.domain else self.user


def _int(name: str, value, low: int, high: int) -> int:
    if isinstance(value, bool):
        raise SettingsError(f"{name}={value!r}: expected an integer from {low} to {high}")
    try:
        number = int(str(value).strip())
    except ValueError:
        raise SettingsError(f"{name}={value!r}: expected an integer from {low} to {high}") from None
    if not low <= number <= high:
        raise SettingsError(f"{name}={value!r}: expected an integer from {low} to {high}")
    return number


def _bool(name: str, value) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise SettingsError(f"{name}={value!r}: expected a boolean")


def settings_from_vars(host: str, variables: dict) -> MsrpcSettings:
    """Build the settings from a host's (already templated) variables; raise SettingsError."""
    def var(name, default=None):
        value = variables.get(VAR_PREFIX + name)
        return default if value is None else value

    user = var("user")
    if not isinstance(user, str) or not user.strip():
        raise SettingsError(f"{VAR_PREFIX}user is not set: the msrpc transport needs an account that is a "
                            "local administrator of the site server")
    password = var("password")
    if password is None:
        raise SettingsError(f"{VAR_PREFIX}password is not set (it may be an empty string, not undefined)")
    if not isinstance(password, str):
        raise SettingsError(f"{VAR_PREFIX}password: expected a string")
    domain = var("domain", "")
    if not isinstance(domain, str):
        raise SettingsError(f"{VAR_PREFIX}domain={domain!r}: expected a string")
    dialect = str(var("dialect", "auto")).strip().lower()
    if dialect not in DIALECTS:
        raise SettingsError(f"{VAR_PREFIX}dialect={dialect!r}: expected one of {', '.join(DIALECTS)}")
    cache_dir = var("cache_dir", DEFAULT_CACHE_DIR)
    if not isinstance(cache_dir, str) or not cache_dir.strip():
        raise SettingsError(f"{VAR_PREFIX}cache_dir={cache_dir!r}: expected a folder on the controller")
    address = variables.get("ansible_host") or host
    wmi_address = var("wmi_address")
    if wmi_address is not None and (not isinstance(wmi_address, str) or not wmi_address.strip()):
        raise SettingsError(f"{VAR_PREFIX}wmi_address={wmi_address!r}: expected a host name or address")
    auth_level = str(var("dcom_auth_level", DEFAULT_DCOM_AUTH_LEVEL)).strip().lower()
    if auth_level not in DCOM_AUTH_LEVELS:
        raise SettingsError(f"{VAR_PREFIX}dcom_auth_level={auth_level!r}: expected one of {', '.join(DCOM_AUTH_LEVELS)}")
    return MsrpcSettings(
        host=host,
        address=str(address),
        user=user.strip(),
        password=password,
        domain=domain.strip(),
        port=_int(VAR_PREFIX + "port", var("port", DEFAULT_PORT), 1, 65535),
        dialect=dialect,
        allow_ntlmv1=_bool(VAR_PREFIX + "allow_ntlmv1", var("allow_ntlmv1", False)),
        allow_plaintext_password=_bool(VAR_PREFIX + "allow_plaintext_password", var("allow_plaintext_password", False)),
        timeout=_int(VAR_PREFIX + "timeout", var("timeout", DEFAULT_TIMEOUT), 1, 3600),
        cache_dir=os.path.expanduser(cache_dir.strip()),
        wmi_address=wmi_address.strip() if wmi_address else None,
        dcom_auth_level=auth_level,
    )
