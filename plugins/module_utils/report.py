# over 500 lines: the four renderers (JSON, CSV, Markdown, HTML) read the one report structure built here,
# and the schema in the docstring below is their shared contract.
"""Fleet report of one run: built from the per-host results, rendered as JSON, CSV, Markdown, HTML.

Pure functions: nothing here reads or writes files, so the controller renders once at the end
of the run and the tests call the functions directly. One file of ~500 lines on purpose: the four
renderers read the one report structure built here, and the schema below is their shared contract.

Per-host result (the value of ``hosts[<inventory name>]``, produced by the q244405 role)::

    {
      "host": "sms01",                         # inventory name (the dict key wins when absent)
      "status": "ok",                          # ok | incomplete | failed | unreachable | skipped
      "error": None,                           # str: the cause when failed/unreachable/skipped
      "sources_failed": [                      # facts the probe could not read (status ok becomes incomplete)
          {"source": "active_packages", "error": "WMI namespace root\\SMS\\site_610 unavailable (0x80080005)",
           "text": "active packages unknown: WMI namespace ... (0x80080005); nothing removed"}],
      "check_mode": False,                     # True: nothing changed, actions are predictions
      "site": {"site_code": "610", "parent_site_code": "600", "version": "2.00.1380.1000",
               "service_pack": "SP1", "platform": "i386", "transport": "winrm", "logging_enabled": False,
               "log_evidence": False,          # a Distmgr.log existed when the run decided
               "logging_note": "Distmgr.log logging is off (...): no log evidence on this site"},
      "q244405": {"affected": True, "fixed_by": None, "reason": "..."},   # measured before changes
      "leftovers": [Leftover.to_dict(), ...],  # every file of the package folders, classified
      "actions": {
        "removed": ["60000012"],               # IDs removed (check mode: that WOULD be removed)
        "quarantined": [],                     # IDs moved to quarantine (check mode: would be)
        "refused": [{"id": "61000001", "reason": "..."}],   # "name" optional (id may be None)
        "hotfix": {"applied": False, "would_apply": False, "method": None,
                   "outcome": None,            # e.g. replaced | failed | installed | refused | None
                   "reason": "..."},
        "logging": {"enabled_by_run": True,    # q244405_enable_distmgr_logging set Enabled=1
                    "would_enable": False,     # check mode: it WOULD set it
                    "executive_restarted": False,
                    "takes_effect": "at the next restart of SMS_EXECUTIVE"},
      },
      "bytes_reclaimed": 1048576,              # check mode: bytes that WOULD be reclaimed
    }

Any key may be missing or None in a failed/unreachable/skipped host's result; the report then
shows what it has. Run metadata ``meta``: ``{"policy", "check_mode", "started", "finished"}``
(times are strings, e.g. ISO 8601); other keys are kept as they are.
"""
from __future__ import annotations

import csv
import html
import io
import json

from ansible_collections.sms.remediation.plugins.module_utils.report_tree import (
    TREE_CSS, render_tree_html, render_tree_markdown,
)

__all__ = [
    "CSV_COLUMNS",
    "HOST_STATUSES",
    "SCHEMA_VERSION",
    "build_report",
    "render_csv",
    "render_html",
    "render_json",
    "render_markdown",
]

SCHEMA_VERSION = 1
# incomplete: the run did not fail, but a source of facts failed on the host (the entry's sources_failed), so
# what depends on it was not done there: not a clean ok.
HOST_STATUSES = ("ok", "incomplete", "failed", "unreachable", "skipped")
CSV_COLUMNS = (
    "record_type", "host", "site_code", "status", "package_id", "leftover_status",
    "evidence_level", "size", "action", "reason",
)


def _list(value) -> list:
    return list(value) if isinstance(value, (list, tuple)) else []


def _dict(value) -> dict:
    return value if isinstance(value, dict) else {}


def _int(value) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _leftover_action(leftover: dict, actions: dict, check_mode: bool) -> tuple[str, str]:
    """(action, reason) for one leftover row."""
    pid = leftover.get("package_id")
    name = leftover.get("name")
    reasons = "; ".join(str(r) for r in _list(leftover.get("reasons")))
    if pid is not None and pid in _list(actions.get("removed")):
        return ("would remove" if check_mode else "removed"), reasons
    if pid is not None and pid in _list(actions.get("quarantined")):
        return ("would quarantine" if check_mode else "quarantined"), reasons
    for refusal in _list(actions.get("refused")):
        refusal = _dict(refusal)
        if (pid is not None and refusal.get("id") == pid) or (
            pid is None and refusal.get("name") is not None and refusal.get("name") == name
        ):
            return "refused", str(refusal.get("reason") or "")
    return "kept", reasons


