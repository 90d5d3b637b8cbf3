"""Host building: one site server's state folder (host.json + fs/), and ``build_state_dir``."""

from __future__ import annotations

import json
import os
import shutil
import zlib
from pathlib import Path

from smslab.scenario.determinism import _file_time, _pck_bytes, _pck_time, _rng
from smslab.scenario.facts import (
    BUILDS, COMPONENT, FIXED_MTIME, HOTFIX_DLL_SIZES, HOTFIX_VERSION, INSTALLED_DLL_SIZES, PLATFORMS, SERVICES, SETUP_TYPES,
    SITE_TYPES, SMS_SITE_FOLDER,
)
from smslab.scenario.logs import _write_distmgr_logs, shared_log
from smslab.scenario.schema import load_scenario
from smslab.pe import pe_image
from smslab.state import HostState, dll_bytes, split_windows_path


def _win_join(*parts: str) -> str:
    return "\\".join(p.strip("\\") for p in parts)


def _host_data(site: dict, sites_by_code: dict, scenario: dict) -> dict:
    full_version, dll_version, _build_number = BUILDS[site["build"]]
    install = site["install_dir"]
    platform = site["platform"]
    bin_dir = _win_join(install, "bin", platform)
    parent = site["parent"] or ""
    setup = {"Installation Directory": install, "Type": SETUP_TYPES[site["type"]]}
    if not site["full_version_missing"]:
        setup["Full Version"] = full_version
    if site["type"] == "primary":        # secondary sites have no Administrator console
        setup["UI Version"] = full_version
    registry = {
        "HKLM\\SOFTWARE\\Microsoft\\SMS\\Setup": setup,
        "HKLM\\SOFTWARE\\Microsoft\\SMS\\Identification": {
            "Site Code": site["site_code"], "Parent Site Code": parent, "Installation Directory": install},
        f"HKLM\\SOFTWARE\\Microsoft\\SMS\\Tracing\\{COMPONENT}": {
            "Enabled": 1 if site["logging"] else 0, "MaxFileSize": site["log_max_size"]},
    }
    services = {}
    for service, (exe, state, start_mode) in SERVICES.items():
        if service == "SMS_SQL_MONITOR" and site["type"] == "secondary":
            state = "absent"             # a secondary site has no site database
        state = site["services"].get(service, state)
        if state == "absent":
            continue
        services[service] = {"state": state, "start_mode": start_mode, "path": _win_join(bin_dir, exe)}
    processes = []
    if site["console_open"]:
        processes.append({"name": "mmc.exe",
                          "command_line": f"C:\\WINNT\\System32\\mmc.exe \"{_win_join(bin_dir, 'sms.msc')}\""})
    packages = site["packages"]
    wmi_packages = [{"PackageID": p, "ActionInProgress": 0, "SourceSite": p[:3]} for p in packages["active"]]
    wmi_packages += [{"PackageID": p, "ActionInProgress": 3, "SourceSite": p[:3]} for p in packages["deleting"]]
    wmi_packages.sort(key=lambda item: item["PackageID"])
    return {
        "name": site["name"],
        "site_code": site["site_code"],
        "profile": site["profile"],         # the OS imitated on the wire (smslab.profiles)
        "registry": registry,
        "services": services,
        "processes": processes,
        "wmi": {
            "available": not site["faults"].get("wmi_unavailable", False),
            "site": _site_row(site),
            # SMS_Site at this site's provider: itself and every site beneath it (the central site lists all)
            "sites": [_site_row(s) for s in _subtree(site, sites_by_code)],
            "packages": wmi_packages,
        },
        "environment": {"PROCESSOR_ARCHITECTURE": PLATFORMS[platform], "COMPUTERNAME": site["name"].upper(),
                        "TEMP": "C:\\WINNT\\Temp"},
        "faults": dict(site["faults"]),
        "inventory_vars": dict(site["inventory_vars"]),
        # What the scenario meant (ground truth for tests and reports; the probe never reads it).
        "lab": {
            "build": site["build"], "platform": platform, "type": site["type"], "install_dir": install,
            "distmgr_version": None if site["distmgr_no_version"] or site["distmgr_corrupt_version"] else dll_version,
            "package_folders": [f"{d}:\\SMSPKG" for d in site["drives"]],
            "leftovers": [dict(item) for item in packages["leftovers"]],
            "logging": site["logging"],
        },
    }


SITE_STATUS_ACTIVE = 1               # SMS_Site.Status 1 = active (SMS 2003 SDK; assumed the same in 2.0)


