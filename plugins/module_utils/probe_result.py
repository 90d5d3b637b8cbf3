"""Validate the answer of ``sms_probe.ps1`` and turn it into ``SiteFacts``.

The probe result schema is docs/internals.md section 1 (schema 1). ``parse_probe`` is strict
about the *shape* (a missing key or a value of the wrong type is a malformed answer: ProbeError
naming the host and the exact field) and lenient about the *content*: things a real site server
can lack (``Setup\\Full Version`` on a secondary site, WMI down, logging off, odd file names)
become warnings, and whatever depends on them is reported as unknown, never guessed in the
direction that would delete something.

Decisions made here (each one is also said in a warning when it applies):

* Version: ``Setup\\Full Version`` first. When it is missing or malformed, WMI ``SMS_Site``
  ``Version`` + ``BuildNumber`` is used: the revision is then unknown, so the version is taken as
  the LOWEST service pack of the table with that build (build 1380 -> SP1 ``2.00.1380.1000``,
  build 1493 -> SP2 ``2.00.1493.2000``, which covers SP2-SP5 for Q244405 since all of them are
  fixed). A build that is not in the table gives ``2.00.<build>.0000`` and the service pack is
  decided from the ordering of the table (or left unknown).
* Site code: ``Identification\\Site Code`` first, else WMI ``SMS_Site.SiteCode``. No usable site
  code is a ProbeError: every later decision (active list, origin of a package) depends on it.
* Site type: WMI ``SMS_Site.Type`` (documented for SMS 2.0, Table B.39) first, else the registry
  ``Setup\\Type`` (only likely-confidence), mapped through ``table["site_types"]``.
* Active packages: ``ids`` holds EVERY PackageID the site provider lists, including those whose
  ``ActionInProgress`` is ``table["action_in_progress_delete"]`` (3); those are also in
  ``deleting``. A listing whose namespace names another site than this one is not trusted
  (``available`` False).
* Log files are handed to distmgr_log oldest first: ``*.lo_`` (the rolled-over log) before the
  others, whatever order the probe listed them in.
"""
from __future__ import annotations

import re

from ansible_collections.sms.remediation.plugins.module_utils.distmgr_log import (
    entries_from_probe_matches,
    iter_package_events,
    package_histories,
)
from ansible_collections.sms.remediation.plugins.module_utils.facts import LogHistory, SiteFacts
from ansible_collections.sms.remediation.plugins.module_utils._probe_parts import (
    Checker,
    ProbeError,
    active_packages,
    logging_facts,
    package_files,
    platform_of,
    site_version,
)
from ansible_collections.sms.remediation.plugins.module_utils.versions import q244405_state

__all__ = [
    "ProbeError",
    "SCHEMA",
    "parse_probe",
]

SCHEMA = 1
_SITE_CODE_RE = re.compile(r"[A-Z0-9]{3}")


# ---------------------------------------------------------------------------------------------

