"""Builders of valid probe results (docs/internals.md section 1, schema 1) for the unit tests.

``probe(**overrides)`` returns a complete, valid answer of a healthy SP1 child primary site
(``610`` under ``600``, x86, logging off, no package files). Keyword overrides replace the
top-level keys; the helpers build the nested parts:

    probe(package_folders=[folder("D:\\SMSPKG", pck("61000012"))],
          active_packages=active("61000013", deleting=["61000014"]),
          distmgr_log=log_files(deleted("61000012")))
"""
from __future__ import annotations

import copy

from probe_filter import probe_log_matches

TZ = "Pacific Daylight Time"


def _line(text: str, when: str = "Fri Oct 15 17:09:46.677 1999", thread: int = 297,
          component: str = "SMS_DISTRIBUTION_MANAGER") -> str:
    return f"{text}  $$<{component}><{when} {TZ}><thread={thread} (0x{thread:X})>"


def deleting(package_id: str, when: str = "Fri Oct 15 17:09:46.677 1999") -> str:
    return _line(f"Start deleting the package {package_id}...", when)


def deleted(package_id: str, when: str = "Fri Oct 15 17:09:46.677 1999") -> str:
    return "~" + _line(f"Successfully deleted the package {package_id}", when)


def adding(package_id: str, when: str = "Sat Oct 16 09:00:00.000 1999") -> str:
    return _line(f"Start adding package {package_id}...", when)


# Lines of a Distmgr.log that the probe's filter drops: each log line of a test sits among them.
FILLER = (
    _line("Processing package 6100000F (SourceVersion:2;StoredVersion:2)..."),
    _line("Found package properties updated notification for package 60000012"),
)


def log_file(path: str, *texts: str, exists: bool = True) -> dict:
    """A log file as the probe answers for it: the physical log is each text (a wrapped entry is one text with
    its line break) followed by filler up to three lines, and ``matches`` is what the probe's own filter keeps of it
    (probe_filter.py). A text the filter drops is not in ``matches``, as on a host."""
    lines: list[str] = []
    for text in texts:
        physical = text.split("\n")
        lines += physical + list(FILLER[:max(0, 3 - len(physical))])
    return {
        "path": path,
        "exists": exists,
        "size": sum(len(t) + 2 for t in texts) if exists else None,
        "matches": probe_log_matches(lines) if exists else [],
    }


def log_files(*texts: str, enabled: bool = True, old: tuple = ()) -> dict:
    """distmgr_log with Distmgr.lo_ (``old`` lines) and Distmgr.log (``texts``)."""
    files = []
    files.append(log_file("C:\\SMS\\Logs\\Distmgr.lo_", *old, exists=bool(old)))
    files.append(log_file("C:\\SMS\\Logs\\Distmgr.log", *texts))
    return {"logging_enabled": enabled, "max_file_size": 1048576, "files": files}


def no_log() -> dict:
    return {
        "logging_enabled": False,
        "max_file_size": None,
        "files": [
            {"path": "C:\\SMS\\Logs\\Distmgr.lo_", "exists": False, "size": None, "matches": []},
            {"path": "C:\\SMS\\Logs\\Distmgr.log", "exists": False, "size": None, "matches": []},
        ],
    }


def pck(name_or_id: str, size: int = 1048576, last_write_utc: str | None = "1999-10-15T16:00:00Z",
        reparse_point: bool = False, directory: bool = False) -> dict:
    name = name_or_id if "." in name_or_id or len(name_or_id) != 8 else f"{name_or_id}.PCK"
    return {"name": name, "size": size, "last_write_utc": last_write_utc,
            "reparse_point": reparse_point, "directory": directory}


def folder(path: str, *files: dict, exists: bool = True) -> dict:
    return {"path": path, "exists": exists, "files": list(files)}


def active(*ids: str, deleting: tuple | list = (), site_code: str = "610",
           available: bool = True, error: str | None = None) -> dict:
    if not available:
        return {"available": False, "error": error or "WMI provider unavailable",
                "namespace": None, "packages": None}
    packages = [{"PackageID": i, "ActionInProgress": 0, "SourceSite": i[:3]} for i in ids]
    packages += [{"PackageID": i, "ActionInProgress": 3, "SourceSite": i[:3]} for i in deleting]
    return {"available": True, "error": error, "namespace": f"root\\SMS\\site_{site_code}",
            "packages": packages}


