"""The filter the property tests build their probe answers with is the probe's own: the LogPattern the
controller sends, and the lab copy of the script's loop with the script's own end-of-entry regex."""

from __future__ import annotations

from ansible_collections.sms.remediation.plugins.module_utils import sms20

from probe_builders import adding, deleted, deleting
from probe_filter import lab_probe, log_pattern, probe_log_matches, script_entry_end


def test_the_lab_copy_ends_entries_as_the_script_does():
    assert lab_probe.ENTRY_END.pattern == script_entry_end()


def test_the_filter_follows_the_table_log_pattern():
    lines = [adding("60000012"), "SMS_DISTRIBUTION_MANAGER started.", deleting("60000012"), deleted("60000012")]
    assert [m["line"] for m in probe_log_matches(lines)] == [1, 3, 4]
    narrower = sms20.merge_overrides({"log_pattern": "deleted the package"})
    assert [m["line"] for m in probe_log_matches(lines, narrower)] == [4]
    assert log_pattern(narrower).pattern != log_pattern().pattern


def test_a_wrapped_match_carries_its_next_line_and_case_is_ignored():
    lines = ["~SUCCESSFULLY DELETED THE PACKAGE 61000012  $$<SMS_DISTRIBUTION_MANAGER><Fri Oct 15 17:09:46.677 1999",
             " Pacific Daylight Time><thread=297 (0x129)>", "Processing package 6100000F"]
    assert probe_log_matches(lines) == [{"line": 1, "text": lines[0] + "\n" + lines[1]}]
