# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""fleet_report: hostvars -> module_utils.report -> files on the controller."""

from __future__ import annotations

import datetime
import os

from ansible_collections.sms.remediation.plugins.module_utils.host_result import host_result, outcome_of
from ansible_collections.sms.remediation.plugins.module_utils.report import (
    build_report, render_csv, render_html, render_json, render_markdown)
from ansible_collections.sms.remediation.plugins.module_utils.facts import SITE_FACT
from ansible_collections.sms.remediation.plugins.module_utils.report_tree import with_inventory_site
from ansible_collections.sms.remediation.plugins.plugin_utils._action import SmsActionBase
from ansible_collections.sms.remediation.plugins.plugin_utils._hostvars import host_vars

_RENDERERS = {"json": (render_json, "json"), "csv": (render_csv, "csv"),
              "markdown": (render_markdown, "md"), "html": (render_html, "html")}


def run_stamp(started: str) -> str | None:
    """``2026-11-25T15:22:25+00:00`` -> ``20261125T152225``; None when empty or not ISO 8601."""
    try:
        return datetime.datetime.fromisoformat(started).strftime("%Y%m%dT%H%M%S") if started else None
    except ValueError:
        return None


class ActionModule(SmsActionBase):
    MODULE_NAME = "fleet_report"
    _requires_connection = False

    def act(self, args, task_vars):
        hostvars = task_vars.get("hostvars") or {}
        records = {}
        for host in args["hosts"]:
            variables = host_vars(hostvars, host)
            site_after = (variables.get("ansible_facts") or {}).get(SITE_FACT)
            records[host] = with_inventory_site(host_result(host, outcome_of(variables), site_after,
                                                            args["run_check_mode"]), variables)
        now = datetime.datetime.now(datetime.timezone.utc)
        report = build_report(records, {"policy": args["policy"], "check_mode": args["run_check_mode"],
                                        "started": args["started"] or None,
                                        "finished": now.isoformat(timespec="seconds")})
        os.makedirs(args["dest"], exist_ok=True)
        # Named by the run's start when known, so the report written after each batch and the final
        # one are the same files of the same run.
        stamp = run_stamp(args["started"]) or now.strftime("%Y%m%dT%H%M%S")
        stem = f"q244405-{'check' if args['run_check_mode'] else 'run'}-{stamp}"
        files = {}
        for fmt in args["formats"]:
            render, extension = _RENDERERS[fmt]
            files[fmt] = os.path.join(args["dest"], f"{stem}.{extension}")
            with open(files[fmt], "w", encoding="utf-8", newline="") as handle:
                handle.write(render(report))
        return {"changed": False, "files": files, "totals": report.get("totals", {}), "report": report,
                "ansible_facts": {"q244405_report_files": files}}
