# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet report's hierarchy: the central site on top, children beneath, each site coloured by its outcome.

Pure functions over the report that ``report.build_report`` returns (its ``hosts`` entries): ``site_outcome``
says what happened at a site (one key of ``OUTCOMES``), ``tree`` orders the sites parents first with their
depth (from each entry's ``site.site_code`` / ``site.parent_site_code``; a site whose parent is not in the run
is a root, a host without site facts is listed after the tree), ``render_tree_html`` draws nested lists with
CSS only (no script, no external resource: the page works offline) and ``render_tree_markdown`` an indented
list. Each site shows its counts and its reason beside it, and the reason again on hover (``title``).
"""

from __future__ import annotations

import html

__all__ = ["OUTCOMES", "TREE_CSS", "render_tree_html", "render_tree_markdown", "site_outcome", "tree", "with_inventory_site"]

# key -> (label, label in check mode, colour); the legend is drawn in this order.
OUTCOMES = {
    "clean": ("clean", "clean", "#2e7d32"),
    "leftovers": ("leftovers found", "leftovers found", "#f9a825"),
    "removed": ("leftovers removed", "would remove leftovers", "#1565c0"),
    "hotfix": ("hotfix applied", "hotfix would be applied", "#6a1b9a"),
    "refused": ("refused", "refused", "#c62828"),
    "incomplete": ("incomplete facts", "incomplete facts", "#ef6c00"),
    "failed": ("failed", "failed", "#8e0000"),
    "unreachable": ("unreachable", "unreachable", "#616161"),
    "skipped": ("skipped", "skipped", "#9e9e9e"),
}
_STALE = ("stale_confirmed", "stale_unconfirmed")


def site_outcome(entry: dict) -> str:
    """The one outcome a site is coloured by: failures first, then what was done, then what is left."""
    status = entry.get("status")
    if status in ("unreachable", "failed", "skipped"):
        return status
    hotfix = entry.get("hotfix") or {}
    if entry.get("refused") or hotfix.get("outcome") in ("refused", "failed"):
        return "refused"
    if hotfix.get("applied") or hotfix.get("would_apply"):
        return "hotfix"
    if entry.get("removed") or entry.get("quarantined"):
        return "removed"
    if any(row.get("status") in _STALE for row in entry.get("leftovers") or []):
        return "leftovers"
    return "incomplete" if status == "incomplete" else "clean"


def _code(entry: dict) -> str | None:
    value = (entry.get("site") or {}).get("site_code")
    return str(value).upper() if value else None


def tree(report: dict) -> tuple[list[tuple[dict, int]], list[dict]]:
    """([(entry, depth)] parents first, children by host name; [entries without site facts])."""
    entries = list(report.get("hosts") or [])
    by_code = {}
    for entry in entries:
        if _code(entry) and _code(entry) not in by_code:
            by_code[_code(entry)] = entry
    children: dict[str, list[dict]] = {}
    roots = []
    for code, entry in by_code.items():
        parent = (entry.get("site") or {}).get("parent_site_code")
        parent = str(parent).upper() if parent else None
        if parent and parent in by_code and parent != code:
            children.setdefault(parent, []).append(entry)
        else:
            roots.append(entry)
    ordered, placed = [], set()

    def walk(entry: dict, depth: int) -> None:
        if _code(entry) in placed:               # a parent cycle: each site once
            return
        placed.add(_code(entry))
        ordered.append((entry, depth))
        for child in sorted(children.get(_code(entry), []), key=lambda e: e["host"]):
            walk(child, depth + 1)
    for root in sorted(roots, key=lambda e: e["host"]):
        walk(root, 0)
    for code in sorted(set(by_code) - placed):  # only a cycle leaves sites unplaced: show them as roots
        walk(by_code[code], 0)
    unplaced = [entry for entry in entries if not _code(entry) or by_code.get(_code(entry)) is not entry]
    return ordered, unplaced


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _counts(entry: dict, check: bool) -> str:
    stale = sum(1 for row in entry.get("leftovers") or [] if row.get("status") in _STALE)
    done = len(entry.get("removed") or []) + len(entry.get("quarantined") or [])
    return (f"{_plural(len(entry.get('leftovers') or []), 'package')}, {_plural(stale, 'leftover')}, "
            f"{done} {'would go' if check else 'removed'}, {len(entry.get('refused') or [])} refused")


def _reason(entry: dict) -> str:
    return str(entry.get("summary") or entry.get("error") or "")


def _label(outcome: str, check: bool) -> str:
    return OUTCOMES[outcome][1 if check else 0]


TREE_CSS = "\n".join(
    [".tree,.tree ul{list-style:none;margin:0;padding-left:1.6em;position:relative}",
     ".tree{padding-left:0}.tree li{position:relative;margin:.35em 0}",
     ".tree ul li::before{content:'';position:absolute;left:-1.1em;top:-.35em;height:1.3em;width:.9em;"
     "border-left:2px solid #999;border-bottom:2px solid #999}",
     ".tree ul li:not(:last-child)::after{content:'';position:absolute;left:-1.1em;top:.9em;bottom:-.4em;"
     "border-left:2px solid #999}",
     ".site{display:inline-block;border-left:.6em solid;border-radius:4px;padding:.2em .6em;background:#f7f7f7}",
     ".site .outcome{font-weight:bold}.site .why{color:#555;font-size:.85em;display:block;max-width:70em}",
     ".legend span{display:inline-block;margin-right:1em}.legend i{display:inline-block;width:.9em;height:.9em;"
     "margin-right:.3em;vertical-align:middle}"]
    + [f".o-{key}{{border-color:{colour}}}.o-{key} .outcome{{color:{colour}}}"
       for key, (_label, _check_label, colour) in OUTCOMES.items()])


def _site_html(entry: dict, check: bool) -> str:
    outcome = site_outcome(entry)
    code = _code(entry) or "?"
    reason = _reason(entry)
    return (f'<div class="site o-{outcome}" data-host="{html.escape(entry["host"], quote=True)}" '
            f'data-outcome="{outcome}" title="{html.escape(reason, quote=True)}">'
            f"<b>{html.escape(entry['host'])}</b> site {html.escape(code)} "
            f'<span class="outcome">{html.escape(_label(outcome, check))}</span> '
            f"<span class=\"counts\">({html.escape(_counts(entry, check))})</span>"
            f'<span class="why">{html.escape(reason)}</span></div>')


def render_tree_html(report: dict) -> str:
    """The hierarchy section: a legend and nested lists, one ``div.site`` per host (no script)."""
    check = bool((report.get("meta") or {}).get("check_mode"))
    ordered, unplaced = tree(report)
    parts = ['<h2>Hierarchy</h2><p class="legend">'
             + "".join(f'<span><i style="background:{colour}"></i>{html.escape(label_check if check else label)}</span>'
                       for label, label_check, colour in OUTCOMES.values()) + "</p>", '<ul class="tree">']
    depth = 0
    for index, (entry, level) in enumerate(ordered):
        if index:
            if level > depth:
                parts.append("<ul>")
            else:
                parts.append("</li>" + "</ul></li>" * (depth - level))
        parts.append("<li>" + _site_html(entry, check))
        depth = level
    if ordered:
        parts.append("</li>" + "</ul></li>" * depth)
    parts.append("</ul>")
    if unplaced:
        parts.append('<p class="note">Not placed in the hierarchy (no site facts):</p><ul class="tree">'
                     + "".join(f"<li>{_site_html(entry, check)}</li>" for entry in unplaced) + "</ul>")
    return "\n".join(parts)


def _md(text: str) -> str:
    for ch in ("\\", "*", "_", "`", "<", ">", "[", "]"):
        text = text.replace(ch, "\\" + ch)
    return " ".join(text.split())


def render_tree_markdown(report: dict) -> list[str]:
    """The hierarchy section as Markdown lines: an indented list, outcome, counts and reason per site."""
    check = bool((report.get("meta") or {}).get("check_mode"))
    ordered, unplaced = tree(report)
    lines = ["## Hierarchy", ""]
    for entry, depth in ordered + [(entry, 0) for entry in unplaced]:
        where = f"site {_code(entry)}" if _code(entry) else "no site facts"
        lines.append(f"{'  ' * depth}- **{_md(entry['host'])}** ({where}): {_md(_label(site_outcome(entry), check))}, "
                     f"{_md(_counts(entry, check))}. {_md(_reason(entry))}")
    return lines + [""]


def with_inventory_site(record: dict, host_vars: dict) -> dict:
    """``record`` placed by the inventory when its host gave no site facts (unreachable): the ``sms_hierarchy``
    inventory plugin's ``sms_site_code`` / ``sms_parent_site_code``, so the tree still draws it where it is."""
    site = dict(record.get("site") or {})
    code = (host_vars or {}).get("sms_site_code")
    if site.get("site_code") or not code:
        return record
    site.update(site_code=str(code), parent_site_code=(host_vars or {}).get("sms_parent_site_code") or None)
    return {**record, "site": site}
