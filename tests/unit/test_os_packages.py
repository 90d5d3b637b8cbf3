"""Issue 20: scripts/os-packages.sh, the one list of Debian packages that .ci/run, scripts/test.sh and the msrpc
demo install. Only its --check mode runs here (nothing is installed): what it finds missing and the command it
prints for a user who cannot install."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "os-packages.sh"
BASH = shutil.which("bash")


def check(*groups, path="/nonexistent"):
    return subprocess.run([BASH, str(SCRIPT), "--check", *groups], capture_output=True, text=True, check=False,
                          env={"PATH": path})


def test_what_is_missing_is_named_with_the_command_that_installs_it():
    done = check("tools")
    assert done.returncode == 1
    assert "apt-get install -y --no-install-recommends git shellcheck" in done.stderr, done.stderr


def test_the_test_group_is_every_group():
    done = check("test")
    assert done.returncode == 1
    listed = done.stderr.split("missing Debian packages: ", 1)[1].split(";", 1)[0].split()
    assert set(listed) >= {"git", "shellcheck", "samba-common-bin", "smbclient", "chromium"}, done.stderr


def test_an_unknown_group_is_refused():
    done = check("sambaa")
    assert done.returncode == 2 and "unknown group 'sambaa'" in done.stderr


def test_nothing_missing_is_silent_success():
    # every probe of the tools group found on PATH: a folder with stand-ins named like the programs
    done = subprocess.run([BASH, "-c", 'd=$(mktemp -d) && for p in git shellcheck; do printf "#!/bin/sh\\n" >"$d/$p";'
                           ' chmod +x "$d/$p"; done && PATH="$d" "$0" "$1" --check tools; rc=$?; rm -rf "$d"; exit $rc',
                           BASH, str(SCRIPT)], capture_output=True, text=True, check=False)
    assert (done.returncode, done.stderr) == (0, ""), done.stderr
