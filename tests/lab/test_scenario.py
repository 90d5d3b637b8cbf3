"""Tests of the lab's scenario generator (lab/smslab/scenario/): the demo, builds, odd cases, big logs and
.PCK times. Generated fleets and rejected scenarios: test_scenario_fleet.py."""

from __future__ import annotations

import json
import os
import re
import sys
import time
import tracemalloc
from pathlib import Path

import pytest

LAB = Path(__file__).resolve().parents[2] / "lab"
if str(LAB) not in sys.path:
    sys.path.insert(0, str(LAB))

from smslab.scenario import build_state_dir  # noqa: E402
from smslab.state import HostState, file_version_of  # noqa: E402

SCENARIOS = LAB / "scenarios"

# The SMS 2.0 line format (KB Q244405, Q248969): text, two spaces, $$<component><date tz><thread>
LINE = re.compile(
    r"^(?P<text>.*?)  \$\$<(?P<component>[A-Z_]+)>"
    r"<(?P<dow>Mon|Tue|Wed|Thu|Fri|Sat|Sun) (?P<mon>Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
    r"(?P<day>\d\d) (?P<time>\d\d:\d\d:\d\d\.\d{3}) (?P<year>\d{4}) (?P<tz>Pacific (?:Daylight|Standard) Time)>"
    r"<thread=(?P<dec>\d+) \(0x(?P<hex>[0-9A-F]+)\)>$"
)
LOG_PATTERN = re.compile(r"deleting the package|deleted the package|adding package", re.I)


def entries(raw: bytes, encoding: str = "ascii") -> list[str]:
    """Logical entries of a log: physical lines joined when an entry is wrapped (as the probe does)."""
    text = raw.decode(encoding)
    assert "\n" not in text.replace("\r\n", ""), "bare LF in the log"
    lines = text.split("\r\n")
    assert lines[-1] == ""
    result, pending = [], ""
    for line in lines[:-1]:
        pending += line          # a wrapped entry: "...<thread=297 " + "(0x129)>"
        if re.search(r"<thread=\d+ \(0x[0-9A-F]+\)>$", pending):
            result.append(pending)
            pending = ""
    assert pending == ""
    return result


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    state_dir = tmp_path_factory.mktemp("demo")
    names = build_state_dir(SCENARIOS / "demo.yml", state_dir)
    return state_dir, names


def host(state_dir: Path, name: str) -> HostState:
    return HostState.load(state_dir / "hosts" / name)


# ---- demo ---------------------------------------------------------------------------------------

def test_demo_builds(demo):
    state_dir, names = demo
    assert names == ["sms600", "sms610", "sms620", "sms630"]
    for name in names:
        assert (state_dir / "hosts" / name / "host.json").is_file()
        assert (state_dir / "hosts" / name / "fs").is_dir()
    scenario = json.loads((state_dir / "scenario.json").read_text())
    assert scenario["credentials"]["user"] == "Administrator"


