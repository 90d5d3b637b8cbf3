"""Issue 20: scripts/test.sh counts the tests that were left out because the run is not root by their reason's
prefix, ``needs root: ``. A test that skips on ``os.geteuid()`` with another reason would be counted as something
else; this finds it."""

from __future__ import annotations

import re
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
PREFIX = "needs root: "
ROOT_CHECK = re.compile(r"geteuid\(\)\s*!=\s*0")
REASON = re.compile(r"""(?:reason=|pytest\.skip\()\s*f?["'](?P<reason>[^"']*)""")


def root_skips(text: str):
    """(line number, reason) of each skip decided by a root check: on the check's line or the line after it."""
    lines = text.splitlines()
    for number, line in enumerate(lines):
        if ROOT_CHECK.search(line):
            for candidate in lines[number:number + 2]:
                found = REASON.search(candidate)
                if found:
                    yield number + 1, found.group("reason")
                    break


def test_every_skip_for_want_of_root_says_needs_root():
    wrong = [f"{path.relative_to(TESTS)}:{line}: {reason!r}"
             for path in sorted(TESTS.rglob("test_*.py")) if "output" not in path.parts and path != Path(__file__).resolve()
             for line, reason in root_skips(path.read_text(encoding="utf-8")) if not reason.startswith(PREFIX)]
    assert not wrong, "skips for want of root that do not start with 'needs root: ':\n" + "\n".join(wrong)


def test_the_finder_sees_both_forms():
    text = ('pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="port 135")\n'
            'if os.geteuid() != 0:\n    pytest.skip("needs root: su")\n')
    assert list(root_skips(text)) == [(1, "port 135"), (2, "needs root: su")]