def _hotfix_state(hotfix: dict, q244405: dict, check_mode: bool) -> str:
    if hotfix.get("applied"):
        return f"applied ({hotfix.get('method') or 'unknown method'})"
    if hotfix.get("would_apply"):
        return f"would apply ({hotfix.get('method') or 'unknown method'})"
    if hotfix.get("outcome") == "failed":
        return "failed"
    if q244405.get("fixed_by"):
        return f"not needed (fixed by {q244405['fixed_by']})"
    if q244405.get("affected") is True:
        return "not applied"
    if q244405.get("affected") is False:
        return "not needed"
    return "unknown"


def _sources_failed(raw: dict) -> list:
    found = []
    for item in _list(raw.get("sources_failed")):
        item = _dict(item)
        source, error = str(item.get("source") or "unknown"), str(item.get("error") or "no cause reported")
        found.append({"source": source, "error": error, "text": str(item.get("text") or f"{source}: {error}")})
    return found


def _host_entry(name: str, raw: dict, default_check: bool) -> dict:
    raw = _dict(raw)
    status = raw.get("status") if raw.get("status") in HOST_STATUSES else "failed"
    sources_failed = _sources_failed(raw)
    if status == "ok" and sources_failed:
        status = "incomplete"
    check_mode = bool(raw.get("check_mode", default_check))
    site = _dict(raw.get("site"))
    q244405 = _dict(raw.get("q244405"))
    actions = _dict(raw.get("actions"))
    hotfix = _dict(actions.get("hotfix"))
    logging = _dict(actions.get("logging"))
    leftovers = [_dict(item) for item in _list(raw.get("leftovers"))]
    removed = sorted({str(i) for i in _list(actions.get("removed"))})
    quarantined = sorted({str(i) for i in _list(actions.get("quarantined"))})
    refused = [
        {"id": _dict(r).get("id"), "name": _dict(r).get("name"), "reason": _dict(r).get("reason")}
        for r in _list(actions.get("refused"))
    ]
    error = raw.get("error")
    if status not in ("ok", "incomplete") and not error:
        error = "no cause reported" if raw.get("status") in HOST_STATUSES else (
            f"invalid host status {raw.get('status')!r}")

    by_status: dict[str, int] = {}
    for item in leftovers:
        key = str(item.get("status") or "unknown")
        by_status[key] = by_status.get(key, 0) + 1
    hotfix_state = _hotfix_state(hotfix, q244405, check_mode)
    verb_remove = "would remove" if check_mode else "removed"
    verb_quar = "would quarantine" if check_mode else "quarantined"
    parts = []
    if status not in ("ok", "incomplete"):
        parts.append(f"{status}: {error}")
    else:
        if status == "incomplete":
            parts.append("incomplete: " + "; ".join(item["text"] for item in sources_failed))
        recovery = _dict(actions.get("recovery"))
        if recovery.get("outcome"):
            done = {"completed": "completed", "rolled_back": "rolled back", "would_complete": "would complete",
                    "would_rollback": "would roll back"}.get(recovery["outcome"], recovery["outcome"])
            parts.append(f"hotfix transaction {recovery.get('transaction_id')} cut by a lost connection: {done}")
        unlisted = any(item["source"] == "package_folders" for item in sources_failed)
        parts.append(f"{len(leftovers)} compressed package(s) found"
                     + (" in the package folders that could be listed" if unlisted else ""))
        if removed:
            parts.append(f"{verb_remove} {len(removed)}")
        if quarantined:
            parts.append(f"{verb_quar} {len(quarantined)}")
        if refused:
            parts.append(f"refused {len(refused)}")
        parts.append(f"hotfix {hotfix_state}")
        if hotfix.get("backup"):
            parts.append(f"replaced Distmgr.dll kept as {hotfix['backup']}")
        if site.get("log_evidence") is False:
            parts.append("no log evidence on this site (Distmgr.log logging is off or the log is missing)")
        if logging.get("enabled_by_run"):
            parts.append(f"logging enabled by this run (takes effect "
                         f"{logging.get('takes_effect') or 'at the next restart of SMS_EXECUTIVE'})")
        elif logging.get("would_enable"):
            parts.append("would enable logging")
    rows = []
    for item in leftovers:
        action, reason = _leftover_action(item, actions, check_mode)
        rows.append({
            "package_id": item.get("package_id"),
            "name": item.get("name"),
            "path": item.get("path"),
            "size": item.get("size"),
            "status": item.get("status"),
            "evidence_level": item.get("evidence_level"),
            "actionable": bool(item.get("actionable")),
            "action": action,
            "reason": reason,
        })
    return {
        "host": str(raw.get("host") or name),
        "status": status,
        "error": error,
        "sources_failed": sources_failed,
        "check_mode": check_mode,
        "site": {
            "site_code": site.get("site_code"),
            "parent_site_code": site.get("parent_site_code"),
            "version": site.get("version"),
            "service_pack": site.get("service_pack"),
            "platform": site.get("platform"),
            "transport": site.get("transport"),     # how the controller reached the host (winrm, msrpc)
            "logging_enabled": site.get("logging_enabled"),
            "log_evidence": site.get("log_evidence"),
            "logging_note": site.get("logging_note"),
        },
        "logging": {
            "enabled_by_run": bool(logging.get("enabled_by_run")),
            "would_enable": bool(logging.get("would_enable")),
            "executive_restarted": bool(logging.get("executive_restarted")),
            "takes_effect": logging.get("takes_effect"),
        },
        "q244405": {
            "affected": q244405.get("affected"),
            "fixed_by": q244405.get("fixed_by"),
            "reason": q244405.get("reason"),
        },
        "hotfix": {
            "applied": bool(hotfix.get("applied")),
            "would_apply": bool(hotfix.get("would_apply")),
            "method": hotfix.get("method"),
            "outcome": hotfix.get("outcome"),
            "reason": hotfix.get("reason"),
            "state": hotfix_state,
            "backup": hotfix.get("backup"),
        },
        "removed": removed,
        "quarantined": quarantined,
        "refused": refused,
        "bytes_reclaimed": _int(raw.get("bytes_reclaimed")),
        "leftovers": rows,
        "leftover_counts": dict(sorted(by_status.items())),
        "summary": "; ".join(parts),
    }