def parse_probe(host: str, result: dict, table: dict, transport: str | None = None) -> SiteFacts:
    """Validate one host's probe answer (schema 1) and build its SiteFacts.

    Raises ProbeError("<host>: <message>") for a malformed answer (wrong schema, missing key,
    wrong type) and for facts nothing can be decided without: an unknown processor
    architecture, no site code or an invalid one. Everything else becomes a warning.
    """
    c = Checker(host)
    if not isinstance(result, dict):
        raise c.fail(f"malformed probe result: expected an object, got {type(result).__name__}")
    schema = c.get(result, "schema", "", (int,), nullable=False)
    if schema != SCHEMA:
        raise c.fail(f"probe result schema {schema} is not supported (field 'schema', expected {SCHEMA})")
    warnings: list[str] = []
    rv = table["registry_values"]
    keys = table.get("registry_keys",
                     {"setup": "Setup", "identification": "Identification", "tracing": "Tracing"})

    c.get(result, "computer_name", "", (str,))
    arch = c.get(result, "processor_architecture", "", (str,))
    # First: on a host SMS 2.0 cannot run on, nothing else of the answer means anything.
    platform = platform_of(c, arch, table["platforms"])
    registry = c.get(result, "registry", "", (dict,), nullable=False)
    setup = c.get(registry, "setup", "registry", (dict,))
    ident = c.get(registry, "identification", "registry", (dict,))
    tracing = c.get(registry, "tracing", "registry", (dict,))
    wmi = c.get(result, "wmi_site", "", (dict,))
    install_dir = c.get(result, "install_dir", "", (str,))
    platforms_raw = c.get(result, "platforms", "", (dict,), nullable=False)
    hotfix_log = c.get(result, "hotfix_log", "", (dict,))
    services_raw = c.get(result, "services", "", (dict,), nullable=False)
    console_open = c.get(result, "console_open", "", (bool,))
    folders_raw = c.get(result, "package_folders", "", (list,), nullable=False)
    active_raw = c.get(result, "active_packages", "", (dict,), nullable=False)
    log_raw = c.get(result, "distmgr_log", "", (dict,), nullable=False)
    errors = c.get(result, "errors", "", (list,), nullable=False)
    # Probes before the journal existed do not send the key: the same as no journal.
    journal = c.get(result, "transaction_journal", "", (dict,)) if "transaction_journal" in result else None
    if journal is not None:
        c.get(journal, "path", "transaction_journal", (str,), nullable=False)
        c.get(journal, "text", "transaction_journal", (str,))
        c.get(journal, "error", "transaction_journal", (str,))

    probe_errors = []
    for i, err in enumerate(errors):
        c.obj(err, f"errors[{i}]")
        source = c.get(err, "source", f"errors[{i}]", (str,))
        message = c.get(err, "message", f"errors[{i}]", (str,))
        probe_errors.append({"source": source or "unknown", "message": message or "no message"})
        if source != "wmi":  # WMI problems are reported with the WMI facts below
            warnings.append(f"probe error ({source}): {message}")

    # --- WMI SMS_Site ------------------------------------------------------------------------
    wmi_ok = False
    wmi_site_code = wmi_parent = wmi_version = None
    wmi_type = wmi_build = None
    wmi_install = None
    if wmi is None:
        warnings.append("WMI unavailable: the probe returned no SMS_Site answer")
    else:
        wmi_ok = bool(c.get(wmi, "available", "wmi_site", (bool,), nullable=False))
        wmi_error = c.get(wmi, "error", "wmi_site", (str,))
        if wmi_ok:
            wmi_site_code = c.get(wmi, "SiteCode", "wmi_site", (str,))
            wmi_parent = c.get(wmi, "ReportingSiteCode", "wmi_site", (str,))
            wmi_type = c.get(wmi, "Type", "wmi_site", (int,))
            wmi_version = c.get(wmi, "Version", "wmi_site", (str,))
            wmi_build = c.get(wmi, "BuildNumber", "wmi_site", (int,))
            wmi_install = c.get(wmi, "InstallDir", "wmi_site", (str,))
        else:
            warnings.append(f"WMI unavailable: {wmi_error or 'SMS_Site could not be read'}")

    # --- site code ---------------------------------------------------------------------------
    reg_site_code = c.opt(ident, rv["site_code"], "registry.identification", (str,))
    site_code_src = f"registry {keys['identification']}\\{rv['site_code']}"
    raw_code = reg_site_code
    if raw_code is None or not raw_code.strip():
        raw_code = wmi_site_code
        site_code_src = "WMI SMS_Site.SiteCode"
        if raw_code is None or not raw_code.strip():
            raise c.fail(
                f"no site code: registry {keys['identification']}\\{rv['site_code']} and "
                "WMI SMS_Site.SiteCode are both missing"
            )
        warnings.append(f"{keys['identification']}\\{rv['site_code']} missing; using WMI SMS_Site SiteCode {raw_code}")
    site_code = raw_code.strip().upper()
    if not _SITE_CODE_RE.fullmatch(site_code):
        raise c.fail(f"invalid site code {raw_code!r} from {site_code_src}: expected 3 letters or digits")
    if (reg_site_code and wmi_site_code and site_code_src.startswith("registry")
            and wmi_site_code.strip().upper() != site_code):
        warnings.append(
            f"site code differs: registry says {site_code}, WMI SMS_Site says {wmi_site_code.strip().upper()}; "
            f"using {site_code}"
        )

    # --- parent site code --------------------------------------------------------------------
    parent = c.opt(ident, rv["parent_site_code"], "registry.identification", (str,))
    if parent is None or not parent.strip():
        parent = wmi_parent
    parent_site_code = None
    if parent is not None and parent.strip():
        candidate = parent.strip().upper()
        if _SITE_CODE_RE.fullmatch(candidate):
            parent_site_code = candidate
        else:
            warnings.append(f"invalid parent site code {parent!r} ignored")

    # --- site type -----------------------------------------------------------------------------
    site_types = {int(k): v for k, v in table["site_types"].items()}
    reg_type = c.opt(setup, rv["site_type"], "registry.setup", (int,))
    site_type = None
    if wmi_type is not None:
        site_type = site_types.get(wmi_type, f"unknown({wmi_type})")
    elif reg_type is not None:
        site_type = site_types.get(reg_type, f"unknown({reg_type})")
        warnings.append(
            f"site type from registry {keys['setup']}\\{rv['site_type']}={reg_type} "
            f"({site_type}); WMI SMS_Site.Type unavailable"
        )

    # --- install dir -------------------------------------------------------------------------
    if install_dir is None:
        install_dir = (c.opt(ident, rv["install_dir"], "registry.identification", (str,))
                       or c.opt(setup, rv["install_dir"], "registry.setup", (str,))
                       or wmi_install)
    if install_dir is None:
        warnings.append("SMS installation directory unknown (registry and WMI)")

    # --- version ------------------------------------------------------------------------------
    version, build, service_pack = site_version(
        c, setup, keys, rv, wmi_ok, wmi_version, wmi_build, table, warnings)

    platforms: dict[str, dict] = {}
    for name, info in platforms_raw.items():
        path = f"platforms.{name}"
        c.obj(info, path)
        platforms[name] = {
            "path": c.get(info, "path", path, (str,)),
            "exists": bool(c.get(info, "exists", path, (bool,), nullable=False)),
            "file_version": c.get(info, "file_version", path, (str,)),
            "size": c.get(info, "size", path, (int,)),
            "sha256": c.get(info, "sha256", path, (str,)),
        }
    own = platforms.get(platform)
    distmgr_version = None
    if own is None:
        warnings.append(f"Distmgr.dll of platform {platform} not reported by the probe")
    elif not own["exists"]:
        warnings.append(f"Distmgr.dll not found at {own['path']} (platform {platform})")
    else:
        distmgr_version = own["file_version"]
        if distmgr_version is None:
            warnings.append(f"Distmgr.dll at {own['path']} has no file version")

    # --- hotfix log, services, console ----------------------------------------------------------
    hotfix_log_present = False
    if hotfix_log is not None:
        hotfix_log_present = bool(c.get(hotfix_log, "exists", "hotfix_log", (bool,), nullable=False))

    services: dict[str, str | None] = {name: None for name in table["services"].values()}
    for name, info in services_raw.items():
        path = f"services.{name}"
        if info is None:
            services[name] = None
            continue
        c.obj(info, path)
        exists = c.get(info, "exists", path, (bool,))
        state = c.get(info, "state", path, (str,))
        c.get(info, "start_mode", path, (str,))
        services[name] = state if exists else None
    for key in ("component_manager", "executive"):
        name = table["services"].get(key)
        if name and services.get(name) is None:
            warnings.append(f"service {name} is not installed on this host")

    # --- package files ------------------------------------------------------------------------
    files = package_files(c, folders_raw, table, warnings)

    # --- active packages ------------------------------------------------------------------------
    active = active_packages(c, active_raw, site_code, table, warnings)

    # --- logging and log histories --------------------------------------------------------------
    logging, log_files = logging_facts(c, tracing, log_raw, table, keys, rv, warnings)
    try:
        entries = entries_from_probe_matches(log_files)
        histories = package_histories(
            iter_package_events(entries, component=table.get("log_component") or None))
    except (ValueError, TypeError) as exc:
        raise c.fail(f"unusable Distmgr.log matches: {exc}") from None

    state = q244405_state(version, distmgr_version, hotfix_log_present, table)

    return SiteFacts(
        host=host,
        site_code=site_code,
        parent_site_code=parent_site_code,
        site_type=site_type,
        install_dir=install_dir,
        version=version,
        build=build,
        service_pack=service_pack,
        platform=platform,
        platforms=platforms,
        services=services,
        console_open=console_open,
        hotfix_log_present=hotfix_log_present,
        logging=logging,
        package_files=files,
        active=active,
        log_histories={pid: LogHistory.from_history(history) for pid, history in histories.items()},
        q244405=state,
        warnings=warnings,
        package_folders=[folder["path"] for folder in folders_raw if folder.get("exists")],
        transport=transport,
        transaction_journal=journal,
        probe_errors=probe_errors,
    )