def wmi(site_code: str = "610", parent: str | None = "600", build: int = 1380,
        site_type: int = 2, available: bool = True, error: str | None = None) -> dict:
    if not available:
        return {"available": False, "error": error or "RPC server unavailable",
                "SiteCode": None, "ReportingSiteCode": None, "Type": None,
                "Version": None, "BuildNumber": None, "InstallDir": None}
    return {"available": True, "error": None, "SiteCode": site_code, "ReportingSiteCode": parent,
            "Type": site_type, "Version": "2.0", "BuildNumber": build, "InstallDir": "C:\\SMS"}


def registry(full_version: str | None = "2.00.1380.1000", site_code: str | None = "610",
             parent: str | None = "600", tracing_enabled: int | None = 0) -> dict:
    setup = {"Full Version": full_version, "Installation Directory": "C:\\SMS", "Type": 1,
             "UI Version": None}
    ident = {"Site Code": site_code, "Parent Site Code": parent,
             "Installation Directory": "C:\\SMS"}
    tracing = {"Enabled": tracing_enabled, "MaxFileSize": 1048576}
    return {"setup": setup, "identification": ident, "tracing": tracing}


def platforms(i386: str | None = "2.00.1380.1000", alpha: str | None = None) -> dict:
    def one(folder_name, version):
        return {
            "path": f"C:\\SMS\\bin\\{folder_name}\\Distmgr.dll",
            "exists": version is not None,
            "file_version": version,
            "size": 228240 if version else None,
            "sha256": "ab" * 32 if version else None,
        }
    return {"i386": one("i386", i386), "alpha": one("alpha", alpha)}


def services(**states) -> dict:
    names = {
        "SMS_SITE_COMPONENT_MANAGER": "running",
        "SMS_EXECUTIVE": "running",
        "SMS_SITE_BACKUP": "stopped",
        "SMS_SQL_MONITOR": "running",
    }
    names.update(states)
    return {
        name: ({"exists": True, "state": state, "start_mode": "auto"} if state
               else {"exists": False, "state": None, "start_mode": None})
        for name, state in names.items()
    }


BASE = {
    "schema": 1,
    "computer_name": "SMS01",
    "processor_architecture": "x86",
    "registry": registry(),
    "wmi_site": wmi(),
    "install_dir": "C:\\SMS",
    "platforms": platforms(),
    "hotfix_log": {"path": "C:\\SMS\\Logs\\Q244405.log", "exists": False},
    "services": services(),
    "console_open": False,
    "package_folders": [folder("D:\\SMSPKG")],
    "active_packages": active(),
    "distmgr_log": no_log(),
    "errors": [],
}


def probe(**overrides) -> dict:
    """A valid probe result with top-level keys replaced by ``overrides``."""
    result = copy.deepcopy(BASE)
    for key, value in overrides.items():
        result[key] = copy.deepcopy(value)
    return result


def site_probe(site_code: str, parent: str | None = None, *, files=(), active_ids=(),
               deleting_ids=(), log=(), arch: str = "x86", full_version: str = "2.00.1380.1000",
               active_available: bool = True, tracing_enabled: int = 1) -> dict:
    """A probe of the site ``site_code`` with its files, active list and log lines."""
    return probe(
        computer_name=f"SMS{site_code}",
        processor_architecture=arch,
        registry=registry(full_version=full_version, site_code=site_code, parent=parent,
                          tracing_enabled=tracing_enabled),
        wmi_site=wmi(site_code=site_code, parent=parent),
        package_folders=[folder("D:\\SMSPKG", *files)],
        active_packages=active(*active_ids, deleting=deleting_ids, site_code=site_code,
                               available=active_available),
        distmgr_log=log_files(*log) if log else no_log(),
    )


def request(policy="auto", method=None, source=True, force=(), **options):
    """A decision.Request: ``source`` True gives a hotfix for every platform (a Distmgr.dll per platform on
    the controller and an installer path), False none."""
    from ansible_collections.sms.remediation.plugins.module_utils.decision import HotfixFile, Request
    files = {}
    if source:
        files = {platform: HotfixFile(f"{platform}/Distmgr.dll", path=f"/controller/{platform}/Distmgr.dll",
                                      sha256="cd" * 32) for platform in ("i386", "alpha")}
    force = (force,) if isinstance(force, str) else tuple(force or ())
    return Request(policy=policy, hotfix_method=method, force_ids=force, hotfix_files=files,
                   installer_path="\\\\fileserver\\hotfix\\Q244405.exe" if source else None, **options)
