"""The fleet report's HTML in a real browser (issue 21): Debian's chromium, headless, renders the page of a
three-tier fleet whose sites end in every outcome; the page logs no error to the console and draws every
site of the hierarchy (each site's box is in the rendered DOM, and each outcome's colour is on the screenshot).

No skip: without chromium the test fails with the command that installs it.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from lab_harness import ROOT, ansible_env

sys.path.insert(0, str(ROOT / "tests" / "output" / ".collection_root"))
sys.path.insert(0, str(ROOT / "tests" / "unit" / "plugins" / "module_utils"))

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--enable-logging=stderr", "--v=0"]
INSTALL = "apt-get install -y chromium"


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.fail(f"chromium is not installed; the browser test needs it: {INSTALL}")
    return found


def run_chromium(tmp_path: Path, page: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"     # a fresh profile per run
    return subprocess.run([chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args, page.as_uri()],
                          capture_output=True, text=True, timeout=120, check=False)


def console_errors(stderr: str) -> list[str]:
    """The page's console messages at error level and uncaught exceptions, from chromium's log."""
    return [line for line in stderr.splitlines()
            if ":CONSOLE" in line and ("Uncaught" in line or "Error" in line or ":ERROR:" in line)]


def png_colours(data: bytes) -> set[tuple[int, int, int]]:
    """Every RGB colour of an 8-bit RGB / RGBA PNG (what chromium writes), decoded here: no imaging library."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    position, chunks, header = 8, [], None
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        body = data[position + 8:position + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            chunks.append(body)
        position += 12 + length
    width, height, depth, colour_type = header[:4]
    assert depth == 8 and colour_type in (2, 6), f"unexpected PNG format: depth {depth}, colour type {colour_type}"
    step = 3 if colour_type == 2 else 4
    raw, stride = zlib.decompress(b"".join(chunks)), width * step
    previous, colours = bytearray(stride), set()
    for row in range(height):
        kind, line = raw[row * (stride + 1)], bytearray(raw[row * (stride + 1) + 1:(row + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - step] if i >= step else 0
            up, corner = previous[i], previous[i - step] if i >= step else 0
            if kind == 1:
                line[i] = (line[i] + left) & 255
            elif kind == 2:
                line[i] = (line[i] + up) & 255
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 255
            elif kind == 4:
                guess = left + up - corner
                nearest = min((abs(guess - left), 0, left), (abs(guess - up), 1, up), (abs(guess - corner), 2, corner))
                line[i] = (line[i] + nearest[2]) & 255
        colours.update(tuple(line[i:i + 3]) for i in range(0, stride, step))
        previous = line
    return colours


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    return tuple(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))


@pytest.fixture
def report_page(tmp_path):
    ansible_env(tmp_path)                       # makes the collection root the imports below need
    from ansible_collections.sms.remediation.plugins.module_utils.report import render_html
    from tree_fleet import fleet_report
    page = tmp_path / "report.html"
    page.write_text(render_html(fleet_report()), encoding="utf-8")
    return page


def test_the_console_check_sees_a_script_error(tmp_path):
    broken = tmp_path / "broken.html"
    broken.write_text("<!DOCTYPE html><html><body><p>x</p><script>notDefinedAnywhere();</script></body></html>",
                      encoding="utf-8")
    done = run_chromium(tmp_path, broken, "--dump-dom")
    assert console_errors(done.stderr), done.stderr[-3000:]


def test_report_renders_every_site_without_errors(tmp_path, report_page):
    from ansible_collections.sms.remediation.plugins.module_utils.report_tree import OUTCOMES
    from tree_fleet import fleet_records
    done = run_chromium(tmp_path, report_page, "--dump-dom")
    assert done.returncode == 0, done.stderr[-3000:]
    assert console_errors(done.stderr) == []
    drawn = dict(re.findall(r'<div class="site o-\w+" data-host="(\w+)" data-outcome="(\w+)"', done.stdout))
    assert sorted(drawn) == sorted(fleet_records())
    assert set(drawn.values()) == set(OUTCOMES) - {"incomplete"}
    # The screenshot of the page with its legend hidden: an outcome's colour then comes from the tree's site
    # boxes (border and outcome label); with the tree hidden only the two greys (anti-aliased text) are left.
    boxes_only = tmp_path / "boxes-only.html"
    boxes_only.write_text(report_page.read_text(encoding="utf-8").replace(
        "</head>", "<style>.legend{display:none}</style></head>", 1), encoding="utf-8")
    shot = tmp_path / "report.png"
    done = run_chromium(tmp_path, boxes_only, f"--screenshot={shot}", "--window-size=1400,1400",
                        "--hide-scrollbars")
    assert done.returncode == 0 and shot.is_file(), done.stderr[-3000:]
    colours = png_colours(shot.read_bytes())
    seen = {key for key, (_label, _check, colour) in OUTCOMES.items() if _rgb(colour) in colours}
    assert seen == set(drawn.values())
