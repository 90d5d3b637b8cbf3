# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fleet controls of remediate.yml: the order of the batches, the hierarchy stop, the batch summary.

Pure functions over plain data (``sites`` = ``{host: {"site_code", "parent_site_code"}}`` and per-host
outcome records); the filter plugins in plugins/filter/batches.py feed them from hostvars.

Batches go children first: a site's depth is the number of its ancestors that are in the same run
(a site whose parent is outside the run counts as a root of the run). Deeper sites come first, so a
child is remediated before (in an earlier batch than, with ``by_level``) its parent, and a parent
can see whether one of its children failed. With ``by_level`` every batch holds sites of one depth
only, so no site is ever in the same batch as its parent.
"""

from __future__ import annotations

__all__ = ["batch_plan", "batch_summary", "failed_children", "serial_sizes", "site_depths"]

_MAX_DEPTH = 64      # a loop in the parent codes (a wrong inventory) stops here


def _code(value) -> str | None:
    text = str(value).strip().upper() if value not in (None, "") else ""
    return text or None


def site_depths(sites: dict) -> dict:
    """{host: depth}: 0 for a site without a parent in the run, its parent's depth + 1 otherwise."""
    parent_of = {}
    for info in sites.values():
        info = info if isinstance(info, dict) else {}
        code = _code(info.get("site_code"))
        if code is not None and code not in parent_of:
            parent_of[code] = _code(info.get("parent_site_code"))
    depths = {}
    for host, info in sites.items():
        info = info if isinstance(info, dict) else {}
        depth, seen, parent = 0, {_code(info.get("site_code"))}, _code(info.get("parent_site_code"))
        while parent is not None and parent in parent_of and parent not in seen and depth < _MAX_DEPTH:
            depth += 1
            seen.add(parent)
            parent = parent_of[parent]
        depths[host] = depth
    return depths


def _to_count(value, total: int) -> int:
    """One ``serial`` value (int, "10", "25%") as a batch size, as ansible-core's pct_to_int does."""
    text = str(value).strip()
    if text.endswith("%"):
        count = int(float(text[:-1]) / 100.0 * total)
        return max(count, 1)
    count = int(text)
    return count if count > 0 else total


def serial_sizes(serial, total: int) -> list:
    """The batch sizes ansible-core makes of ``total`` hosts for a ``serial`` value or list."""
    values = list(serial) if isinstance(serial, (list, tuple)) else [serial]
    values = values or ["100%"]
    sizes, left, index = [], total, 0
    while left > 0:
        size = min(max(_to_count(values[index], total), 1), left)
        sizes.append(size)
        left -= size
        index = min(index + 1, len(values) - 1)
    return sizes


def batch_plan(sites: dict, serial="100%", by_level: bool = False) -> dict:
    """The hosts children first and the batches of the remediation play.

    ``order``: hosts by depth, deepest first, then by name. ``serial``: the value for the play's
    ``serial`` keyword (batch sizes). ``batches``: the host lists ansible-core makes from them.
    Without ``by_level`` the sizes are ``serial``'s; with it, a batch also ends where a depth ends.
    """
    depths = site_depths(sites)
    order = sorted(depths, key=lambda host: (-depths[host], str(host)))
    total = len(order)
    if not total:
        return {"order": [], "serial": [], "batches": [], "depths": {}}
    values = list(serial) if isinstance(serial, (list, tuple)) else [serial]
    values = values or ["100%"]
    sizes = []
    if by_level:
        index, position = 0, 0
        while position < total:
            level = depths[order[position]]
            level_left = sum(1 for host in order[position:] if depths[host] == level)
            size = min(max(_to_count(values[index], total), 1), level_left)
            sizes.append(size)
            position += size
            index = min(index + 1, len(values) - 1)
    else:
        sizes = serial_sizes(values, total)
    batches, position = [], 0
    for size in sizes:
        batches.append(order[position:position + size])
        position += size
    return {"order": order, "serial": sizes, "batches": batches, "depths": depths}


