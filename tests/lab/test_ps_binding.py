"""The lab binds script parameters as Windows PowerShell 5.1 does, from the script's own param() block,
and compiles regexes as .NET does (lab/smslab/handlers/ps_binding.py, dotnet_regex.py)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "lab"))

from smslab.handlers import LabUnsupported, ScriptError  # noqa: E402
from smslab.handlers.dotnet_regex import DotnetRegexError, compile_dotnet  # noqa: E402
from smslab.handlers.ps_binding import BindingError, bind, param_block, repo_script_text  # noqa: E402

SCRIPT = """# sms.remediation:example v1
[CmdletBinding(SupportsShouldProcess)]
param(
    [Parameter(Mandatory = $true)]
    [ValidateSet('i386', 'alpha')]
    [string]$Platform,
    [string]$Name,
    [AllowNull()]
    [string]$Namespace,
    [ValidateNotNullOrEmpty()]
    [string]$Required = 'x',
    [int]$WaitSeconds = 120,
    [ValidateRange(1, 10)]
    [int]$Attempts = 3,
    [string[]]$Services = @('SMS_EXECUTIVE', 'SMS_SITE_BACKUP'),
    [hashtable[]]$Items = @(),
    [switch]$Force,
    [Parameter(Mandatory = $true)]
    [string[]]$Folders
)
# sms.remediation:prelude
"""


def test_param_block_is_read_from_the_script_text():
    block = param_block(SCRIPT)
    assert block.should_process
    assert block.names() == ["Platform", "Name", "Namespace", "Required", "WaitSeconds", "Attempts", "Services",
                             "Items", "Force", "Folders"]
    platform = block.params[0]
    assert platform.mandatory and platform.type == "string" and platform.validate_set == ("i386", "alpha")


def test_defaults_types_and_unbound_values():
    bound = bind(SCRIPT, {"platform": "I386", "Folders": "D:\\SMSPKG", "WaitSeconds": "30"})
    assert bound == {"Platform": "I386", "Name": "", "Namespace": "", "Required": "x", "WaitSeconds": 30,
                     "Attempts": 3, "Services": ["SMS_EXECUTIVE", "SMS_SITE_BACKUP"], "Items": [],
                     "Force": False, "Folders": ["D:\\SMSPKG"]}


def test_null_to_a_string_parameter_is_an_empty_string():
    # [AllowNull()] does not keep $null in a [string]: the script's "$null -eq $X" never fires.
    bound = bind(SCRIPT, {"Platform": "alpha", "Folders": ["D:\\"], "Name": None, "Namespace": None})
    assert bound["Name"] == "" and bound["Namespace"] == ""


@pytest.mark.parametrize("parameters, message", [
    ({"Platform": "amd64", "Folders": ["D:\\"]},
     "Cannot validate argument on parameter 'Platform'. The argument \"amd64\" does not belong to the set "
     "\"i386,alpha\" specified by the ValidateSet attribute."),
    ({"Platform": "i386", "Folders": ["D:\\"], "IdPattern": "x"},
     "A parameter cannot be found that matches parameter name 'IdPattern'."),
    ({"Folders": ["D:\\"]}, "Cannot process command because of one or more missing mandatory parameters: Platform."),
    ({"Platform": None, "Folders": ["D:\\"]}, "Cannot bind argument to parameter 'Platform' because it is an empty string."),
    ({"Platform": "i386", "Folders": []}, "Cannot bind argument to parameter 'Folders' because it is an empty array."),
    ({"Platform": "i386", "Folders": None}, "Cannot bind argument to parameter 'Folders' because it is null."),
    ({"Platform": "i386", "Folders": ["D:\\"], "WaitSeconds": "soon"},
     "Cannot convert value \"soon\" to type \"System.Int32\"."),
    ({"Platform": "i386", "Folders": ["D:\\"], "WaitSeconds": 2 ** 31}, "too large or too small for an Int32"),
    ({"Platform": "i386", "Folders": ["D:\\"], "Attempts": 0}, "The 0 argument is less than the minimum allowed range of 1."),
    ({"Platform": "i386", "Folders": ["D:\\"], "Required": ""}, "The argument is null or empty."),
    ({"Platform": "i386", "Folders": ["D:\\"], "Items": ["D:\\x"]}, "to type \"System.Collections.Hashtable\""),
    ({"Platform": "i386", "Folders": ["D:\\"], "Force": "yes"}, "Boolean parameters accept only Boolean values"),
    ({"Platform": "i386", "Folders": ["D:\\"], "Na": "x"},
     "the parameter name 'Na' is ambiguous. Possible matches include: -Name -Namespace."),
])
def test_what_powershell_refuses_is_refused_with_its_message(parameters, message):
    with pytest.raises(BindingError) as caught:
        bind(SCRIPT, parameters)
    assert message in str(caught.value)
    assert isinstance(caught.value, ScriptError)          # win_powershell reports it as the script's failure


def test_common_parameters_and_unique_prefixes_are_accepted():
    bound = bind(SCRIPT, {"Platform": "i386", "Folders": ["D:\\"], "WhatIf": True, "Confirm": False,
                          "Verbose": True, "Wait": 5})
    assert bound["WaitSeconds"] == 5


@pytest.mark.parametrize("marker", ["probe", "compressed_package", "hotfix_transaction"])
def test_every_collection_script_block_is_readable(marker):
    block = param_block(repo_script_text(marker))
    assert block.should_process and block.names()
    bind(repo_script_text(marker), {spec.name: "C:\\x" if spec.type == "string" else ["C:\\x"]
                                    for spec in block.params if spec.mandatory and spec.validate_set is None}
         | {spec.name: spec.validate_set[0] for spec in block.params if spec.validate_set})


# ---- .NET regexes ---------------------------------------------------------------------------------
@pytest.mark.parametrize("pattern, reason", [
    (r"^(?P<id>[A-Za-z0-9]{3}[0-9A-Fa-f]{5})\.PCK$", "Unrecognized grouping construct."),
    (r"(?<id>a)(?P=id)", "Unrecognized grouping construct."),
    (r"(?a)abc", "Unrecognized grouping construct."),
    (r"a*+", "Nested quantifier +."),
    (r"a{2}*", "Nested quantifier *."),
    (r"*a", "Quantifier {x,y} following nothing."),
    (r"(a", "Not enough )'s."),
    (r"a)", "Too many )'s."),
    (r"\U0001F600", "Unrecognized escape sequence \\U."),
    (r"\N{BULLET}", "Unrecognized escape sequence \\N."),
    (r"[a-", "Unterminated [] set."),
    (r"(?#never closed", "Unterminated (?#...) comment."),
])
def test_dotnet_refuses_python_only_syntax_with_its_message(pattern, reason):
    with pytest.raises(DotnetRegexError) as caught:
        compile_dotnet(pattern)
    assert str(caught.value) == f'parsing "{pattern}" - {reason}'


def test_dotnet_semantics_of_what_both_accept():
    assert compile_dotnet(r"(?<id>\w{3})-\k<id>").fullmatch("abc-abc").group("id") == "abc"
    assert compile_dotnet(r"(?'id'\w)\k'id'").fullmatch("aa")
    # .NET \Z allows a final newline, \z does not; Python's \Z is .NET's \z.
    assert compile_dotnet(r"PCK\Z").search("61000012.PCK\n") and not compile_dotnet(r"PCK\z").search("61000012.PCK\n")
    assert compile_dotnet(r"a(?#a comment)b").fullmatch("ab")
    assert compile_dotnet(r"\e").fullmatch("\x1b")
    assert compile_dotnet(r"[[x]").fullmatch("[")
    assert compile_dotnet("deleted the package", ignore_case=True).search("DELETED THE PACKAGE")
    assert compile_dotnet(r"(?>a+)b").fullmatch("aab") and compile_dotnet(r"a+?b").fullmatch("aab")


def test_controller_translation_is_accepted_by_dotnet():
    from importlib.util import module_from_spec, spec_from_file_location
    spec = spec_from_file_location("host_regex", REPO / "plugins" / "module_utils" / "host_regex.py")
    host_regex = module_from_spec(spec)
    spec.loader.exec_module(host_regex)
    python = r"^(?P<id>[A-Za-z0-9]{3}[0-9A-Fa-f]{5})\.PCK\Z"
    translated = compile_dotnet(host_regex.to_dotnet(python))
    assert translated.fullmatch("61000012.PCK").group("id") == "61000012"
    assert not translated.search("61000012.PCK\n") and re.compile(python).search("61000012.PCK\n") is None


def test_valid_dotnet_the_lab_does_not_simulate_fails_loudly():
    for pattern in (r"\p{Lu}", r"(?<a-b>x)", r"[a-z-[aeiou]]"):
        with pytest.raises(LabUnsupported):
            compile_dotnet(pattern)