def test_demo_host_json_fields(demo):
    state_dir, _unused = demo
    h = host(state_dir, "sms610")
    data = h.data
    assert data["name"] == "sms610" and data["site_code"] == "610"
    setup = h.registry_key("HKLM\\SOFTWARE\\Microsoft\\SMS\\Setup")
    assert setup == {"Full Version": "2.00.1380.1000", "Installation Directory": "C:\\SMS", "Type": 1,
                     "UI Version": "2.00.1380.1000"}
    ident = h.registry_key("HKLM:\\SOFTWARE\\Microsoft\\SMS\\Identification")
    assert ident == {"Site Code": "610", "Parent Site Code": "600", "Installation Directory": "C:\\SMS"}
    tracing = h.registry_key("HKLM\\SOFTWARE\\Microsoft\\SMS\\Tracing\\SMS_DISTRIBUTION_MANAGER")
    assert tracing == {"Enabled": 1, "MaxFileSize": 1048576}
    assert h.services["SMS_SITE_COMPONENT_MANAGER"] == {
        "state": "running", "start_mode": "auto", "path": "C:\\SMS\\bin\\i386\\sitecomp.exe"}
    assert h.services["SMS_EXECUTIVE"]["path"] == "C:\\SMS\\bin\\i386\\smsexec.exe"
    assert h.services["SMS_SITE_BACKUP"]["state"] == "stopped"
    assert h.services["SMS_SITE_BACKUP"]["start_mode"] == "manual"
    assert h.services["SMS_SQL_MONITOR"]["state"] == "running"
    assert h.processes == []
    assert h.wmi["available"] is True
    assert h.wmi["site"] == {"SiteCode": "610", "ReportingSiteCode": "600", "Type": 2, "Version": "2.0",
                             "BuildNumber": 1380, "InstallDir": "C:\\SMS", "ServerName": "SMS610",
                             "SiteName": "Site 610", "Status": 1}
    assert h.wmi["packages"] == [
        {"PackageID": "60000013", "ActionInProgress": 0, "SourceSite": "600"},
        {"PackageID": "61000001", "ActionInProgress": 0, "SourceSite": "610"},
    ]
    assert h.environment == {"PROCESSOR_ARCHITECTURE": "x86", "COMPUTERNAME": "SMS610", "TEMP": "C:\\WINNT\\Temp"}
    assert data["faults"] == {} and data["inventory_vars"] == {}

    central = host(state_dir, "sms600")
    assert central.registry_key("HKLM\\SOFTWARE\\Microsoft\\SMS\\Identification")["Parent Site Code"] == ""
    assert central.wmi["site"]["BuildNumber"] == 1493

    alpha = host(state_dir, "sms620")
    assert alpha.environment["PROCESSOR_ARCHITECTURE"] == "ALPHA"
    assert alpha.services["SMS_SITE_BACKUP"]["state"] == "running"
    assert alpha.registry_key("HKLM\\SOFTWARE\\Microsoft\\SMS\\Tracing\\SMS_DISTRIBUTION_MANAGER")["Enabled"] == 0
    assert alpha.services["SMS_EXECUTIVE"]["path"] == "C:\\SMS\\bin\\alpha\\smsexec.exe"


def test_demo_files(demo):
    state_dir, _unused = demo
    h610 = host(state_dir, "sms610")
    assert h610.listdir("D:\\SMSPKG") == sorted(
        ["60000012.PCK", "60000013.PCK", "60000014.PCK", "61000001.PCK", "6100001G.PCK"])
    assert h610.listdir("C:\\SMS\\inboxes\\despoolr.box\\receive") == ["2_4O7PRI.PCK"]
    assert h610.file_version("C:\\SMS\\bin\\i386\\Distmgr.dll") == "2.00.1380.1000"
    assert not h610.exists("C:\\SMS\\Logs\\Q244405.log")
    assert h610.exists("C:\\SMSHOTFIX\\Q244405\\Q244405.exe")
    # the same package has the same compressed copy at every site
    h600, h620 = host(state_dir, "sms600"), host(state_dir, "sms620")
    assert h600.sha256("D:\\SMSPKG\\60000013.PCK") == h610.sha256("d:\\smspkg\\60000013.pck")
    for name in ("60000012", "60000014", "60000015", "60000016"):
        assert not h600.exists(f"D:\\SMSPKG\\{name}.PCK")      # deleted at the origin
    assert h620.listdir("D:\\SMSPKG") == ["60000012.PCK", "60000013.PCK", "60000015.PCK"]
    assert h620.file_version("C:\\SMS\\bin\\alpha\\Distmgr.dll") == "2.00.1380.1000"
    assert not h620.exists("C:\\SMS\\bin\\i386\\Distmgr.dll")
    h630 = host(state_dir, "sms630")
    assert h630.listdir("D:\\SMSPKG") == ["60000016.PCK"]
    assert h630.file_version("C:\\SMS\\bin\\i386\\Distmgr.dll") == "2.00.1380.1083"
    assert h630.exists("C:\\SMS\\Logs\\Q244405.log")
    # controller-side hotfix media; a hotfixed site holds exactly those bytes
    fixed = (state_dir / "hotfix" / "i386" / "Distmgr.dll").read_bytes()
    assert file_version_of(fixed) == "2.00.1380.1083"
    assert file_version_of((state_dir / "hotfix" / "alpha" / "Distmgr.dll").read_bytes()) == "2.00.1380.1083"
    assert h630.read_bytes("C:\\SMS\\bin\\i386\\Distmgr.dll") == fixed
    for pck in h610.listdir("D:\\SMSPKG"):
        assert 2048 <= len(h610.read_bytes(f"D:\\SMSPKG\\{pck}")) <= 65536


