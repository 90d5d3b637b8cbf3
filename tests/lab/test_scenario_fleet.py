"""Tests of the lab's scenario generator (lab/smslab/scenario/): generated fleets (deterministic, rebuilt the
same) and scenarios it must reject, naming the site and the field."""

from __future__ import annotations

import copy
import hashlib
import os
import time
from pathlib import Path

import pytest
import yaml

from test_scenario import BUILD_VERSIONS, SCENARIOS, host
from smslab.scenario import INSTALLED_DLL_SIZES, build_state_dir, generate_fleet, load_scenario
from smslab.state import dll_bytes


# ---- fleets --------------------------------------------------------------------------------------

def tree_hash(root: Path) -> str:
    digest = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames) + sorted(d for d in dirnames if os.path.islink(os.path.join(dirpath, d))):
            path = Path(dirpath) / name
            digest.update(str(path.relative_to(root)).encode("utf-8", "surrogateescape") + b"\0")
            if path.is_symlink():
                digest.update(b"->" + os.readlink(path).encode())
            else:
                digest.update(path.read_bytes())
                digest.update(str(int(path.stat().st_mtime)).encode())
    return digest.hexdigest()


def test_generate_fleet_deterministic_and_fast(tmp_path):
    fleet = generate_fleet(200, seed=42)
    assert fleet == generate_fleet(200, seed=42)
    assert fleet != generate_fleet(200, seed=43)
    sites = fleet["sites"]
    assert len(sites) == 200
    yaml.safe_load(yaml.safe_dump(fleet))          # plain data, writable as a scenario file
    normal = load_scenario(copy.deepcopy(fleet))
    by_code = {s["site_code"]: s for s in normal["sites"]}
    assert sum(1 for s in normal["sites"] if s["parent"] is None) == 1

    def depth(code):
        return 0 if by_code[code]["parent"] is None else 1 + depth(by_code[code]["parent"])
    assert {depth(c) for c in by_code} >= {0, 1, 2}
    assert max(depth(c) for c in by_code) <= 3
    assert {s["build"] for s in normal["sites"]} == set(BUILD_VERSIONS)
    assert {s["platform"] for s in normal["sites"]} == {"i386", "alpha"}
    claims = [lo["log_claim"] for s in normal["sites"] for lo in s["packages"]["leftovers"]]
    assert {True, False, "rollover"} <= set(claims)
    assert any(s["packages"]["odd_files"] for s in normal["sites"])
    assert any(s["packages"]["deleting"] for s in normal["sites"])
    assert any(s["type"] == "secondary" for s in normal["sites"])

    started = time.perf_counter()
    names = build_state_dir(fleet, tmp_path / "a")
    elapsed = time.perf_counter() - started
    print(f"\ngenerate_fleet(200): built {len(names)} hosts in {elapsed:.2f} s")
    build_state_dir(generate_fleet(200, seed=42), tmp_path / "b")
    assert tree_hash(tmp_path / "a") == tree_hash(tmp_path / "b")
    build_state_dir(fleet, tmp_path / "c", seed=7)
    assert tree_hash(tmp_path / "a") != tree_hash(tmp_path / "c")


def test_seed_argument_and_rebuild(tmp_path):
    build_state_dir(SCENARIOS / "demo.yml", tmp_path / "x")
    build_state_dir(SCENARIOS / "demo.yml", tmp_path / "y")
    assert tree_hash(tmp_path / "x") == tree_hash(tmp_path / "y")
    # rebuilding into an existing folder gives the same result
    build_state_dir(SCENARIOS / "demo.yml", tmp_path / "x")
    assert tree_hash(tmp_path / "x") == tree_hash(tmp_path / "y")


# ---- bad scenarios -------------------------------------------------------------------------------

def base():
    return {"sites": [
        {"name": "sms600", "site_code": "600"},
        {"name": "sms610", "site_code": "610", "parent": "600", "build": "sp1"},
    ]}


