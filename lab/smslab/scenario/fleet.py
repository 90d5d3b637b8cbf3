"""Large fleets: ``generate_fleet`` returns a scenario for a whole SMS 2.0 hierarchy."""

from __future__ import annotations

import math

from smslab.scenario.determinism import _rng


_B36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _fleet_codes(n_regions: int):
    """Central 'CEN'; regions 'A00', 'B00', ...; their children '<region letter><2 base-36>'."""
    letters = "ABDEFGHJKLMNPRSTUVWXYZ"       # no C (central), I, O, Q (look like digits)
    return [f"{letters[i]}00" for i in range(n_regions)]


def generate_fleet(n_sites: int, seed, log_bytes: int = 0, log_shared: bool = True) -> dict:
    """A scenario for one central site and ``n_sites - 1`` children in 2-3 levels.

    Mixed builds and platforms; leftovers of each kind (claimed in Distmgr.log, claimed only in the
    rolled-over Distmgr.lo_, unclaimed because logging is off, still active at the origin), deletions
    in progress, odd file names, reparse points and Sender files. No faults (benchmarks need healthy
    hosts). ``log_bytes`` pads Distmgr.log of every site with logging on; with ``log_shared`` (the
    default) the padding is one file shared by all of them instead of a copy per host.
    """
    if n_sites < 1:
        raise ValueError("generate_fleet: n_sites must be at least 1")
    rng = _rng(seed, "fleet", n_sites)
    if n_sites > 1 + 22 * 1295:
        raise ValueError("generate_fleet: at most 28491 sites (22 regions of 1295 children)")
    n_regions = min(max(1, round(math.sqrt(n_sites - 1) / 2)), 22) if n_sites > 1 else 0
    region_codes = _fleet_codes(n_regions)
    counters = {code: 0 for code in region_codes}

    def child_code(region: str) -> str:
        counters[region] += 1
        value = counters[region]
        return f"{region[0]}{_B36[value // 36 % 36]}{_B36[value % 36]}"

    central = {"name": "smscen", "site_code": "CEN", "parent": None, "type": "primary",
               "build": rng.choice(["sp2", "sp3", "sp4"]), "platform": "i386", "logging": "on"}
    sites = [central]
    levels = {"CEN": 0}
    primaries = []
    for code in region_codes[: max(0, n_sites - 1)]:
        sites.append({"name": f"sms{code.lower()}", "site_code": code, "parent": "CEN", "type": "primary"})
        levels[code] = 1
        primaries.append(code)
    used = {s["site_code"] for s in sites}
    while len(sites) < n_sites:
        region = region_codes[(len(sites) - 1) % n_regions]
        code = child_code(region)
        if code in used:
            continue
        used.add(code)
        # a third level of secondary sites below some branch sites
        branches = [s for s in sites if levels[s["site_code"]] == 2 and s["type"] == "primary"
                    and s["site_code"][0] == region[0]]
        if branches and rng.random() < 0.2:
            parent = rng.choice(branches[-8:])["site_code"]
            sites.append({"name": f"sms{code.lower()}", "site_code": code, "parent": parent, "type": "secondary"})
            levels[code] = 3
        else:
            sites.append({"name": f"sms{code.lower()}", "site_code": code, "parent": region, "type": "primary"})
            levels[code] = 2
    by_code = {s["site_code"]: s for s in sites}

    # packages created at the central site and at each region: some active, some deleted there
    created_active: dict[str, list[str]] = {}
    created_deleted: dict[str, list[str]] = {}
    for site in sites:
        if levels[site["site_code"]] > 1:
            continue
        count = 8 if site["site_code"] == "CEN" else 3
        ids = [f"{site['site_code']}{i:05X}" for i in range(1, count + 1)]
        created_active[site["site_code"]] = ids[: count // 2 + 1]
        created_deleted[site["site_code"]] = ids[count // 2 + 1:]

    def ancestors(code):
        chain = []
        parent = by_code[code]["parent"]
        while parent is not None:
            chain.append(parent)
            parent = by_code[parent]["parent"]
        return chain

    affected = ["rtm", "sp1"]
    for site in sites:
        code = site["site_code"]
        level = levels[code]
        if level > 0:
            site["build"] = rng.choices(["rtm", "sp1", "sp1_hotfixed", "sp2", "sp3", "sp4"],
                                        weights=[2, 4, 2, 3, 2, 1])[0]
            site["platform"] = "alpha" if rng.random() < 0.1 else "i386"
            site["logging"] = "on" if rng.random() < 0.35 else "off"
        logging = site["logging"] == "on"
        active = list(created_active.get(code, []))
        for ancestor in ancestors(code):
            active += created_active.get(ancestor, [])
        packages: dict = {"active": active}
        if site["type"] == "primary" and level > 0 and site["build"] in affected:
            leftovers = []
            for ancestor in ancestors(code):
                for pid in created_deleted.get(ancestor, []):
                    if rng.random() < 0.6:
                        kind = rng.random()
                        if not logging:
                            leftovers.append(pid)
                        elif kind < 0.6:
                            leftovers.append({"id": pid, "log_claim": True})
                        elif kind < 0.8:
                            leftovers.append({"id": pid, "log_claim": "rollover"})
                        else:
                            leftovers.append({"id": pid, "log_claim": False})
            if active and rng.random() < 0.1:
                # a compressed copy whose origin still has the package: weakest evidence
                stray = active.pop(rng.randrange(len(active)))
                leftovers.append({"id": stray, "log_claim": False} if logging else stray)
            if leftovers:
                packages["leftovers"] = leftovers
        if len(packages["active"]) > 1 and rng.random() < 0.05:
            packages["deleting"] = [packages["active"].pop()]
        if rng.random() < 0.05:
            packages["odd_files"] = [rng.choice(["READ ME.PCK", "CON.PCK", f"{code}0001.PCK",
                                                 f"{code}0001G.PCK", "\uff33" + f"{code}0001.PCK"])]
        if len(packages["active"]) > 1 and rng.random() < 0.03:
            packages["reparse_points"] = [packages["active"].pop(0)]
        if logging and level <= 1 and created_deleted.get(code):
            packages["deleted"] = list(created_deleted[code])      # deleted cleanly at the origin
        elif logging and site["type"] == "primary" and rng.random() < 0.2:
            deleted = [p for a in ancestors(code) for p in created_deleted.get(a, [])
                       if p not in {lo if isinstance(lo, str) else lo["id"] for lo in packages.get("leftovers", [])}]
            if deleted:
                packages["deleted"] = deleted[:1]
        site["packages"] = packages
        if logging and log_bytes:
            site["log_bytes"] = int(log_bytes)
            if log_shared:
                site["log_shared"] = True
        if logging and rng.random() < 0.3:
            site["log_wrapped_entry"] = True
        if rng.random() < 0.1:
            site["drives"] = ["D", "E"]
        if rng.random() < 0.1 and site["type"] == "primary":
            site["console_open"] = True
        if rng.random() < 0.05:
            site["services"] = {"SMS_SITE_BACKUP": "running"}
        if rng.random() < 0.1:
            site["sender_files"] = [f"{rng.randint(1, 9)}_{''.join(rng.choice(_B36) for _unused in range(4))}PRI.PCK"]
        if site["type"] == "secondary" and rng.random() < 0.5:
            site["full_version_missing"] = True
        if site["build"] == "sp1_hotfixed" and rng.random() < 0.5:
            site["hotfix_log"] = True
        if rng.random() < 0.02:
            site["distmgr_no_version"] = True
    return {"seed": seed, "pck_size": [512, 4096], "sites": sites}