def failed_children(site_code, sites: dict, outcomes: dict, removed_hosts=()) -> list:
    """Hosts whose parent site is ``site_code`` and that failed, or were skipped for a failed child.

    ``outcomes``: ``{host: q244405_outcome}`` (``error`` set = failed, ``skipped`` set = skipped);
    ``removed_hosts``: hosts that ansible-core took out of the play (failed or unreachable).
    """
    code = _code(site_code)
    if code is None:
        return []
    removed = set(removed_hosts or ())
    found = []
    for host, info in sites.items():
        info = info if isinstance(info, dict) else {}
        if _code(info.get("parent_site_code")) != code or _code(info.get("site_code")) == code:
            continue
        outcome = outcomes.get(host) if isinstance(outcomes.get(host), dict) else {}
        if outcome.get("error") or outcome.get("skipped") or host in removed:
            found.append(host)
    return sorted(found)


def skip_reason(site_code, children: list, sites: dict, outcomes: dict) -> str:
    """Why a parent is not remediated: names each failed (or skipped) child, host and site."""
    parts = []
    for host in children:
        info = sites.get(host) if isinstance(sites.get(host), dict) else {}
        outcome = outcomes.get(host) if isinstance(outcomes.get(host), dict) else {}
        state = "was skipped" if outcome.get("skipped") and not outcome.get("error") else "failed"
        parts.append(f"child site {info.get('site_code')} ({host}) {state}")
    return (f"not remediated: {', '.join(parts)}; q244405_stop_at_failed_child stops the walk up the "
            f"hierarchy at site {site_code}")


def _size(count: int) -> str:
    value = float(count)
    for unit in ("B", "KiB", "MiB"):
        if value < 1024:
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def batch_summary(batch_hosts: list, outcomes: dict, all_hosts: list, batches=None,
                  removed_hosts=(), check_mode: bool = False, incomplete_hosts=()) -> str:
    """One line per batch: ``batch 2/3: 2 ok, 1 failed, 0 skipped; leftovers removed 3 (12.0 KiB); 5/8 hosts done``;
    ``N incomplete`` after the ok count when some hosts did not fail but could not read a source of facts
    (``incomplete_hosts``, the report's status ``incomplete``)."""
    batch_hosts = [str(h) for h in batch_hosts or []]
    all_hosts = [str(h) for h in all_hosts or []]
    removed = set(removed_hosts or ())
    incomplete = {str(h) for h in incomplete_hosts or ()}
    counts = {"ok": 0, "incomplete": 0, "failed": 0, "skipped": 0}
    leftovers, reclaimed = 0, 0
    for host in batch_hosts:
        outcome = outcomes.get(host) if isinstance(outcomes.get(host), dict) else {}
        if outcome.get("error") or host in removed or not outcome:
            counts["failed"] += 1
        elif outcome.get("skipped"):
            counts["skipped"] += 1
        elif host in incomplete:
            counts["incomplete"] += 1
        else:
            counts["ok"] += 1
        workaround = outcome.get("workaround") if isinstance(outcome.get("workaround"), dict) else {}
        leftovers += len(workaround.get("removed") or []) + len(workaround.get("quarantined") or [])
        bytes_value = workaround.get("bytes_reclaimed")
        reclaimed += bytes_value if isinstance(bytes_value, int) and not isinstance(bytes_value, bool) else 0
    positions = [all_hosts.index(h) for h in batch_hosts if h in all_hosts]
    done = max(positions) + 1 if positions else len(batch_hosts)
    label = "batch"
    batch_lists = [list(b) for b in batches or [] if isinstance(b, (list, tuple))]
    for number, hosts in enumerate(batch_lists, start=1):
        if set(batch_hosts) & set(hosts):
            label = f"batch {number}/{len(batch_lists)}"
            break
    verb = "would remove" if check_mode else "removed"
    partial = f"{counts['incomplete']} incomplete, " if counts["incomplete"] else ""
    return (f"{label}: {counts['ok']} ok, {partial}{counts['failed']} failed, {counts['skipped']} skipped; "
            f"leftovers {verb} {leftovers} ({_size(reclaimed)}); {done}/{len(all_hosts)} hosts done")