def test_log_only_where_logging_is_on(demo):
    state_dir, _unused = demo
    assert host(state_dir, "sms600").exists("C:\\SMS\\Logs\\Distmgr.log")
    assert host(state_dir, "sms610").exists("C:\\SMS\\Logs\\Distmgr.log")
    for name in ("sms620", "sms630"):
        h = host(state_dir, name)
        assert h.is_dir("C:\\SMS\\Logs")
        assert not h.exists("C:\\SMS\\Logs\\Distmgr.log")
        assert not h.exists("C:\\SMS\\Logs\\Distmgr.lo_")


def test_log_kb_format_and_claims(demo):
    state_dir, _unused = demo
    raw = host(state_dir, "sms610").read_bytes("C:\\SMS\\Logs\\Distmgr.log")
    physical = raw.split(b"\r\n")
    assert sum(1 for line in physical if line.startswith(b"~")) > len(physical) // 3
    logical = entries(raw)
    assert len(logical) > 40
    parsed = []
    for entry in logical:
        match = LINE.match(entry)
        assert match, entry
        assert match.group("component") == "SMS_DISTRIBUTION_MANAGER"
        assert int(match.group("dec")) == int(match.group("hex"), 16)
        parsed.append(match)
    texts = [m.group("text") for m in parsed]
    assert len({m.group("dec") for m in parsed}) > 3                       # interleaved threads
    assert any(t.startswith("~Starting package processing thread,thread ID = ") for t in texts)
    assert "Start adding package 61000001..." in texts
    assert any(re.match(r"The compressed size of package 61000001 is \d+ KBytes$", t) for t in texts)
    for pid in ("60000012", "60000014"):
        start = texts.index(f"Start deleting the package {pid}...")
        done = texts.index(f"~Successfully deleted the package {pid}")
        assert done == start + 1
        assert parsed[start].group("time") == parsed[done].group("time")    # same ms, as in the KB
        assert texts.index(f"Start adding package {pid}...") < start
    # only the packages' own lines match the probe's filter: the answer does not grow with noise
    matching = [t for t in texts if LOG_PATTERN.search(t)]
    assert len(matching) == 4 + 2 * 2          # 4 adds, 2 claims of 2 lines
    # the central site's log: no deletion claims
    central = entries(host(state_dir, "sms600").read_bytes("C:\\SMS\\Logs\\Distmgr.log"))
    assert not any("deleted the package" in e for e in central)


def test_wrapped_entry(demo):
    state_dir, _unused = demo
    raw = host(state_dir, "sms610").read_bytes("C:\\SMS\\Logs\\Distmgr.log").decode("ascii")
    wrapped = re.findall(r"Start deleting the package (\d{8})\.\.\.  \$\$<SMS_DISTRIBUTION_MANAGER><[^>]+>"
                         r"<thread=(\d+) \r\n\(0x([0-9A-F]+)\)>\r\n", raw)
    assert len(wrapped) == 1
    pid, dec, hexa = wrapped[0]
    assert int(dec) == int(hexa, 16) and pid in ("60000012", "60000014")


