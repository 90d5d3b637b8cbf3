from __future__ import annotations

import pytest

from ansible_collections.sms.remediation.plugins.module_utils.package_ids import (
    PackageIdError,
    package_id_from_file_name,
    site_code_of,
    validate_package_id,
)
from ansible_collections.sms.remediation.plugins.module_utils.sms20 import DEFAULTS

PATTERN = DEFAULTS["package_file_pattern"]


@pytest.mark.parametrize(
    "text, expected",
    [("61000012", "61000012"), ("BD100007", "BD100007"), ("sr30002f", "SR30002F"),
     ("AUS0001B", "AUS0001B"), ("TTG00001", "TTG00001")],
)
def test_validate_ok(text, expected):
    assert validate_package_id(text) == expected


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("6100001", "wrong length 7, expected 8"),
        ("610000123", "wrong length 9, expected 8"),
        ("", "wrong length 0"),
        ("6100001G", "suffix '0001G' must be 5 hexadecimal digits"),
        ("61-00012", "site code '61-' must be 3 letters or digits"),
        ("610 0012", "contains whitespace"),
        (" 61000012", "contains whitespace"),
        ("610\\0012", "contains a path separator"),
        ("610/0012", "contains a path separator"),
        ("\uff16\uff11\uff10\uff10\uff10\uff10\uff11\uff12", "non-ASCII character '６' (U+FF16)"),
        ("61000O12\u0301", "non-ASCII"),
        ("6100\x0012", "control character"),
        (61000012, "expected a string, got int"),
    ],
)
def test_validate_refused(text, fragment):
    with pytest.raises(PackageIdError) as exc:
        validate_package_id(text)
    assert fragment in str(exc.value)


def test_site_code_of():
    assert site_code_of("61000012") == "610"
    assert site_code_of("sr30002f") == "SR3"
    with pytest.raises(PackageIdError, match="wrong length"):
        site_code_of("610")


@pytest.mark.parametrize(
    "name, expected",
    [("61000012.PCK", "61000012"), ("bd100007.pck", "BD100007"), ("SR30002F.Pck", "SR30002F")],
)
def test_file_name_ok(name, expected):
    assert package_id_from_file_name(name, PATTERN) == expected
    assert package_id_from_file_name(name) == expected


@pytest.mark.parametrize(
    "name, fragment",
    [
        ("..\\x.PCK", "contains '..' (path traversal)"),
        ("..", "contains '..'"),
        ("sub\\61000012.PCK", "contains the path character '\\\\'"),
        ("sub/61000012.PCK", "contains the path character '/'"),
        ("D:61000012.PCK", "contains the path character ':'"),
        ("61000012.PCK:stream", "contains the path character ':'"),
        ("6100001 .PCK", "space before the extension"),
        ("61000012 .PCK", "space before the extension"),
        ("CON.PCK", "CON is a reserved device name"),
        ("con", "CON is a reserved device name"),
        ("LPT1.PCK", "LPT1 is a reserved device name"),
        ("COM9.txt", "COM9 is a reserved device name"),
        ("NUL .PCK", "NUL is a reserved device name"),
        ("61000012.PCK.", "trailing dot"),
        ("61000012.PCK ", "leading or trailing whitespace"),
        (" 61000012.PCK", "leading or trailing whitespace"),
        ("\uff16\uff11\uff10\uff10\uff10\uff10\uff11\uff12.PCK", "non-ASCII character '６' (U+FF16)"),
        ("61000012.\uff30CK", "non-ASCII character"),
        ("61000012.PKG", "wrong extension '.PKG', expected .PCK"),
        ("61000012.PCK.bak", "wrong extension '.PCK.bak'"),
        ("61000012", "no extension"),
        ("6100012.PCK", "wrong length 7, expected 8"),
        ("2_4O7PRI.PCK", "site code '2_4' must be 3 letters or digits"),  # a Sender file
        ("6100001G.PCK", "must be 5 hexadecimal digits"),
        ("", "empty"),
        ("6100\t0012.PCK", "control character"),
    ],
)
def test_file_name_refused(name, fragment):
    with pytest.raises(PackageIdError) as exc:
        package_id_from_file_name(name, PATTERN)
    assert fragment in str(exc.value)
    assert repr(name) in str(exc.value) or name == ""


def test_file_name_custom_pattern():
    pattern = r"^(?P<id>610[0-9A-F]{5})\.PCK$"
    assert package_id_from_file_name("61000012.PCK", pattern) == "61000012"
    with pytest.raises(PackageIdError, match="does not match the package file pattern"):
        package_id_from_file_name("BD100007.PCK", pattern)
