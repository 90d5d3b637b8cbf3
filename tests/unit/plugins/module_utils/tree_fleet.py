"""A three-tier fleet whose sites end in every outcome the report's hierarchy colours (for test_report_tree
and the browser test), as per-host records the way host_result builds them."""

from __future__ import annotations

from ansible_collections.sms.remediation.plugins.module_utils.report import build_report


def _site(code, parent):
    return {"site_code": code, "parent_site_code": parent, "version": "2.00.1380.1000", "service_pack": "SP1",
            "platform": "i386", "transport": "msrpc"}


def _leftover(package_id, status):
    return {"package_id": package_id, "name": f"{package_id}.PCK", "path": f"D:\\SMSPKG\\{package_id}.PCK",
            "size": 2048, "status": status, "evidence_level": "origin" if status == "stale_confirmed" else None,
            "actionable": status == "stale_confirmed", "reasons": []}


def record(host, code, parent, status="ok", leftovers=(), removed=(), refused=(), hotfix=None, error=None):
    return {"host": host, "status": status, "error": error, "check_mode": False,
            "site": _site(code, parent) if code else {}, "q244405": {"affected": True},
            "leftovers": [_leftover(pid, st) for pid, st in leftovers],
            "actions": {"removed": list(removed), "quarantined": [], "refused": list(refused),
                        "hotfix": hotfix or {}}, "bytes_reclaimed": 2048 * len(removed)}


def fleet_records() -> dict:
    """A00 central (clean) > B00 (removed) > C01 (leftovers found, secondary), C02 (refused, <b>reason</b>);
    A00 > D00 (hotfix applied), E00 (unreachable, placed by the inventory), F00 (failed), G00 (skipped)."""
    return {
        "smsa00": record("smsa00", "A00", None, leftovers=[("A0000001", "active")]),
        "smsb00": record("smsb00", "B00", "A00", leftovers=[("A0000012", "stale_confirmed")], removed=["A0000012"]),
        "smsc01": record("smsc01", "C01", "B00", leftovers=[("A0000014", "stale_unconfirmed")]),
        "smsc02": record("smsc02", "C02", "B00", leftovers=[("A0000015", "stale_confirmed")],
                         refused=[{"id": "A0000015", "reason": "<b>reparse point</b> refused"}]),
        "smsd00": record("smsd00", "D00", "A00", hotfix={"applied": True, "method": "manual", "outcome": "replaced"}),
        "smse00": record("smse00", "E00", "A00", status="unreachable", error="no answer from WinRM on smse00"),
        "smsf00": record("smsf00", "F00", "A00", status="failed", error="hotfix_transaction: services would not start"),
        "smsg00": record("smsg00", "G00", "A00", status="skipped", error="a child site failed: smsx00"),
    }


def fleet_report() -> dict:
    return build_report(fleet_records(), {"policy": "auto", "check_mode": False, "started": "2026-12-06T20:00:00",
                                          "finished": "2026-12-06T20:01:00"})
