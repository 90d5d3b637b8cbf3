"""The fleet report files of a real run on the demo (the session's demo lab and its real run)."""

from __future__ import annotations

import csv
import json
import re

import pytest

HOSTS = ["sms600", "sms610", "sms620", "sms630"]


@pytest.fixture(scope="module")
def run_report(demo_runs):
    lab = demo_runs.lab
    assert demo_runs.run.rc == 0, demo_runs.run.stdout[-4000:]
    base = lab.reports("run", "json")[0].with_suffix("")
    return {"json": json.loads(base.with_suffix(".json").read_text(encoding="utf-8")),
            "csv": base.with_suffix(".csv"), "md": base.with_suffix(".md"), "html": base.with_suffix(".html"),
            "pck_before": demo_runs.pck_sizes_before}


def test_all_four_formats_written(run_report):
    for key in ("csv", "md", "html"):
        assert run_report[key].is_file(), run_report[key]
        assert run_report[key].stat().st_size > 0


def test_csv_one_row_per_host_and_per_leftover(run_report):
    with open(run_report["csv"], newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert rows, "empty CSV"
    assert {"record_type", "host"} <= set(rows[0])
    host_rows = [r for r in rows if r["record_type"] == "host"]
    assert sorted(r["host"] for r in host_rows) == HOSTS
    leftover_rows = [r for r in rows if r["record_type"] == "leftover"]
    assert len(host_rows) + len(leftover_rows) == len(rows), {r["record_type"] for r in rows}
    by_host = {h["host"]: h for h in run_report["json"]["hosts"]}
    for host in HOSTS:
        mine = [r for r in leftover_rows if r["host"] == host]
        assert len(mine) == len(by_host[host]["leftovers"]), host
        # every .PCK the host had before the run has its row
        names = {f"{r['package_id']}.PCK" if not r["package_id"].upper().endswith(".PCK") else r["package_id"]
                 for r in mine}
        assert {n.upper() for n in run_report["pck_before"][host]} == {n.upper() for n in names}, host
    removed = [r for r in leftover_rows if r["action"] == "removed"]
    assert len(removed) == run_report["json"]["totals"]["leftovers_removed"]
    assert sum(int(r["size"]) for r in removed) == run_report["json"]["totals"]["bytes_reclaimed"]


def test_html_self_contained_with_every_host(run_report):
    html = run_report["html"].read_text(encoding="utf-8")
    assert html.lstrip().lower().startswith(("<!doctype html", "<html"))
    external = re.findall(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", html, re.IGNORECASE)
    assert not external, external
    assert not re.search(r"@import\s+url\(\s*['\"]?(?:https?:)?//", html, re.IGNORECASE)
    for host in HOSTS:
        assert host in html, host


def test_markdown_lists_every_host(run_report):
    text = run_report["md"].read_text(encoding="utf-8")
    rows = [line for line in text.splitlines() if line.startswith("|")]
    for host in HOSTS:
        assert any(line.split("|")[1].strip() == host for line in rows), f"{host} not in a Markdown table row"


def test_markdown_header_has_start_time(run_report):
    assert run_report["json"]["meta"]["started"]
    assert "Started ," not in run_report["md"].read_text(encoding="utf-8")
