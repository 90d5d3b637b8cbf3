"""SMS 2.0 package IDs (3-char site code + 5 hex digits) and ``<ID>.PCK`` file names."""
from __future__ import annotations

import re

__all__ = [
    "PackageIdError",
    "package_id_from_file_name",
    "site_code_of",
    "validate_package_id",
]

_ID_LENGTH = 8
_SITE_CODE_RE = re.compile(r"[A-Z0-9]{3}")
_SERIAL_RE = re.compile(r"[0-9A-F]{5}")
# An 8.3 name Windows made up for a long one (BASE~N.EXT): it cannot tell which package a file holds.
SHORT_NAME_RE = re.compile(r"~\d+(\.[^.]{0,3})?$")
_DEVICE_NAMES = frozenset(
    ["CON", "PRN", "AUX", "NUL"]
    + [f"COM{i}" for i in range(1, 10)]
    + [f"LPT{i}" for i in range(1, 10)]
)
_DEFAULT_FILE_PATTERN = r"^(?P<id>[A-Za-z0-9]{3}[0-9A-Fa-f]{5})\.PCK$"


class PackageIdError(ValueError):
    """A package ID or a compressed package file name is invalid."""


def validate_package_id(text: str) -> str:
    """Return the package ID in upper case, or raise PackageIdError with the precise reason."""
    if not isinstance(text, str):
        raise PackageIdError(f"package ID {text!r}: expected a string, got {type(text).__name__}")
    if not text.isascii():
        bad = next(ch for ch in text if not ch.isascii())
        raise PackageIdError(
            f"package ID {text!r}: contains the non-ASCII character {bad!r} (U+{ord(bad):04X}); "
            "look-alike characters are refused"
        )
    if any(ch in text for ch in "\\/:"):
        raise PackageIdError(f"package ID {text!r}: contains a path separator")
    if any(ch.isspace() for ch in text):
        raise PackageIdError(f"package ID {text!r}: contains whitespace")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        raise PackageIdError(f"package ID {text!r}: contains a control character")
    if len(text) != _ID_LENGTH:
        raise PackageIdError(
            f"package ID {text!r}: wrong length {len(text)}, expected {_ID_LENGTH} "
            "(3-character site code + 5 hex digits)"
        )
    upper = text.upper()
    if not _SITE_CODE_RE.fullmatch(upper[:3]):
        raise PackageIdError(
            f"package ID {text!r}: site code {text[:3]!r} must be 3 letters or digits"
        )
    if not _SERIAL_RE.fullmatch(upper[3:]):
        raise PackageIdError(
            f"package ID {text!r}: suffix {text[3:]!r} must be 5 hexadecimal digits"
        )
    return upper


def site_code_of(package_id: str) -> str:
    """Return the site code (first 3 characters, upper case) of a valid package ID."""
    return validate_package_id(package_id)[:3]


def package_id_from_file_name(name: str, pattern: str | None = None) -> str:
    """Return the package ID of a file named exactly ``<ID>.PCK`` (extension case-insensitive).

    ``pattern`` is the table's ``package_file_pattern`` (with a ``(?P<id>...)`` group),
    matched case-insensitively. Raises PackageIdError with the reason otherwise.
    """
    if not isinstance(name, str):
        raise PackageIdError(f"file name {name!r}: expected a string, got {type(name).__name__}")
    if not name:
        raise PackageIdError("file name '': empty")
    if not name.isascii():
        bad = next(ch for ch in name if not ch.isascii())
        raise PackageIdError(
            f"file name {name!r}: contains the non-ASCII character {bad!r} (U+{ord(bad):04X})"
        )
    if ".." in name:
        raise PackageIdError(f"file name {name!r}: contains '..' (path traversal)")
    for sep in ("\\", "/", ":"):
        if sep in name:
            raise PackageIdError(f"file name {name!r}: contains the path character {sep!r}")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        raise PackageIdError(f"file name {name!r}: contains a control character")
    if name != name.strip():
        raise PackageIdError(f"file name {name!r}: leading or trailing whitespace")
    if name.endswith("."):
        raise PackageIdError(f"file name {name!r}: trailing dot (Windows strips it)")
    stem, dot, ext = name.partition(".")
    base = stem.rstrip(" ").upper()
    if base in _DEVICE_NAMES:
        raise PackageIdError(f"file name {name!r}: {base} is a reserved device name")
    if stem != stem.rstrip(" "):
        raise PackageIdError(f"file name {name!r}: space before the extension")
    if any(ch.isspace() for ch in name):
        raise PackageIdError(f"file name {name!r}: contains whitespace")
    if not dot:
        raise PackageIdError(f"file name {name!r}: no extension, expected <PackageID>.PCK")
    if ext.upper() != "PCK":
        raise PackageIdError(f"file name {name!r}: wrong extension {'.' + ext!r}, expected .PCK")
    # Reason-giving check of the ID part first, then the (possibly user-set) pattern.
    try:
        package_id = validate_package_id(stem)
    except PackageIdError as exc:
        raise PackageIdError(f"file name {name!r}: {exc}") from None
    regex = re.compile(pattern or _DEFAULT_FILE_PATTERN, re.IGNORECASE)
    match = regex.fullmatch(name)
    if match is None:
        raise PackageIdError(f"file name {name!r}: does not match the package file pattern {regex.pattern!r}")
    try:
        matched = match.group("id")
    except IndexError:
        raise PackageIdError(
            f"file name {name!r}: the package file pattern {regex.pattern!r} has no (?P<id>...) group"
        ) from None
    if matched.upper() != package_id:
        raise PackageIdError(
            f"file name {name!r}: the pattern's id group {matched!r} is not the file's stem {stem!r}"
        )
    return package_id