def build_report(hosts: dict, meta: dict) -> dict:
    """The fleet report (schema_version 1): meta, totals and one entry per host, sorted by host."""
    meta = dict(_dict(meta))
    check_mode = bool(meta.get("check_mode", False))
    meta.setdefault("policy", None)
    meta["check_mode"] = check_mode
    meta.setdefault("started", None)
    meta.setdefault("finished", None)
    entries = [_host_entry(str(name), raw, check_mode) for name, raw in _dict(hosts).items()]
    entries.sort(key=lambda e: (e["host"].lower(), e["host"]))

    totals = {
        "hosts": len(entries),
        "ok": 0, "incomplete": 0, "failed": 0, "unreachable": 0, "skipped": 0,
        "affected": 0, "fixed": 0, "affected_unknown": 0,
        "hotfix_applied": 0, "hotfix_would_apply": 0, "hotfix_failed": 0,
        "leftovers": 0, "leftovers_actionable": 0,
        "leftovers_removed": 0, "leftovers_would_remove": 0,
        "leftovers_quarantined": 0, "leftovers_would_quarantine": 0,
        "leftovers_refused": 0,
        "bytes_reclaimed": 0, "bytes_would_reclaim": 0,
        "logging_enabled_by_run": 0, "logging_would_enable": 0,
    }
    for e in entries:
        totals[e["status"]] += 1
        q = e["q244405"]
        if q["affected"] is True:
            totals["affected"] += 1
        if e["status"] in ("ok", "incomplete") and q["affected"] is None and not q["fixed_by"]:
            totals["affected_unknown"] += 1
        if q["fixed_by"] or e["hotfix"]["applied"]:
            totals["fixed"] += 1
        totals["hotfix_applied"] += e["hotfix"]["applied"]
        totals["hotfix_would_apply"] += e["hotfix"]["would_apply"]
        totals["hotfix_failed"] += e["hotfix"]["outcome"] == "failed"
        totals["leftovers"] += len(e["leftovers"])
        totals["leftovers_actionable"] += sum(1 for r in e["leftovers"] if r["actionable"])
        totals["leftovers_refused"] += len(e["refused"])
        totals["logging_enabled_by_run"] += e["logging"]["enabled_by_run"]
        totals["logging_would_enable"] += e["logging"]["would_enable"]
        if e["check_mode"]:
            totals["leftovers_would_remove"] += len(e["removed"])
            totals["leftovers_would_quarantine"] += len(e["quarantined"])
            totals["bytes_would_reclaim"] += e["bytes_reclaimed"]
        else:
            totals["leftovers_removed"] += len(e["removed"])
            totals["leftovers_quarantined"] += len(e["quarantined"])
            totals["bytes_reclaimed"] += e["bytes_reclaimed"]
    return {"schema_version": SCHEMA_VERSION, "meta": meta, "totals": totals, "hosts": entries}