def change(site_index, **fields):
    scenario = base()
    scenario["sites"][site_index].update(fields)
    return scenario


BAD = {
    "duplicate site code": (change(1, site_code="600", parent=None), "sms610", "site_code"),
    "site code length": (change(1, site_code="61"), "sms610", "site_code"),
    "site code long": (change(1, site_code="6100"), "sms610", "site_code"),
    "parent not defined": (change(1, parent="699"), "sms610", "parent"),
    "unknown platform": (change(1, platform="mips"), "sms610", "platform"),
    "unknown build": (change(1, build="sp5"), "sms610", "build"),
    "bad active id": (change(1, packages={"active": ["6000001"]}), "sms610", "packages.active"),
    "non-hex leftover": (change(1, packages={"leftovers": ["6000001G"]}), "sms610", "packages.leftovers"),
    "octal-looking id": (change(1, packages={"deleting": [1000012]}), "sms610", "packages.deleting"),
    "id in two lists": (change(1, packages={"active": [60000001], "leftovers": [60000001]}), "sms610",
                        "packages.leftovers"),
    "bad reparse id": (change(1, packages={"reparse_points": ["../x"]}), "sms610", "packages.reparse_points"),
    "odd name with separator": (change(1, packages={"odd_files": ["..\\evil.PCK"]}), "sms610", "packages.odd_files"),
    "claim without logging": (change(1, packages={"leftovers": [{"id": 60000012, "log_claim": True}]}), "sms610",
                              "packages.leftovers"),
    "secondary without parent": (change(0, type="secondary"), "sms600", "type"),
    "unknown fault": (change(1, faults={"explode": True}), "sms610", "faults.explode"),
    "unknown service": (change(1, services={"SMS_FOO": "running"}), "sms610", "services.SMS_FOO"),
    "unknown field": (change(1, colour="blue"), "sms610", "colour"),
    "corrupt log without logging": (change(1, faults={"corrupt_log": True}), "sms610", "faults.corrupt_log"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_scenarios_rejected(case, tmp_path):
    scenario, site, field = BAD[case]
    with pytest.raises(ValueError) as info:
        build_state_dir(scenario, tmp_path)
    message = str(info.value)
    assert f"'{site}'" in message and f"'{field}'" in message, message
    assert not (tmp_path / "hosts").exists(), "nothing is written for a bad scenario"


def test_parent_loop_and_secondary_parent_rejected(tmp_path):
    loop = {"sites": [{"name": "a", "site_code": "AAA", "parent": "BBB"},
                      {"name": "b", "site_code": "BBB", "parent": "AAA"}]}
    with pytest.raises(ValueError, match=r"site 'a'.*'parent'.*loops"):
        build_state_dir(loop, tmp_path)
    sec = {"sites": [{"name": "a", "site_code": "AAA"},
                     {"name": "b", "site_code": "BBB", "parent": "AAA", "type": "secondary"},
                     {"name": "c", "site_code": "CCC", "parent": "BBB"}]}
    with pytest.raises(ValueError, match=r"site 'c'.*'parent'.*secondary"):
        build_state_dir(sec, tmp_path)


def test_yaml_file_with_unquoted_codes(tmp_path):
    path = tmp_path / "s.yml"
    path.write_text("sites:\n  - {name: a, site_code: 600, logging: on}\n"
                    "  - {name: b, site_code: 610, parent: 600, build: sp1, logging: off,\n"
                    "     packages: {leftovers: [60000012]}}\n")
    names = build_state_dir(path, tmp_path / "state")
    assert names == ["a", "b"]
    assert host(tmp_path / "state", "b").data["site_code"] == "610"
    assert host(tmp_path / "state", "a").exists("C:\\SMS\\Logs\\Distmgr.log")
    assert dll_bytes("2.00.1380.1000", INSTALLED_DLL_SIZES["i386"]) == host(tmp_path / "state", "b").read_bytes(
        "C:\\SMS\\bin\\i386\\Distmgr.dll")
