# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Regexes sent to a Windows host: the controller's patterns are Python ``re``, the host runs .NET.

Every regex that crosses to a host goes through ``to_dotnet`` (one place): it rewrites the Python-only
spellings into .NET ones and refuses what has no .NET equivalent, naming the construct, instead of
letting the host script throw "Unrecognized grouping construct" on every call. ``from_dotnet`` is the way
back, for the msrpc path, which applies a script parameter on the controller.

| Python            | .NET          |
|-------------------|---------------|
| ``(?P<name>...)`` | ``(?<name>...)`` |
| ``(?P=name)``     | ``\\k<name>``  |
| ``\\Z`` (end)     | ``\\z``        |
"""

from __future__ import annotations

import re

__all__ = ["HostRegexError", "from_dotnet", "to_dotnet"]


class HostRegexError(ValueError):
    """A controller regex that cannot be sent to a Windows host."""


# Python-only constructs with no .NET spelling (checked on the pattern before translation).
_UNSUPPORTED = (
    (re.compile(r"\(\?P>"), "(?P>name) (a recursion call)"),
    (re.compile(r"\\N\{"), r"\N{...} (a named Unicode character)"),
)
_ESCAPE_OR_TOKEN = re.compile(r"\\.|\(\?P<(\w+)>|\(\?P=(\w+)\)|[^\\(]+|\(", re.DOTALL)
_DOTNET_TOKEN = re.compile(r"\\k<(\w+)>|\\.|\(\?<(\w+)>|\(\?'(\w+)'|[^\\(]+|\(", re.DOTALL)


def to_dotnet(pattern: str, what: str = "pattern") -> str:
    """Return ``pattern`` (Python ``re`` syntax) in .NET syntax; raise HostRegexError when impossible."""
    if not isinstance(pattern, str):
        raise HostRegexError(f"{what}: expected a regex string, got {type(pattern).__name__}")
    try:
        re.compile(pattern)
    except re.error as exc:
        raise HostRegexError(f"{what}={pattern!r} is not a valid regex: {exc}") from None
    for construct, label in _UNSUPPORTED:
        if construct.search(pattern):
            raise HostRegexError(f"{what}={pattern!r}: {label} has no .NET equivalent")
    out = []
    for match in _ESCAPE_OR_TOKEN.finditer(pattern):
        token = match.group(0)
        if match.group(1):
            out.append(f"(?<{match.group(1)}>")
        elif match.group(2):
            out.append(f"\\k<{match.group(2)}>")
        elif token == "\\Z":
            # Python's \Z is the very end of the string: .NET's \z (.NET's \Z also allows a final newline).
            out.append("\\z")
        else:
            out.append(token)
    return "".join(out)


def from_dotnet(pattern: str) -> str:
    """Undo ``to_dotnet`` (the msrpc path applies a script parameter on the controller with Python ``re``):
    ``(?<n>`` / ``(?'n'`` -> ``(?P<n>``, ``\\k<n>`` -> ``(?P=n)``, ``\\z`` -> ``\\Z``.

    A pattern already in Python syntax passes unchanged; look-behinds ``(?<=`` / ``(?<!`` are kept."""
    out = []
    for match in _DOTNET_TOKEN.finditer(pattern):
        token = match.group(0)
        if match.group(1):
            out.append(f"(?P={match.group(1)})")
        elif match.group(2) or match.group(3):
            out.append(f"(?P<{match.group(2) or match.group(3)}>")
        elif token == "\\z":
            out.append("\\Z")
        else:
            out.append(token)
    return "".join(out)
