"""host_regex.to_dotnet: the one translation of controller regexes into .NET syntax."""

import pytest

from ansible_collections.sms.remediation.plugins.module_utils import sms20
from ansible_collections.sms.remediation.plugins.module_utils.host_regex import HostRegexError, to_dotnet


@pytest.mark.parametrize("python, dotnet", [
    (r"^(?P<id>[A-Z0-9]{3}[0-9A-F]{5})\.PCK$", r"^(?<id>[A-Z0-9]{3}[0-9A-F]{5})\.PCK$"),
    (r"(?P<a>x)(?P=a)", r"(?<a>x)\k<a>"),
    (r"abc\Z", r"abc\z"),
    (r"\\Z", r"\\Z"),                         # an escaped backslash then Z stays literal
    (r"\(?P<x>", r"\(?P<x>"),                 # an escaped parenthesis is not a group
    (r"(?<=a)b(?<!c)", r"(?<=a)b(?<!c)"),     # look-behinds are the same in both
    ("deleting the package|deleted the package", "deleting the package|deleted the package"),
])
def test_translation(python, dotnet):
    assert to_dotnet(python) == dotnet


def test_invalid_python_regex_is_named():
    with pytest.raises(HostRegexError, match=r"log_pattern='\(' is not a valid regex"):
        to_dotnet("(", "log_pattern")


def test_no_python_only_group_reaches_the_probe():
    parameters = sms20.probe_parameters(sms20.merge_overrides(None))
    for name in ("PackageFilePattern", "LogPattern"):
        assert "(?P" not in parameters[name]
    assert parameters["PackageFilePattern"].startswith("^(?<id>")