def test_rollover_file(tmp_path):
    build_state_dir(SCENARIOS / "hierarchy.yml", tmp_path)
    h = host(tmp_path, "sms712")
    old = h.read_bytes("C:\\SMS\\Logs\\Distmgr.lo_")
    new = h.read_bytes("C:\\SMS\\Logs\\Distmgr.log")
    old_entries, new_entries = entries(old), entries(new)
    assert "~Successfully deleted the package 70000004" in [LINE.match(e).group("text") for e in old_entries]
    assert not any("70000004" in e and "deleted" in e for e in new_entries)
    assert any("~Successfully deleted the package 70000003" in e for e in new_entries)
    assert any(e.startswith("Start deleting the package 71200001...") for e in new_entries)
    assert not any("Successfully deleted the package 71200001" in e for e in new_entries)
    assert [p["ActionInProgress"] for p in h.wmi["packages"] if p["PackageID"] == "71200001"] == [3]
    # older entries in .lo_, and its modification time is earlier
    lo = h.local_path("C:\\SMS\\Logs\\Distmgr.lo_").stat().st_mtime
    log = h.local_path("C:\\SMS\\Logs\\Distmgr.log").stat().st_mtime
    assert lo < log
    # logging on for one child only
    enabled = {n: host(tmp_path, n).registry_key(
        "HKLM\\SOFTWARE\\Microsoft\\SMS\\Tracing\\SMS_DISTRIBUTION_MANAGER")["Enabled"]
        for n in ("sms711", "sms712", "sms713")}
    assert enabled == {"sms711": 0, "sms712": 1, "sms713": 0}


# ---- builds, odd cases -------------------------------------------------------------------------

BUILD_VERSIONS = {"rtm": "2.00.1239.0000", "sp1": "2.00.1380.1000", "sp1_hotfixed": "2.00.1380.1083",
                  "sp2": "2.00.1493.2000", "sp3": "2.00.1493.3000", "sp4": "2.00.1493.4000"}


def test_dll_versions_per_build(tmp_path):
    sites = [{"name": "central", "site_code": "100", "build": "sp2"}]
    for index, build in enumerate(BUILD_VERSIONS):
        for platform in ("i386", "alpha"):
            sites.append({"name": f"s{build}{platform}", "site_code": f"{index}{platform[0]}X".upper(),
                          "parent": "100", "build": build, "platform": platform})
    sites.append({"name": "noversion", "site_code": "NOV", "parent": "100", "build": "sp1",
                  "distmgr_no_version": True})
    build_state_dir({"sites": sites}, tmp_path)
    for build, version in BUILD_VERSIONS.items():
        for platform in ("i386", "alpha"):
            h = host(tmp_path, f"s{build}{platform}")
            assert h.file_version(f"C:\\SMS\\bin\\{platform}\\Distmgr.dll") == version
            full = h.registry_key("HKLM\\SOFTWARE\\Microsoft\\SMS\\Setup")["Full Version"]
            assert full == (BUILD_VERSIONS["sp1"] if build == "sp1_hotfixed" else version)
            assert h.wmi["site"]["BuildNumber"] == int(version.split(".")[2])
    h = host(tmp_path, "noversion")
    assert h.exists("C:\\SMS\\bin\\i386\\Distmgr.dll")
    assert h.file_version("C:\\SMS\\bin\\i386\\Distmgr.dll") is None


ODD = ["6100001.PCK", "6100001G.PCK", "READ ME.PCK", "\uff336100001.PCK", "CON.PCK", "61000012 .PCK"]


