"""ansible-core ends the playbook when every host of a batch fails, so the report play never runs:
the role writes the report after each batch, and this proves a run whose only affected site fails
still leaves a report naming that site and the cause."""

from __future__ import annotations

import json

SCENARIO = {
    "seed": 11,
    "sites": [
        {"name": "smsc00", "site_code": "C00", "build": "sp2", "packages": {"active": ["C0000001"]}},
        # The console is open: the hotfix refuses, the host fails.
        {"name": "smsc10", "site_code": "C10", "parent": "C00", "build": "sp1", "console_open": True,
         "packages": {"active": ["C0000001"], "leftovers": ["C0000009"]}},
    ],
}


def test_report_written_when_the_last_batch_fails_entirely(lab_factory):
    lab = lab_factory(SCENARIO, "survives")
    # One host per batch, children first: the first batch is smsc10 alone and fails as a whole.
    run = lab.playbook("-e", "q244405_serial=1")
    assert run.rc != 0
    assert run.recap["smsc10"]["failed"] == 1
    reports = sorted(lab.report_dir.glob("q244405-run-*.json"))
    assert len(reports) == 1, "one run, one set of report files (rewritten after each batch)"
    report = json.loads(reports[0].read_text(encoding="utf-8"))
    by_host = {entry["host"]: entry for entry in report["hosts"]}
    assert by_host["smsc10"]["status"] == "failed"
    assert "console" in by_host["smsc10"]["error"]
    assert report["meta"]["started"], "the report names when the run started"
    for extension in ("csv", "md", "html"):
        assert reports[0].with_suffix(f".{extension}").exists()
