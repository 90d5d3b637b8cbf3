"""Windows PowerShell 5.1 traps in the collection's scripts, checked on the text as sent (prelude included).

There is no PowerShell here, so the traps that made the scripts fail on Windows while every lab test
passed are rules over the parsed scripts (tree-sitter-powershell):

- a function's ``[string]`` parameter compared with ``$null``: PowerShell binds ``$null`` to a ``[string]``
  as ``""``, so the test never fires (issue 11, defect 3: ``Search-LogFile`` threw outside its try);
- a ``$null`` literal passed to a .NET method: PowerShell passes ``""`` to a ``string`` parameter
  (``[NullString]::Value`` is the null string); ``File.Replace(..., $null)`` threw on every second manifest
  write (defect 2). Calls whose parameter is ``object`` are listed with the reason;
- a function named like a built-in cmdlet hides it for the rest of the script (defect 10: ``Invoke-Item``).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import tree_sitter_powershell
from tree_sitter import Language, Parser

REPO = Path(__file__).resolve().parents[2]
PARSER = Parser(Language(tree_sitter_powershell.language()))

_spec = importlib.util.spec_from_file_location("_sms_scripts", REPO / "plugins" / "plugin_utils" / "_scripts.py")
SCRIPTS = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(SCRIPTS)

# .NET methods given a $null literal on purpose: the parameter is ``object``, so null stays null.
NULL_ARGUMENT_OK = {
    "GetValue": "RegistryKey.GetValue(string name, object defaultValue): object receives a real null",
}
# Cmdlets of the modules Windows PowerShell 5.1 loads by default (Core, Management, Utility, Security).
BUILTIN_CMDLETS = {name.lower() for name in """
Add-Computer Add-Content Add-History Add-Member Add-Type Clear-Content Clear-History Clear-Item Clear-ItemProperty
Clear-Variable Compare-Object Complete-Transaction Connect-WSMan ConvertFrom-Csv ConvertFrom-Json
ConvertFrom-SecureString ConvertFrom-String ConvertFrom-StringData ConvertTo-Csv ConvertTo-Html ConvertTo-Json
ConvertTo-SecureString ConvertTo-Xml Convert-Path Copy-Item Copy-ItemProperty Debug-Process Disable-PSBreakpoint
Enable-PSBreakpoint Enter-PSSession Exit-PSSession Export-Alias Export-Clixml Export-Csv Export-FormatData
Export-ModuleMember Export-PSSession ForEach-Object Format-Custom Format-Hex Format-List Format-Table Format-Wide
Get-Acl Get-Alias Get-AuthenticodeSignature Get-ChildItem Get-Command Get-ComputerInfo Get-Content Get-Credential
Get-Culture Get-Date Get-Event Get-EventLog Get-EventSubscriber Get-ExecutionPolicy Get-FileHash Get-FormatData
Get-Help Get-History Get-Host Get-HotFix Get-Item Get-ItemProperty Get-ItemPropertyValue Get-Job Get-Location
Get-Member Get-Module Get-PfxCertificate Get-Process Get-PSBreakpoint Get-PSCallStack Get-PSDrive Get-PSProvider
Get-PSSession Get-Random Get-Runspace Get-Service Get-TimeZone Get-TraceSource Get-Transaction Get-TypeData
Get-UICulture Get-Unique Get-Variable Get-WinEvent Get-WmiObject Get-CimInstance Group-Object Import-Alias
Import-Clixml Import-Csv Import-LocalizedData Import-Module Import-PSSession Invoke-CimMethod Invoke-Command
Invoke-Expression Invoke-History Invoke-Item Invoke-RestMethod Invoke-WebRequest Invoke-WmiMethod Join-Path
Limit-EventLog Measure-Command Measure-Object Move-Item Move-ItemProperty New-Alias New-Event New-EventLog
New-Guid New-Item New-ItemProperty New-Module New-Object New-PSDrive New-PSSession New-Service New-TemporaryFile
New-TimeSpan New-Variable Out-Default Out-File Out-GridView Out-Host Out-Null Out-Printer Out-String Pop-Location
Push-Location Read-Host Receive-Job Register-EngineEvent Register-ObjectEvent Register-WmiEvent Remove-Computer
Remove-Event Remove-EventLog Remove-Item Remove-ItemProperty Remove-Job Remove-Module Remove-PSBreakpoint
Remove-PSDrive Remove-PSSession Remove-TypeData Remove-Variable Remove-WmiObject Rename-Computer Rename-Item
Rename-ItemProperty Resolve-Path Restart-Computer Restart-Service Resume-Service Select-Object Select-String
Select-Xml Send-MailMessage Set-Acl Set-Alias Set-AuthenticodeSignature Set-Content Set-Date Set-ExecutionPolicy
Set-Item Set-ItemProperty Set-Location Set-PSBreakpoint Set-PSDebug Set-Service Set-StrictMode Set-TimeZone
Set-TraceSource Set-Variable Set-WmiInstance Show-Command Show-EventLog Sort-Object Split-Path Start-Job
Start-Process Start-Service Start-Sleep Start-Transaction Start-Transcript Stop-Computer Stop-Job Stop-Process
Stop-Service Stop-Transcript Suspend-Service Tee-Object Test-ComputerSecureChannel Test-Connection Test-Path
Test-WSMan Trace-Command Undo-Transaction Unregister-Event Update-FormatData Update-List Update-TypeData
Use-Transaction Wait-Event Wait-Job Wait-Process Where-Object Write-Debug Write-Error Write-EventLog Write-Host
Write-Information Write-Output Write-Progress Write-Verbose Write-Warning
""".split()}


def _text(source: bytes, node) -> str:
    return source[node.start_byte:node.end_byte].decode("utf-8")


def _walk(node):
    yield node
    for child in node.children:
        yield from _walk(child)


def _line(node) -> int:
    return node.start_point[0] + 1


def problems(text: str) -> list[str]:
    """Every trap found in ``text``, as "line N: what"."""
    source = text.encode("utf-8")
    tree = PARSER.parse(source)
    found = []
    for node in _walk(tree.root_node):
        if node.type == "function_statement":
            found += _function_problems(source, node)
        elif node.type == "invokation_expression":
            found += _null_argument_problems(source, node)
    return found


def _function_problems(source: bytes, function) -> list[str]:
    name = _text(source, next(c for c in function.children if c.type == "function_name"))
    found = []
    if name.lower() in BUILTIN_CMDLETS:
        found.append(f"line {_line(function)}: function {name} hides the built-in cmdlet of that name")
    strings = set()
    for parameter in (n for n in _walk(function) if n.type == "script_parameter"):
        types = [_text(source, n).lower() for n in _walk(parameter) if n.type == "type_literal"]
        if "[string]" in types:
            strings.add(_text(source, next(c for c in parameter.children if c.type == "variable")).lower())
    for comparison in (n for n in _walk(function) if n.type == "comparison_expression" and len(n.children) == 3):
        left, operator, right = (_text(source, c).strip().lower() for c in comparison.children)
        if operator not in ("-eq", "-ne"):
            continue
        other = right if left == "$null" else left if right == "$null" else None
        if other in strings:
            found.append(f"line {_line(comparison)}: {name}: {other} is a [string] parameter, never $null "
                         f"(PowerShell binds $null as \"\"): test [string]::IsNullOrEmpty({other})")
    return found


def _null_argument_problems(source: bytes, call) -> list[str]:
    member = next((c for c in call.children if c.type == "member_name"), None)
    arguments = next((c for c in call.children if c.type == "argument_list"), None)
    if member is None or arguments is None:
        return []
    method = _text(source, member)
    listed = next((c for c in arguments.children if c.type == "argument_expression_list"), None)
    values = [_text(source, c).strip().lower() for c in (listed.children if listed else [])
              if c.type == "argument_expression"]
    if "$null" not in values or method in NULL_ARGUMENT_OK:
        return []
    return [f"line {_line(call)}: {_text(source, call)}: PowerShell passes $null to a .NET string parameter as \"\"; "
            "use [NullString]::Value (or list the method in NULL_ARGUMENT_OK with the reason)"]


@pytest.mark.parametrize("name", SCRIPTS.script_names())
def test_script_as_sent_has_none_of_the_traps(name):
    assert problems(SCRIPTS.script_text(name)) == []


def test_the_rules_catch_the_defects_they_are_for():
    # The code of issue 11 before its fixes, one trap each.
    broken = """