def render_json(report: dict) -> str:
    """Stable JSON: sorted keys, two-space indent, trailing newline."""
    return json.dumps(report, sort_keys=True, indent=2, ensure_ascii=False, default=str) + "\n"


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def render_csv(report: dict) -> str:
    """One ``host`` row per host and one ``leftover`` row per compressed package (CSV_COLUMNS)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for e in report.get("hosts", []):
        site_code = e["site"].get("site_code")
        writer.writerow([_cell(v) for v in (
            "host", e["host"], site_code, e["status"], None, None, None, e["bytes_reclaimed"],
            "hotfix " + e["hotfix"]["state"], e["error"] or e["summary"],
        )])
        for row in e["leftovers"]:
            writer.writerow([_cell(v) for v in (
                "leftover", e["host"], site_code, e["status"], row["package_id"] or row["name"],
                row["status"], row["evidence_level"], row["size"], row["action"], row["reason"],
            )])
    return out.getvalue()


def _md(value) -> str:
    text = _cell(value)
    for ch in ("\\", "|", "*", "_", "`", "<", ">", "[", "]"):
        text = text.replace(ch, "\\" + ch)
    return " ".join(text.split())


def _size(value) -> str:
    n = _int(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(value)  # pragma: no cover


def _title(report: dict) -> str:
    meta = report.get("meta", {})
    mode = "check mode (nothing changed)" if meta.get("check_mode") else "changes applied"
    return f"Q244405 remediation report: policy {meta.get('policy')}, {mode}"


def render_markdown(report: dict) -> str:
    """A Markdown page: totals, a table of hosts, failures, then the leftovers of each host."""
    meta = report.get("meta", {})
    totals = report.get("totals", {})
    check = bool(meta.get("check_mode"))
    lines = [f"# {_md(_title(report))}", ""]
    lines.append(f"Started {_md(meta.get('started'))}, finished {_md(meta.get('finished'))}.")
    lines.append("")
    removed_key = "leftovers_would_remove" if check else "leftovers_removed"
    bytes_key = "bytes_would_reclaim" if check else "bytes_reclaimed"
    verb = "Would remove" if check else "Removed"
    lines += [
        "| Hosts | OK | Incomplete | Failed | Unreachable | Skipped | Affected | Fixed | "
        f"{verb} | {'Would reclaim' if check else 'Reclaimed'} |",
        "|---|---|---|---|---|---|---|---|---|---|",
        f"| {totals.get('hosts', 0)} | {totals.get('ok', 0)} | {totals.get('incomplete', 0)} | {totals.get('failed', 0)} | "
        f"{totals.get('unreachable', 0)} | {totals.get('skipped', 0)} | {totals.get('affected', 0)} | "
        f"{totals.get('fixed', 0)} | {totals.get(removed_key, 0)} | {_size(totals.get(bytes_key, 0))} |",
        "",
        *render_tree_markdown(report),
        "## Sites",
        "",
        "| Host | Site | Status | Version | Transport | Q244405 | Hotfix | Bytes | Summary |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for e in report.get("hosts", []):
        q = e["q244405"]
        qtext = ("affected" if q["affected"] is True else
                 f"fixed ({q['fixed_by']})" if q["fixed_by"] else
                 "not affected" if q["affected"] is False else "unknown")
        lines.append(
            f"| {_md(e['host'])} | {_md(e['site'].get('site_code'))} | {_md(e['status'])} | "
            f"{_md(e['site'].get('version'))} {_md(e['site'].get('service_pack'))} | {_md(e['site'].get('transport'))} | "
            f"{_md(qtext)} | "
            f"{_md(e['hotfix']['state'])} | {_size(e['bytes_reclaimed'])} | {_md(e['summary'])} |"
        )
    failures = [e for e in report.get("hosts", []) if e["status"] not in ("ok", "incomplete")]
    if failures:
        lines += ["", "## Failures", ""]
        for e in failures:
            lines.append(f"- **{_md(e['host'])}** ({_md(e['status'])}): {_md(e['error'])}")
    gaps = [e for e in report.get("hosts", []) if e["sources_failed"]]
    if gaps:
        lines += ["", "## Facts that could not be read", ""]
        for e in gaps:
            for item in e["sources_failed"]:
                lines.append(f"- **{_md(e['host'])}** ({_md(item['source'])}): {_md(item['text'])}")
    for e in report.get("hosts", []):
        if not e["leftovers"]:
            continue
        lines += ["", f"## {_md(e['host'])}: compressed packages", "",
                  "| Package | Status | Evidence | Size | Action | Reason |",
                  "|---|---|---|---|---|---|"]
        for row in e["leftovers"]:
            lines.append(
                f"| {_md(row['package_id'] or row['name'])} | {_md(row['status'])} | "
                f"{_md(row['evidence_level'])} | {_size(row['size'])} | {_md(row['action'])} | "
                f"{_md(row['reason'])} |"
            )
    return "\n".join(lines) + "\n"


_CSS = """
body{font-family:Segoe UI,Helvetica,Arial,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em}
table{border-collapse:collapse;margin:.5em 0;font-size:.9em}
th,td{border:1px solid #bbb;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#eee;cursor:pointer;user-select:none}
th.sorted-asc::after{content:" \\25B2"}th.sorted-desc::after{content:" \\25BC"}
tr.ok td.status{color:#176a17}tr.failed td.status,tr.unreachable td.status{color:#b00;font-weight:bold}
tr.skipped td.status{color:#777}tr.incomplete td.status{color:#b35c00;font-weight:bold}
.totals td{text-align:right}.note{color:#555}
""".strip()

# Click a header to sort by that column; numbers (data-sort) sort numerically.
_JS = """
document.querySelectorAll("table.sortable").forEach(function(table){
  table.querySelectorAll("th").forEach(function(th, col){
    th.addEventListener("click", function(){
      var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
      var asc = !th.classList.contains("sorted-asc");
      table.querySelectorAll("th").forEach(function(h){h.classList.remove("sorted-asc","sorted-desc");});
      th.classList.add(asc ? "sorted-asc" : "sorted-desc");
      rows.sort(function(a, b){
        var x = a.cells[col], y = b.cells[col];
        var xs = x.getAttribute("data-sort"), ys = y.getAttribute("data-sort");
        var r;
        if (xs !== null && ys !== null) { r = Number(xs) - Number(ys); }
        else { r = x.textContent.localeCompare(y.textContent); }
        return asc ? r : -r;
      });
      rows.forEach(function(row){ body.appendChild(row); });
    });
  });
});
""".strip()


def _h(value) -> str:
    return html.escape(_cell(value), quote=True)


def _td(value, cls: str | None = None, sort: int | None = None) -> str:
    attrs = f' class="{_h(cls)}"' if cls else ""
    if sort is not None:
        attrs += f' data-sort="{int(sort)}"'
    return f"<td{attrs}>{_h(value)}</td>"


def _table(headers: list, rows: list[str], sortable: bool = True) -> str:
    cls = ' class="sortable"' if sortable else ""
    head = "".join(f"<th>{_h(h)}</th>" for h in headers)
    return f"<table{cls}><thead><tr>{head}</tr></thead><tbody>\n" + "\n".join(rows) + "\n</tbody></table>"


def render_html(report: dict) -> str:
    """ONE self-contained HTML page (inline CSS and JS, no external resource), all text escaped."""
    meta = report.get("meta", {})
    totals = report.get("totals", {})
    check = bool(meta.get("check_mode"))
    title = _title(report)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{_h(title)}</title>",
        f"<style>{_CSS}\n{TREE_CSS}</style></head><body>",
        f"<h1>{_h(title)}</h1>",
        f'<p class="note">Started {_h(meta.get("started"))}, finished {_h(meta.get("finished"))}.'
        + (" Check mode: the actions below are what WOULD be done." if check else "") + "</p>",
    ]
    removed_key = "leftovers_would_remove" if check else "leftovers_removed"
    bytes_key = "bytes_would_reclaim" if check else "bytes_reclaimed"
    total_headers = ["Hosts", "OK", "Incomplete", "Failed", "Unreachable", "Skipped", "Affected", "Fixed",
                     "Hotfix " + ("would apply" if check else "applied"),
                     "Would remove" if check else "Removed", "Refused",
                     "Bytes " + ("would reclaim" if check else "reclaimed")]
    total_values = [totals.get("hosts", 0), totals.get("ok", 0), totals.get("incomplete", 0), totals.get("failed", 0),
                    totals.get("unreachable", 0), totals.get("skipped", 0),
                    totals.get("affected", 0), totals.get("fixed", 0),
                    totals.get("hotfix_would_apply" if check else "hotfix_applied", 0),
                    totals.get(removed_key, 0), totals.get("leftovers_refused", 0),
                    f"{totals.get(bytes_key, 0)} ({_size(totals.get(bytes_key, 0))})"]
    parts.append('<h2>Totals</h2><table class="totals"><thead><tr>'
                 + "".join(f"<th>{_h(h)}</th>" for h in total_headers)
                 + "</tr></thead><tbody><tr>"
                 + "".join(_td(v) for v in total_values) + "</tr></tbody></table>")
    parts.append(render_tree_html(report))

    site_rows = []
    for e in report.get("hosts", []):
        q = e["q244405"]
        qtext = ("affected" if q["affected"] is True else
                 f"fixed ({q['fixed_by']})" if q["fixed_by"] else
                 "not affected" if q["affected"] is False else "unknown")
        site_rows.append(
            f'<tr class="{_h(e["status"])}">'
            + _td(e["host"]) + _td(e["site"].get("site_code")) + _td(e["site"].get("parent_site_code"))
            + _td(e["status"], "status")
            + _td(" ".join(x for x in (_cell(e["site"].get("version")), _cell(e["site"].get("service_pack"))) if x))
            + _td(e["site"].get("platform")) + _td(e["site"].get("transport"))
            + _td({True: "on", False: "off"}.get(e["site"].get("logging_enabled"), "unknown"))
            + _td(qtext) + _td(e["hotfix"]["state"])
            + _td(len(e["leftovers"]), sort=len(e["leftovers"]))
            + _td(len(e["removed"]) + len(e["quarantined"]), sort=len(e["removed"]) + len(e["quarantined"]))
            + _td(len(e["refused"]), sort=len(e["refused"]))
            + _td(e["bytes_reclaimed"], sort=e["bytes_reclaimed"])
            + _td(e["summary"]) + "</tr>"
        )
    parts.append("<h2>Sites</h2>")
    parts.append(_table(
        ["Host", "Site", "Parent", "Status", "Version", "Platform", "Transport", "Logging", "Q244405", "Hotfix",
         "Packages", "Would remove" if check else "Removed", "Refused",
         "Bytes " + ("would reclaim" if check else "reclaimed"), "Summary"],
        site_rows))

    failures = [e for e in report.get("hosts", []) if e["status"] not in ("ok", "incomplete")]
    if failures:
        parts.append("<h2>Failures</h2>")
        parts.append(_table(["Host", "Status", "Cause"], [
            f'<tr class="{_h(e["status"])}">' + _td(e["host"]) + _td(e["status"], "status")
            + _td(e["error"]) + "</tr>" for e in failures]))
    gaps = [(e, item) for e in report.get("hosts", []) for item in e["sources_failed"]]
    if gaps:
        parts.append("<h2>Facts that could not be read</h2>")
        parts.append(_table(["Host", "Status", "Source", "What it leaves unknown, and why"], [
            f'<tr class="{_h(e["status"])}">' + _td(e["host"]) + _td(e["status"], "status") + _td(item["source"])
            + _td(item["text"]) + "</tr>" for e, item in gaps]))

    rows = []
    for e in report.get("hosts", []):
        for row in e["leftovers"]:
            rows.append(
                "<tr>" + _td(e["host"]) + _td(e["site"].get("site_code"))
                + _td(row["package_id"] or row["name"]) + _td(row["path"]) + _td(row["status"])
                + _td(row["evidence_level"]) + _td(row["size"], sort=_int(row["size"]))
                + _td(row["action"]) + _td(row["reason"]) + "</tr>"
            )
    if rows:
        parts.append("<h2>Compressed packages</h2>")
        parts.append(_table(["Host", "Site", "Package", "Path", "Status", "Evidence", "Size",
                             "Action", "Reason"], rows))
    parts.append(f"<script>{_JS}</script>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
