"""Issue 6, part 1: the safety properties of classification + decision over generated sites.

Each example is one child site (its probe answer, rendered the way sms_probe.ps1 renders it) plus
the views of the other sites of the run, generated from a small "world": packages created at an
origin site, some deleted there (Q244405 leftovers at the child), some deleted and RE-CREATED with
the same ID, some active, some being deleted. The child's Distmgr.log holds interleaved threads,
wrapped entries, truncated entries, entries of another component, duplicates, a roll-over to
Distmgr.lo_ and local times with a time-zone name (clock skew of -12h..+14h against the UTC file
times). The probe answer carries the log lines that the probe's own filter keeps (probe_filter.py: the
LogPattern that sms20.probe_parameters sends, applied as the probe applies it), not a filter of the
test's. Names come in mixed case and with odd characters; some files are reparse points; a package
can be in two package folders at once.

The properties (checked for every policy and min_evidence, without and with user-forced IDs):

* no ``active`` package (listed here, being deleted here, or still listed at its readable origin)
  is ever in ``plan().remove``, forced or not;
* no ``unknown`` item (bad name, reparse point) is ever removed; an item that is unknown only
  because this site's active list was unreadable is removed only when the user forced its ID;
* without force, only ``stale_confirmed`` items are removed, and only when the site's own active
  list was read;
* a package deleted at its origin and re-created there with the same ID is never removed while
  its origin is in the run and readable; when the origin is not in the run it is not removed
  unless the user accepted the weakest evidence (``absent_here``) or forced it;
* a "Successfully deleted" claim that is truncated, from another component, or followed by
  "Start adding package" for the same ID is never used as log evidence.

``SMS_PROPERTY_EXAMPLES`` sets the number of examples (default 300 in the normal run;
scripts/safety-figures.sh runs 10,000). When ``SMS_SAFETY_FIGURES`` names a file, the number of
generated sites is appended to it as one JSON line.
"""
from __future__ import annotations

import json
import os
from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.sms.remediation.plugins.module_utils import sms20
from ansible_collections.sms.remediation.plugins.module_utils.decision import plan
from ansible_collections.sms.remediation.plugins.module_utils.leftovers import (
    EVIDENCE_LEVELS,
    REASON_ACTIVE_UNAVAILABLE,
    classify,
    origin_view_from_facts,
)
from ansible_collections.sms.remediation.plugins.module_utils.probe_result import parse_probe

from probe_builders import folder, probe, registry, wmi, request
from probe_filter import probe_log_matches

TABLE = sms20.merge_overrides(None)
EXAMPLES = int(os.environ.get("SMS_PROPERTY_EXAMPLES", "300"))
FIGURES = os.environ.get("SMS_SAFETY_FIGURES")
COUNTS = {"sites": 0, "files": 0, "removed": 0, "plans": 0}

HERE = "610"
ORIGINS = ["600", "620", "A1B", HERE]          # A1B: a site code with letters (mixed case below)
SERIALS = [0x00012, 0x0000A, 0x000FF, 0x0ABCD, 0x00001, 0x1F00E]
POOL = [f"{site}{serial:05X}" for site in ORIGINS for serial in SERIALS]
FATES = ["active", "leftover", "recreated", "deleting", "clean", "foreign"]
BASE_TIME = datetime(1999, 10, 11, 8, 0, 0)    # UTC
# (offset of local time from UTC in hours, time-zone name as SMS 2.0 logs it)
ZONES = [(-7, "Pacific Daylight Time"), (-8, "Pacific Standard Time"), (0, "GMT Standard Time"),
         (1, "W. Europe Standard Time"), (9, "Tokyo Standard Time"), (14, "Line Islands Standard Time"),
         (-12, "Dateline Standard Time"), (5.5, "India Standard Time")]
ODD_NAMES = ["6000001.PCK", "60000G12.PCK", "CON.PCK", "con.pck", "LPT1.PCK", "60000012.PCK.",
             "60000012.PCK ", " 60000012.PCK", "..\\60000012.PCK", "../60000012.PCK", "60000012..PCK",
             "600\uff10\uff10012.PCK", "\u0421ON.PCK", "60000012.PCK:stream", "60000012.PCK.tmp",
             "60000012", "readme.txt", "600 00012.PCK", "60000012.P\u0421K"]


def _case(draw, text: str) -> str:
    """The same text in lower, upper or mixed case."""
    mode = draw(st.sampled_from(["upper", "lower", "mixed", "asis"]))
    if mode == "upper":
        return text.upper()
    if mode == "lower":
        return text.lower()
    if mode == "mixed":
        return "".join(c.lower() if i % 2 else c.upper() for i, c in enumerate(text))
    return text