function Search-LogFile {
    param([string]$Path, [regex]$Pattern)
    if ($null -eq $Path) { return $null }
}
function Write-Manifest {
    param([string]$Path)
    [System.IO.File]::Replace("$Path.tmp", $Path, $null)
    $key.GetValue('Enabled', $null)
}
function Invoke-Item { param($Item) }
"""
    found = problems(broken)
    assert len(found) == 3, found
    assert "Search-LogFile: $path is a [string] parameter, never $null" in found[0]
    assert "File]::Replace" in found[1] and "[NullString]::Value" in found[1]
    assert "function Invoke-Item hides the built-in cmdlet" in found[2]


def _function_names(text: str) -> list[str]:
    source = text.encode("utf-8")
    return [_text(source, next(c for c in node.children if c.type == "function_name")).lower()
            for node in _walk(PARSER.parse(source).root_node) if node.type == "function_statement"]


@pytest.mark.parametrize("name", SCRIPTS.script_names())
def test_each_helper_is_defined_once_in_the_text_as_sent(name):
    # The shared helpers live in _prelude.ps1 only (issue 12 item 5): a copy in a script would be
    # defined twice in what is sent, and the two could drift apart.
    names = _function_names(SCRIPTS.script_text(name))
    assert sorted({n for n in names if names.count(n) > 1}) == []
    assert {"get-innermostexception", "get-sha256", "get-dllfileversion", "format-wmierror"} <= set(names)
