"""The probe's log-line filter, for tests that build probe answers from whole logs.

sms_probe.ps1 returns, for each Distmgr log, the lines that match its ``LogPattern`` parameter (plus the next
physical line when a matching line does not end its entry). The pattern is the one the controller really sends:
``sms20.probe_parameters(table)["LogPattern"]``, a .NET regex the script compiles with ``IgnoreCase``. Here it is
compiled under .NET rules by the lab's compiler and applied by the lab's copy of the script's line loop
(``lab/smslab/handlers/sms_scripts/probe.py``), so a test's log lines pass through the filter the probe applies,
not through a list of words kept in the test.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from ansible_collections.sms.remediation.plugins.module_utils import sms20

ROOT = Path(__file__).resolve().parents[4]
PROBE_SCRIPT = ROOT / "plugins" / "plugin_utils" / "powershell" / "sms_probe.ps1"
if str(ROOT / "lab") not in sys.path:
    sys.path.insert(0, str(ROOT / "lab"))

# pylint: disable=wrong-import-position
from smslab.handlers.dotnet_regex import compile_dotnet  # noqa: E402
from smslab.handlers.sms_scripts import probe as lab_probe  # noqa: E402

_ENTRY_END_IN_SCRIPT = re.compile(r"^\$EntryEnd\s*=\s*\[regex\]::new\('(?P<pattern>(?:[^']|'')*)'", re.MULTILINE)


def log_pattern(table: dict | None = None) -> re.Pattern:
    """The LogPattern the controller sends, compiled as the probe compiles it (.NET, IgnoreCase)."""
    table = sms20.merge_overrides(None) if table is None else table
    return compile_dotnet(sms20.probe_parameters(table)["LogPattern"], ignore_case=True)


def script_entry_end() -> str:
    """The probe script's own end-of-entry regex (``$EntryEnd``), read from sms_probe.ps1."""
    match = _ENTRY_END_IN_SCRIPT.search(PROBE_SCRIPT.read_text(encoding="utf-8-sig"))
    assert match, f"{PROBE_SCRIPT.name}: no $EntryEnd = [regex]::new('...') line"
    return match.group("pattern").replace("''", "'")


def probe_log_matches(lines: list[str], table: dict | None = None) -> list[dict]:
    """What the probe answers for a log of these physical lines: ``[{"line": n, "text": ...}]``."""
    return lab_probe._scan_lines(lines, log_pattern(table))[0]  # pylint: disable=protected-access