def _entry_lines(text: str, local: datetime, tz_name: str, thread: int, component: str, shape: str) -> list:
    """Physical lines of one log entry: whole, wrapped over two lines, or truncated (no thread tag)."""
    stamp = local.strftime("%a %b %d %H:%M:%S.") + f"{local.microsecond // 1000:03d} {local.year}"
    tail = f"$$<{component}><{stamp} {tz_name}><thread={thread} (0x{thread:X})>"
    if shape == "wrapped":
        return [f"{text}  $$<{component}><{stamp}", f" {tz_name}><thread={thread} (0x{thread:X})>"]
    if shape == "truncated":
        return [f"{text}  $$<{component}><{stamp} {tz_name}><thr"]
    return [f"{text}  {tail}"]


@st.composite
def worlds(draw):
    ids = draw(st.lists(st.sampled_from(POOL), min_size=1, max_size=10, unique=True))
    fates = {pid: draw(st.sampled_from(FATES)) for pid in ids}
    zone_offset, tz_name = draw(st.sampled_from(ZONES))
    skew = timedelta(hours=zone_offset)
    events = []      # (utc time, thread, text, component, shape, package id, kind)
    files = []       # (package id, utc write time or None)
    truth = {}       # package id -> what really happened
    threads = draw(st.lists(st.integers(1, 4000), min_size=1, max_size=4, unique=True))

    def event(when, pid, kind, component="SMS_DISTRIBUTION_MANAGER"):
        shown = _case(draw, pid) if draw(st.booleans()) else pid
        text = {"adding": f"Start adding package {shown}...",
                "deleting": f"Start deleting the package {shown}...",
                "deleted": f"~Successfully deleted the package {shown}"}[kind]
        shape = draw(st.sampled_from(["whole", "whole", "whole", "wrapped", "truncated"]))
        events.append((when, draw(st.sampled_from(threads)), text, component, shape, pid, kind))
        if draw(st.integers(0, 9)) == 0:          # a duplicate line (another thread says it again)
            events.append((when + timedelta(milliseconds=3), draw(st.sampled_from(threads)), text,
                           component, "whole", pid, kind))

    for pid in ids:
        fate = fates[pid]
        added = BASE_TIME + timedelta(hours=draw(st.integers(0, 200)))
        deleted_at = added + timedelta(hours=draw(st.integers(1, 300)))
        truth[pid] = {"fate": fate, "claims": []}
        if fate in ("active", "deleting", "foreign"):
            event(added, pid, "adding")
            files.append((pid, added))
            if fate == "deleting":
                event(deleted_at, pid, "deleting")
            if fate == "foreign":
                # another component says the package was deleted: not Distribution Manager's claim
                event(deleted_at, pid, "deleted", component="SMS_HIERARCHY_MANAGER")
        elif fate in ("leftover", "clean", "recreated"):
            event(added, pid, "adding")
            event(deleted_at, pid, "deleting")
            event(deleted_at, pid, "deleted")
            truth[pid]["claims"].append(deleted_at)
            if fate == "leftover":
                files.append((pid, added + timedelta(minutes=draw(st.integers(0, 59)))))
            if fate == "recreated":
                # re-created at the origin with the same ID, distributed again, and the child wrote
                # the new compressed copy; >= 40 h later (beyond the 24 h tolerance + any time zone)
                again = deleted_at + timedelta(hours=draw(st.integers(40, 2000)))
                truth[pid]["recreated_at"] = again
                truth[pid]["adding_logged"] = draw(st.booleans())
                if truth[pid]["adding_logged"]:
                    event(again, pid, "adding")
                files.append((pid, again))

    # the log: time order (threads interleave), maybe rolled over, local times with the zone name
    logging_on = draw(st.integers(0, 5)) > 0
    events.sort(key=lambda e: e[0])
    noise = draw(st.lists(st.sampled_from([
        "SMS_DISTRIBUTION_MANAGER started.",
        "Processing package 6100000F (SourceVersion:2;StoredVersion:2)...",
        "Found package properties updated notification for package 60000012",
        "\x00\x00\x00\x00",
    ]), max_size=4))
    groups = []      # the physical lines of each entry: a roll-over never cuts an entry in two
    for index, (when, thread, text, component, shape, _pid, _kind) in enumerate(events):
        if noise and index % 3 == 0:
            groups.append([f"{noise[index % len(noise)]}  $$<SMS_DISTRIBUTION_MANAGER><Mon Oct 11 08:00:00.000 1999 "
                           f"{tz_name}><thread=1 (0x1)>"])
        groups.append(_entry_lines(text, when + skew, tz_name, thread, component, shape))
    split = draw(st.integers(0, len(groups))) if draw(st.booleans()) else 0
    old = [line for group in groups[:split] for line in group]
    new = [line for group in groups[split:] for line in group]
    log_files = []
    for path, part in (("C:\\SMS\\Logs\\Distmgr.lo_", old), ("C:\\SMS\\Logs\\Distmgr.log", new)):
        exists = logging_on and (bool(part) or path.endswith(".log"))
        log_files.append({"path": path, "exists": exists, "size": sum(len(x) + 2 for x in part) if exists else None,
                          "matches": probe_log_matches(part) if exists else []})
    # the probe lists Distmgr.log first sometimes: the parser must still read .lo_ as older
    if draw(st.booleans()):
        log_files.reverse()

    # this site's package folders: one or two drives, a package may be in both
    folders = {"D:\\SMSPKG": []}
    if draw(st.booleans()):
        folders["E:\\SMSPKG"] = []
    names_by_folder = {f: set() for f in folders}

    def put(folder_path, name, when, reparse=False):
        if name.upper() in names_by_folder[folder_path]:
            return
        names_by_folder[folder_path].add(name.upper())
        when_text = None if when is None else (when.strftime("%Y-%m-%dT%H:%M:%S") + "Z")
        folders[folder_path].append({"name": name, "size": draw(st.integers(0, 10 ** 7)),
                                     "last_write_utc": when_text, "reparse_point": reparse, "directory": False})

    for pid, when in files:
        stem = _case(draw, pid)
        ext = draw(st.sampled_from(["PCK", "pck", "Pck"]))
        if draw(st.integers(0, 9)) == 0:
            when = None                               # a file time the probe could not read
        targets = list(folders) if draw(st.integers(0, 4)) == 0 else [draw(st.sampled_from(list(folders)))]
        for target in targets:
            put(target, f"{stem}.{ext}", when, reparse=draw(st.integers(0, 7)) == 0)
    for name in draw(st.lists(st.sampled_from(ODD_NAMES), max_size=3, unique=True)):
        put("D:\\SMSPKG", name, BASE_TIME)
    # a sub-folder (distribution point folders look like this): never a candidate
    folders["D:\\SMSPKG"].append({"name": "60000012", "size": None, "last_write_utc": None,
                                  "reparse_point": False, "directory": True})

    # this site's active list (mixed case IDs; may be unreadable)
    active_available = draw(st.integers(0, 6)) > 0
    listed = [pid for pid in ids if fates[pid] == "active"]
    listed += [pid for pid in ids if fates[pid] == "recreated" and draw(st.booleans())]
    listed += draw(st.lists(st.sampled_from(POOL), max_size=3))          # stale or unrelated entries
    deleting_ids = [pid for pid in ids if fates[pid] == "deleting"]
    packages = [{"PackageID": _case(draw, pid), "ActionInProgress": draw(st.sampled_from([0, 0, 1, 2])),
                 "SourceSite": pid[:3]} for pid in listed]
    packages += [{"PackageID": _case(draw, pid), "ActionInProgress": 3, "SourceSite": pid[:3]} for pid in deleting_ids]
    if active_available:
        active_packages = {"available": True, "error": None, "namespace": f"root\\SMS\\site_{HERE}",
                           "packages": packages}
    else:
        active_packages = {"available": False, "error": draw(st.sampled_from([
            "WMI namespace root\\SMS\\site_610 unavailable (0x8004100e)", "timed out after 30 s", None])),
            "namespace": None, "packages": None}

    # the other sites of the run: the origin's view of its own packages (the truth, mixed case)
    origin_facts = {}
    for code in ("600", "620", "A1B"):
        if not draw(st.integers(0, 3)):
            continue                                   # not in this run
        own = [pid for pid in ids if pid[:3] == code and fates[pid] in ("active", "recreated", "deleting", "foreign")]
        own += draw(st.lists(st.sampled_from([p for p in POOL if p[:3] == code]), max_size=2))
        available = draw(st.integers(0, 4)) > 0
        origin_facts[code] = {"host": f"sms{code.lower()}", "site_code": code,
                              "active": {"available": available, "ids": [_case(draw, p) for p in own],
                                         "error": None if available else "RPC server unavailable"}}

    result = probe(
        computer_name=f"SMS{HERE}",
        registry=registry(site_code=HERE, parent="600", tracing_enabled=1 if logging_on else 0),
        wmi_site=wmi(site_code=HERE, parent="600"),
        package_folders=[folder(path, *entries) for path, entries in folders.items()],
        active_packages=active_packages,
        distmgr_log={"logging_enabled": logging_on, "max_file_size": 1048576, "files": log_files},
    )
    return {
        "probe": result,
        "origin_facts": origin_facts,
        "truth": truth,
        "events": events,
        "active_available": active_available,
        "here_active": {pid.upper() for pid in listed + deleting_ids} if active_available else set(),
        "min_evidence": draw(st.sampled_from(EVIDENCE_LEVELS)),
        "policy": draw(st.sampled_from(["auto", "workaround", "auto", "workaround", "report", "hotfix"])),
        "force": draw(st.lists(st.sampled_from(POOL + [p.lower() for p in POOL]), max_size=4)),
    }


