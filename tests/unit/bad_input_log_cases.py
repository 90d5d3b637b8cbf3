"""Rows of the bad-input catalogue about Distmgr.log content (section 5 of test_bad_input_catalogue.py): empty,
truncated, binary and UTF-16 logs and a 200 MB log streamed in bounded memory. Each row proves no claim is
read where none is written, and keeps a control where the genuine claim is still honoured."""
from __future__ import annotations

import codecs
import io
import random

from ansible_collections.sms.remediation.plugins.module_utils.decision import plan
from ansible_collections.sms.remediation.plugins.module_utils.distmgr_log import (
    ParseStats,
    iter_package_events_from_stream,
    package_histories,
)
from ansible_collections.sms.remediation.plugins.module_utils.facts import LogHistory
from ansible_collections.sms.remediation.plugins.module_utils.leftovers import classify, origin_view_from_facts
from ansible_collections.sms.remediation.plugins.module_utils.probe_result import parse_probe

from bad_input_plumbing import ACTIVE_AT_ORIGIN, CLAIM, GOOD, HOST, PARENT_FACTS, TABLE, child, decide
import probe_builders as pb
from probe_builders import request


def _no_claim_from(log_files, min_evidence="log"):
    """The log gives no usable claim: without the origin in the run, GOOD is not removed."""
    answer = child(log=(), distmgr_log={"logging_enabled": True, "max_file_size": 1048576, "files": log_files})
    _site, items, decided = decide(answer, parent=False, min_evidence=min_evidence)
    good = [i for i in items if i.package_id == GOOD][0]
    assert good.evidence["log"] is None and good.status == "stale_unconfirmed", good
    assert good.package_id not in {i.package_id for i in decided.remove}
    assert any(r["id"] == GOOD and "weaker than the required log" in r["reason"] for r in decided.kept)
    # and the control: with the proper claim the same site would be removed with min_evidence=log
    _site, _items, control = decide(child(), parent=False, min_evidence="log")
    assert [i.package_id for i in control.remove] == [GOOD]


def log_empty_case():
    _no_claim_from([{"path": "C:\\SMS\\Logs\\Distmgr.log", "exists": True, "size": 0, "matches": []}])


def log_truncated_case():
    cut = CLAIM[1][: CLAIM[1].index("><thread=")]           # the entry stops before its thread tag
    _no_claim_from([{"path": "C:\\SMS\\Logs\\Distmgr.log", "exists": True, "size": 4096,
                     "matches": [{"line": 1, "text": CLAIM[0]}, {"line": 3, "text": cut}]}])


def log_binary_matches_case():
    rng = random.Random(244405)
    garbage = bytes(rng.randrange(256) for _unused in range(300)).decode("cp1252", "replace")
    text = garbage + " deleted the package 60000012 \x00\x00" + garbage
    _no_claim_from([{"path": "C:\\SMS\\Logs\\Distmgr.log", "exists": True, "size": 65536,
                     "matches": [{"line": 1, "text": text}]}])


def _stream_histories(stream):
    stats = ParseStats()
    events = list(iter_package_events_from_stream(stream, "C:\\SMS\\Logs\\Distmgr.log", stats))
    return package_histories(events), stats


def _with_histories(histories, min_evidence="log", parent=False):
    site = parse_probe(HOST, child(log=()), TABLE)
    site.log_histories = {pid: LogHistory.from_history(history) for pid, history in histories.items()}
    site.logging["evidence_available"] = True
    origins = {"600": origin_view_from_facts(PARENT_FACTS)} if parent else {}
    items = classify(site, origins, min_evidence)
    return items, plan(site, items, request("auto", None, True, ()), TABLE)


def log_binary_stream_case():
    rng = random.Random(99)
    blob = bytearray(rng.randbytes(1 << 20))
    blob[5000:5000] = b"~Successfully deleted the package 60000012\x00\x00\xff$$<SMS_DISTR\x00"
    histories, stats = _stream_histories(io.BytesIO(bytes(blob)))
    assert GOOD not in histories and stats.bytes == len(blob)
    _items, decided = _with_histories(histories)
    assert decided.remove == []


def _utf16_log(text: str, bom: bool) -> bytes:
    body = text.encode("utf-16-le")
    return (codecs.BOM_UTF16_LE + body) if bom else body


def log_utf16_case(bom):
    """A UTF-16 Distmgr.log is understood: its claims are read, and a claim for a package still at its
    origin (60000013) is refused whatever the log says; the claimed leftover is selected (control)."""
    lines = [pb.deleting(GOOD), pb.deleted(GOOD), pb.deleting(ACTIVE_AT_ORIGIN), pb.deleted(ACTIVE_AT_ORIGIN)]
    histories, _stats = _stream_histories(io.BytesIO(_utf16_log("\r\n".join(lines) + "\r\n", bom)))
    assert histories[GOOD].deleted_claim is not None and histories[ACTIVE_AT_ORIGIN].deleted_claim is not None
    site = parse_probe(HOST, child(files=[pb.pck(ACTIVE_AT_ORIGIN)], log=()), TABLE)
    site.log_histories = {pid: LogHistory.from_history(history) for pid, history in histories.items()}
    items = classify(site, {"600": origin_view_from_facts(PARENT_FACTS)}, "log")
    decided = plan(site, items, request("auto", None, True, (ACTIVE_AT_ORIGIN,)), TABLE)
    assert [i.package_id for i in decided.remove] == [GOOD]
    assert any(r["id"] == ACTIVE_AT_ORIGIN and "still present at its origin" in r["reason"] for r in decided.refused)


class _HugeLog(io.RawIOBase):
    """``size`` bytes of Distmgr.log noise made on the fly (never held in memory), ending with
    a "Successfully deleted" claim cut in the middle of its entry."""

    LINE = (b"Processing package 6100000F (SourceVersion:2;StoredVersion:2)...  $$<SMS_DISTRIBUTION_MANAGER>"
            b"<Fri Oct 15 17:09:46.677 1999 Pacific Daylight Time><thread=297 (0x129)>\r\n")
    TAIL = b"~Successfully deleted the package 60000012  $$<SMS_DISTRIBUTION_MANAGER><Fri Oct 15 17:09"

    def __init__(self, size: int):
        super().__init__()
        self.size = size
        self.pos = 0
        self.block = self.LINE * (1 << 20 // len(self.LINE) + 1)

    def readable(self):
        return True

    def readinto(self, buffer):
        body = self.size - len(self.TAIL)
        if self.pos >= self.size:
            return 0
        if self.pos < body:
            count = min(len(buffer), body - self.pos, len(self.block))
            start = self.pos % len(self.LINE)
            chunk = (self.block[start:] + self.block[:start])[:count]
        else:
            offset = self.pos - body
            chunk = self.TAIL[offset:offset + len(buffer)]
            count = len(chunk)
        buffer[:count] = chunk
        self.pos += count
        return count


def log_200mb_case():
    size = 200 * 1024 * 1024
    stream = io.BufferedReader(_HugeLog(size), buffer_size=1 << 20)
    histories, stats = _stream_histories(stream)
    assert stats.bytes == size, stats
    assert stats.truncated_entries == 1, stats
    assert GOOD not in histories
    _items, decided = _with_histories(histories)
    assert decided.remove == []