def test_odd_files_reparse_points_drives_secondary(tmp_path):
    scenario = {
        "seed": 3,
        "sites": [
            {"name": "c", "site_code": "600", "packages": {"active": ["60000001"]}},
            {"name": "child", "site_code": "610", "parent": "600", "build": "sp1", "logging": "on",
             "drives": ["D", "E"], "console_open": True,
             "packages": {"active": ["60000001"], "leftovers": [60000002, 60000003, 60000004, 60000005],
                          "odd_files": ODD, "reparse_points": ["60000009"], "deleting": ["61000001"],
                          "deleted": ["60000007"]},
             "inventory_vars": {"ansible_port": 5986}, "faults": {"slow_seconds": 0.5}},
            {"name": "sec", "site_code": "611", "parent": "610", "type": "secondary", "build": "sp1",
             "full_version_missing": True},
        ],
    }
    build_state_dir(scenario, tmp_path)
    h = host(tmp_path, "child")
    on_d, on_e = h.listdir("D:\\SMSPKG"), h.listdir("E:\\SMSPKG")
    for name in ODD:
        assert name in on_d
    pcks = {n for n in on_d + on_e if re.match(r"^[0-9A-F]{8}\.PCK$", n)}
    assert pcks == {"60000001.PCK", "60000002.PCK", "60000003.PCK", "60000004.PCK", "60000005.PCK",
                    "60000009.PCK", "61000001.PCK"}
    assert on_e, "packages are spread over both drives"
    assert "60000007.PCK" not in on_d + on_e
    link = h.local_path("D:\\SMSPKG\\60000009.PCK")
    assert link.is_symlink() and h.is_reparse_point("D:\\SMSPKG\\60000009.PCK")
    target = link.resolve()
    assert target.is_file() and (h.fs_root / "D" / "SMSPKG") not in target.parents
    assert h.fs_root in target.parents
    assert not os.path.isabs(os.readlink(link))
    assert h.processes == [{"name": "mmc.exe",
                            "command_line": "C:\\WINNT\\System32\\mmc.exe \"C:\\SMS\\bin\\i386\\sms.msc\""}]
    assert {p["PackageID"]: p["ActionInProgress"] for p in h.wmi["packages"]} == {"60000001": 0, "61000001": 3}
    assert h.data["inventory_vars"] == {"ansible_port": 5986}
    assert h.data["faults"] == {"slow_seconds": 0.5}
    log = "\n".join(entries(h.read_bytes("C:\\SMS\\Logs\\Distmgr.log")))
    assert "~Successfully deleted the package 60000007" in log
    assert "~Successfully deleted the package 60000009" in log
    sec = host(tmp_path, "sec")
    setup = sec.registry_key("HKLM\\SOFTWARE\\Microsoft\\SMS\\Setup")
    assert "Full Version" not in setup
    assert sec.wmi["site"]["Type"] == 1 and sec.wmi["site"]["BuildNumber"] == 1380
    assert "SMS_SQL_MONITOR" not in sec.services


def test_leftover_claim_per_package(tmp_path):
    scenario = {"sites": [
        {"name": "c", "site_code": "600"},
        {"name": "child", "site_code": "610", "parent": "600", "build": "sp1", "logging": True,
         "packages": {"leftovers": [{"id": 60000012, "log_claim": False}, 60000014]}},
    ]}
    build_state_dir(scenario, tmp_path)
    log = "\n".join(entries(host(tmp_path, "child").read_bytes("C:\\SMS\\Logs\\Distmgr.log")))
    assert "Successfully deleted the package 60000014" in log
    assert "deleted the package 60000012" not in log
    assert "Start adding package 60000012..." in log


def test_utf16_and_corrupt_logs(tmp_path):
    scenario = {"sites": [
        {"name": "c", "site_code": "600"},
        {"name": "wide", "site_code": "610", "parent": "600", "build": "sp1", "logging": "on",
         "log_encoding": "utf-16", "packages": {"leftovers": [60000012]}},
        {"name": "bad", "site_code": "620", "parent": "600", "build": "sp1", "logging": "on",
         "packages": {"active": [60000001], "leftovers": [60000012]}, "faults": {"corrupt_log": True}},
    ]}
    build_state_dir(scenario, tmp_path)
    wide = host(tmp_path, "wide").read_bytes("C:\\SMS\\Logs\\Distmgr.log")
    assert wide.startswith(b"\xff\xfe")
    logical = entries(wide[2:], "utf-16-le")
    assert all(LINE.match(e) for e in logical)
    assert any(e.startswith("~Successfully deleted the package 60000012") for e in logical)
    bad = host(tmp_path, "bad").read_bytes("C:\\SMS\\Logs\\Distmgr.log")
    assert b"\x00" * 16 in bad
    with pytest.raises(UnicodeDecodeError):
        bad.decode("utf-8")
    lines = bad.split(b"\r\n")
    truncated = [line for line in lines if line.startswith(b"~") and not line.endswith(b")>")]
    assert len(truncated) >= 2
    assert b"~Successfully deleted the package 60000012  $$<SMS_DISTRIBUTION_MANAGER>" in bad


def test_faults_scenario(tmp_path):
    names = build_state_dir(SCENARIOS / "faults.yml", tmp_path)
    assert len(names) == 8
    faults = {n: host(tmp_path, n).data["faults"] for n in names}
    assert faults["sms800"] == {}
    assert faults["sms801"] == {"service_wont_stop": ["SMS_EXECUTIVE"]}
    assert faults["sms802"] == {"copy_fails": True}
    assert faults["sms803"] == {"drop_connection_after": ["hotfix_transaction"]}
    assert faults["sms804"] == {"wmi_unavailable": True}
    assert host(tmp_path, "sms804").wmi["available"] is False
    assert faults["sms805"] == {"corrupt_log": True}
    assert faults["sms806"] == {"slow_seconds": 0.5}
    assert host(tmp_path, "sms807").processes[0]["name"] == "mmc.exe"