def _site_row(site: dict) -> dict:
    """The site's ``SMS_Site`` instance as its provider (and its parents' providers) answer it."""
    _full, _dll, build_number = BUILDS[site["build"]]
    return {"SiteCode": site["site_code"], "SiteName": f"Site {site['site_code']}",
            "ReportingSiteCode": site["parent"] or "", "Type": SITE_TYPES[site["type"]], "Version": "2.0",
            "BuildNumber": build_number, "InstallDir": site["install_dir"], "ServerName": site["name"].upper(),
            "Status": SITE_STATUS_ACTIVE}


def _subtree(site: dict, sites_by_code: dict) -> list[dict]:
    """``site`` and every site reporting to it, directly or not, parents first (scenario order)."""
    codes = {site["site_code"]}
    grew = True
    while grew:
        grew = False
        for other in sites_by_code.values():
            if other["parent"] in codes and other["site_code"] not in codes:
                codes.add(other["site_code"])
                grew = True
    return [other for other in sites_by_code.values() if other["site_code"] in codes]


def _pck_folder_for(site: dict, package_id: str) -> str:
    drives = site["drives"]
    return f"{drives[zlib.crc32(package_id.encode()) % len(drives)]}:\\SMSPKG"


def _build_host(site: dict, hosts_dir: Path, scenario: dict, sites_by_code: dict) -> str:
    seed = scenario["seed"]
    root = hosts_dir / site["name"]
    state = HostState(root=root, data=_host_data(site, sites_by_code, scenario))
    root.mkdir(parents=True, exist_ok=True)
    install = site["install_dir"]
    platform = site["platform"]
    full_version, dll_version, _unused = BUILDS[site["build"]]
    bin_dir = _win_join(install, "bin", platform)
    stamped: list[str] = []

    made: set[str] = set()

    def local(path: str) -> str:
        # A fresh folder written with one spelling per path: no case-insensitive lookup needed
        # (HostState.local_path would list every folder on the way; too slow for big fleets).
        drive, parts = split_windows_path(path)
        return os.path.join(str(state.fs_root), drive, *parts)

    def makedirs(path: str) -> None:
        target = local(path)
        if target not in made:
            os.makedirs(target, exist_ok=True)
            made.add(target)

    def put(path: str, data: bytes) -> None:
        target = local(path)
        folder = os.path.dirname(target)
        if folder not in made:
            os.makedirs(folder, exist_ok=True)
            made.add(folder)
        with open(target, "wb") as handle:
            handle.write(data)
        stamped.append(target)

    # binaries
    corrupt = site["distmgr_corrupt_version"]
    if site["distmgr_no_version"]:
        dll = dll_bytes(None, INSTALLED_DLL_SIZES[platform], machine=platform)
    elif site["build"] == "sp1_hotfixed":
        dll = dll_bytes(scenario_hotfix_version(scenario), HOTFIX_DLL_SIZES[platform], platform, corrupt)
    else:
        dll = dll_bytes(dll_version, INSTALLED_DLL_SIZES[platform], machine=platform, corrupt=corrupt)
    put(_win_join(bin_dir, "Distmgr.dll"), dll)
    for exe in ("sitecomp.exe", "smsexec.exe"):
        put(_win_join(bin_dir, exe), dll_bytes(full_version, 1024))
    put(_win_join(bin_dir, "sms.msc"), b"<?xml version=\"1.0\"?>\r\n<MMC_ConsoleFile/>\r\n")
    # logs folder (always there; Distmgr.log only when logging is on)
    logs = _win_join(install, "Logs")
    makedirs(logs)
    if site["hotfix_log"]:
        line = (f"11/23/1999 12:34:56 Q244405: replaced {_win_join(bin_dir, 'Distmgr.dll')} "
                f"({full_version} -> {scenario_hotfix_version(scenario)})\r\n"
                "11/23/1999 12:34:57 Q244405: installation completed successfully\r\n")
        put(_win_join(logs, "Q244405.log"), line.encode("ascii"))
    # inboxes: files that are not compressed packages and must never be touched
    packages = site["packages"]
    for pid in packages["active"]:
        put(_win_join(install, "inboxes", "pkginfo.box", f"{pid}.PKG"), f"[Package]\r\nID={pid}\r\n".encode())
    put(_win_join(install, "inboxes", "distmgr.box", "INCOMING", "U2J0GVIQ.PKG"), b"[Package Instruction]\r\n")
    makedirs(_win_join(install, SMS_SITE_FOLDER))
    for name in site["sender_files"]:
        put(_win_join(install, SMS_SITE_FOLDER, name), _rng(seed, "sender", site["site_code"], name).randbytes(1536))
    # package folders, one per drive
    sizes: dict[str, int] = {}
    for drive in site["drives"]:
        makedirs(f"{drive}:\\SMSPKG")
    pck_paths: dict[str, str] = {}      # package ID -> local file holding its compressed copy
    for pid in packages["active"] + packages["deleting"] + [lo["id"] for lo in packages["leftovers"]]:
        data = _pck_bytes(seed, pid, site["pck_size"])
        sizes[pid] = len(data)
        put(_win_join(_pck_folder_for(site, pid), f"{pid}.PCK"), data)
        pck_paths[pid] = stamped.pop()
    first = f"{site['drives'][0]}:\\SMSPKG"
    for name in packages["odd_files"]:
        put(_win_join(first, name), _rng(seed, "odd", site["site_code"], name).randbytes(2048))
    for pid in packages["reparse_points"]:
        # The target is a file elsewhere on the host; the link is relative so the folder can move.
        target = f"C:\\SMSDATA\\{pid}.DAT"
        put(target, _pck_bytes(seed, pid, site["pck_size"]))
        pck_paths[pid] = stamped.pop()
        link = local(_win_join(first, f"{pid}.PCK"))
        os.symlink(os.path.relpath(local(target), os.path.dirname(link)), link)
        mtime = _file_time(seed, site["site_code"], "link", pid)
        os.utime(link, (mtime, mtime), follow_symlinks=False)
    # distribution point share for the active packages (not compressed copies either)
    # (a few are enough to show the folder is not SMSPKG; every one costs a folder and a file)
    for pid in packages["active"][:3]:
        put(f"{site['drives'][0]}:\\SMSPKG{site['drives'][0]}$\\{pid}\\setup.exe", dll_bytes("1.0.0.0", 512))
    # hotfix installer on the host
    hotfix = scenario["hotfix"]
    if hotfix is not None:
        put(_win_join(hotfix["host_path"], "Q244405.exe"),
            pe_image(hotfix["version"], 8192, original_name="Q244405.exe"))
    base = len(str(state.fs_root))
    for path in stamped:
        mtime = _file_time(seed, site["site_code"], path[base:].lower())
        os.utime(path, (mtime, mtime))
    # A compressed copy is written when its package is added (the log's "Successfully
    # created/updated"), before any deletion the log claims; it is not touched afterwards.
    shared_end = None
    if site["logging"] and site["log_shared"] and site["log_bytes"]:
        shared_name, shared_end = shared_log(hosts_dir.parent, seed, site["log_bytes"])
        state.data["generated_files"] = {_win_join(logs, "Distmgr.log"): {
            "append": shared_name, "size": os.stat(hosts_dir.parent / "shared" / shared_name).st_size}}
    added_at = _write_distmgr_logs(site, Path(local(logs)), seed, packages["active"], sizes, shared_end) \
        if site["logging"] else {}
    for pid, path in pck_paths.items():
        mtime = added_at.get(pid) or _pck_time(seed, site["site_code"], pid)
        os.utime(path, (mtime, mtime))
    state.save()
    os.utime(root / "host.json", (FIXED_MTIME, FIXED_MTIME))
    return site["name"]


