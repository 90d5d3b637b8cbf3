"""tools/check_powershell.py: the three collection scripts parse, and a broken script is reported."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CHECKER = REPO / "tools" / "check_powershell.py"
SCRIPTS = [REPO / "plugins" / "plugin_utils" / "powershell" / name
           for name in ("sms_probe.ps1", "sms_compressed_package.ps1", "sms_hotfix_transaction.ps1")]


def run_checker(*paths: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(CHECKER), *map(str, paths)],
                          capture_output=True, text=True, check=False, cwd=REPO)


def test_collection_scripts_parse_without_errors():
    done = run_checker(*SCRIPTS)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip().splitlines()[-1] == "3 PowerShell files parsed, 0 errors"


def test_default_run_checks_every_script_under_plugins():
    done = run_checker()
    assert done.returncode == 0, done.stdout + done.stderr
    count = len(list((REPO / "plugins").rglob("*.ps1")))
    assert done.stdout.strip().endswith(f"{count} PowerShell files parsed, 0 errors")


def test_broken_script_is_reported_with_its_position(tmp_path):
    broken = tmp_path / "broken.ps1"
    broken.write_text(
        "# sms.remediation:probe v1\n"
        "[CmdletBinding(SupportsShouldProcess)]\n"
        "param([string]$Name)\n"
        "$table = @{ a = 1; b = }\n"          # a hashtable entry without a value
        "Write-Output $table\n",
        encoding="utf-8")
    good = SCRIPTS[0]
    done = run_checker(good, broken)
    assert done.returncode == 1
    assert f"{broken}:4:" in done.stdout
    assert str(good) + ":" not in done.stdout
    assert "2 PowerShell files parsed, 1 with errors" in done.stdout


def test_unclosed_string_is_reported(tmp_path):
    broken = tmp_path / "unclosed.ps1"
    broken.write_text('Write-Host "never closed\n', encoding="utf-8")
    done = run_checker(broken)
    assert done.returncode == 1 and f"{broken}:1:1:" in done.stdout


def test_scripts_are_checked_with_the_prelude_in_place(tmp_path):
    # Line 4 is the prelude line: the break on line 5 is reported at line 5 of this file, not at
    # its position in the combined text.
    broken = tmp_path / "with_prelude.ps1"
    broken.write_text(
        "# sms.remediation:probe v1\n"
        "[CmdletBinding(SupportsShouldProcess)]\n"
        "param([string]$Name)\n"
        "# sms.remediation:prelude\n"
        "$table = @{ a = 1; b = }\n"
        "Get-Sha256 $Name\n",
        encoding="utf-8")
    done = run_checker(broken)
    assert done.returncode == 1
    assert f"{broken}:5:" in done.stdout, done.stdout


def test_collection_script_without_its_prelude_line_is_an_error():
    from importlib.util import module_from_spec, spec_from_file_location
    spec = spec_from_file_location("_sms_scripts", REPO / "plugins" / "plugin_utils" / "_scripts.py")
    scripts = module_from_spec(spec)
    spec.loader.exec_module(scripts)
    for name in scripts.script_names():
        sent = scripts.script_text(name)
        assert sent.splitlines()[0].startswith(f"# sms.remediation:{name.removeprefix('sms_')} v1")
        assert not any(line.startswith(scripts.PRELUDE_LINE) for line in sent.splitlines()) and "function Get-InnermostException" in sent
    try:
        scripts.with_prelude("# sms.remediation:probe v1\nparam()\n", "x.ps1")
    except scripts.ScriptAssemblyError as exc:
        assert "x.ps1 must have exactly one line" in str(exc)
    else:
        raise AssertionError("a script without a prelude line was assembled")