# ---- big logs ------------------------------------------------------------------------------------

def test_log_bytes_20mb_bounded_memory(tmp_path):
    target = 20 * 1024 * 1024
    scenario = {"seed": 5, "sites": [
        {"name": "c", "site_code": "600"},
        {"name": "big", "site_code": "610", "parent": "600", "build": "sp1", "logging": "on",
         "log_bytes": target, "log_wrapped_entry": True,
         "packages": {"active": [60000001, 61000001], "leftovers": [60000012, 60000014]}},
    ]}
    tracemalloc.start()
    try:
        build_state_dir(scenario, tmp_path)
        _unused, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    path = host(tmp_path, "big").local_path("C:\\SMS\\Logs\\Distmgr.log")
    size = path.stat().st_size
    assert abs(size - target) <= target * 0.01, size
    assert peak < 20 * 1024 * 1024, peak
    claims, matching = [], 0
    with open(path, "rb") as handle:
        for line in handle:
            if LOG_PATTERN.search(line.decode("ascii")):
                matching += 1
            if b"Successfully deleted the package" in line:
                claims.append(line[:43])
    assert sorted(claims) == [b"~Successfully deleted the package 60000012 ",
                              b"~Successfully deleted the package 60000014 "]
    assert matching == 4 + 4          # 4 adds, 2 x (start deleting + deleted): bounded by packages


def entry_time(match) -> float:
    """POSIX time of a parsed entry (Pacific time: UTC-7 daylight, UTC-8 standard)."""
    import calendar
    moment = time.strptime(f"{match.group('mon')} {match.group('day')} {match.group('year')} "
                           f"{match.group('time')[:8]}", "%b %d %Y %H:%M:%S")
    offset = 7 if "Daylight" in match.group("tz") else 8
    return calendar.timegm(moment) + offset * 3600 + int(match.group("time")[9:]) / 1000


@pytest.mark.parametrize("scenario,name,claimed", [
    ("demo.yml", "sms610", ["60000012", "60000014"]),
    ("hierarchy.yml", "sms712", ["70000003", "70000004"]),
])
def test_pck_time_matches_the_log(tmp_path, scenario, name, claimed):
    """A compressed copy is written when its package is added, before the false deletion claim."""
    build_state_dir(SCENARIOS / scenario, tmp_path)
    h = host(tmp_path, name)
    parsed = []
    for log in ("Distmgr.lo_", "Distmgr.log"):
        if h.exists(f"C:\\SMS\\Logs\\{log}"):
            parsed += [LINE.match(e) for e in entries(h.read_bytes(f"C:\\SMS\\Logs\\{log}"))]
    created = {m.group("text").rsplit(" ", 1)[1]: entry_time(m) for m in parsed
               if m.group("text").startswith("~Successfully created/updated the package ")}
    claims = {m.group("text").rsplit(" ", 1)[1]: entry_time(m) for m in parsed
              if m.group("text").startswith("~Successfully deleted the package ")}
    assert sorted(claims) == claimed
    for pid in h.listdir("D:\\SMSPKG"):
        package_id = pid[:-4]
        if package_id not in created:
            continue
        mtime = h.local_path(f"D:\\SMSPKG\\{pid}").stat().st_mtime
        assert abs(mtime - created[package_id]) < 0.01, pid
        if package_id in claims:
            assert mtime <= claims[package_id], pid
    # without a log the copies predate every log entry the lab writes (11 Oct 1999)
    other = host(tmp_path, "sms620" if scenario == "demo.yml" else "sms711")
    for pid in other.listdir("D:\\SMSPKG"):
        assert other.local_path(f"D:\\SMSPKG\\{pid}").stat().st_mtime < time.mktime((1999, 10, 11, 0, 0, 0, 0, 0, 0))