def _usable_claims(world, pid) -> bool:
    """Whether the log holds a complete Distribution Manager claim for pid not followed by an adding."""
    standing = False
    for _when, _thread, _text, component, shape, event_pid, kind in world["events"]:
        if event_pid != pid or shape == "truncated" or component != "SMS_DISTRIBUTION_MANAGER":
            continue
        if kind == "deleted":
            standing = True
        elif kind == "adding":
            standing = False
    return standing


@pytest.fixture(scope="module", autouse=True)
def _figures():
    yield
    if FIGURES:
        with open(FIGURES, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"figure": "property_sites", "count": COUNTS["sites"],
                                     "files": COUNTS["files"], "plans": COUNTS["plans"],
                                     "removed": COUNTS["removed"]}) + "\n")


def _check_plan(world, site, items, result, forced):
    index = {id(item): i for i, item in enumerate(items)}
    forced_ids = {f.upper() for f in forced}
    if world["policy"] in ("report", "hotfix"):
        assert result.remove == []
    for item in result.remove:
        raw = site.package_files[index[id(item)]]
        pid = item.package_id
        assert pid is not None and raw.name_error is None, item
        assert not raw.reparse_point, item
        assert item.status != "active", item
        assert pid not in world["here_active"], item
        view = world["origin_facts"].get(pid[:3])
        origin_readable = view is not None and view["active"]["available"] and pid[:3] != HERE
        if origin_readable:
            assert pid not in {i.upper() for i in view["active"]["ids"]}, item
        truth = world["truth"].get(pid, {})
        if truth.get("fate") == "recreated":
            # the re-created package is still at its origin
            assert not origin_readable, item
            assert forced or world["min_evidence"] == "absent_here", item
        if truth.get("fate") in ("active", "deleting"):
            # never deleted anywhere: only a forced ID or the weakest evidence can reach it
            assert forced or world["min_evidence"] == "absent_here" or not origin_readable, item
        if not forced:
            assert item.status == "stale_confirmed" and item.actionable, item
            assert world["active_available"], item
        else:
            assert item.status in ("stale_confirmed", "stale_unconfirmed", "unknown"), item
            if item.status != "stale_confirmed":
                assert pid in forced_ids, item
            if item.status == "unknown":
                assert item.reasons[0].startswith(REASON_ACTIVE_UNAVAILABLE), item
        COUNTS["removed"] += 1
    if world["policy"] in ("auto", "workaround"):
        assert len(result.remove) + len(result.kept) + len(result.refused) == len(items)


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])
@given(worlds())
def test_no_active_unknown_or_recreated_package_is_ever_removed(world):
    COUNTS["sites"] += 1
    site = parse_probe("sms610", world["probe"], TABLE)
    origins = {code: origin_view_from_facts(facts) for code, facts in world["origin_facts"].items()}
    items = classify(site, origins, world["min_evidence"])
    assert len(items) == len(site.package_files)
    COUNTS["files"] += len(items)
    for item in items:
        # the log evidence is only a complete Distribution Manager claim with no re-creation after it
        if item.evidence.get("log") is not None:
            assert _usable_claims(world, item.package_id), item
        if item.status in ("stale_confirmed",):
            assert world["active_available"] and item.package_id not in world["here_active"], item
        if item.package_id is not None and world["truth"].get(item.package_id, {}).get("fate") == "recreated":
            # the new copy was written >= 40 h after the claim: the claim never covers it
            assert item.evidence_level not in ("log", "log_and_origin") or item.status != "stale_confirmed", item
    for forced in ((), world["force"]):
        result = plan(site, items, request(world["policy"], None, True, forced), TABLE)
        COUNTS["plans"] += 1
        _check_plan(world, site, items, result, forced)