def scenario_hotfix_version(scenario: dict) -> str:
    return (scenario.get("hotfix") or {}).get("version", HOTFIX_VERSION)


def build_state_dir(scenario, state_dir, seed=None) -> list[str]:
    """Write the state folder for ``scenario`` (YAML path or dict); return the host names.

    Raises ValueError naming the site and the field for a bad scenario, before writing anything.
    Hosts already in ``state_dir/hosts`` that the scenario names are rebuilt from scratch.
    """
    normal = load_scenario(scenario, seed)
    state_dir = Path(state_dir)
    hosts_dir = state_dir / "hosts"
    hosts_dir.mkdir(parents=True, exist_ok=True)
    by_code = {site["site_code"]: site for site in normal["sites"]}
    names = []
    for site in normal["sites"]:
        root = hosts_dir / site["name"]
        if root.exists() or root.is_symlink():
            shutil.rmtree(root)
        names.append(_build_host(site, hosts_dir, normal, by_code))
    version = scenario_hotfix_version(normal)
    for platform, size in HOTFIX_DLL_SIZES.items():
        target = state_dir / "hotfix" / platform / "Distmgr.dll"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(dll_bytes(version, size, machine=platform))
        os.utime(target, (FIXED_MTIME, FIXED_MTIME))
    with open(state_dir / "scenario.json", "w", encoding="utf-8") as handle:
        json.dump(normal, handle, indent=2, sort_keys=True, default=str)
        handle.write("\n")
    os.utime(state_dir / "scenario.json", (FIXED_MTIME, FIXED_MTIME))
    return names
