# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The scripts' regex parameters applied on the controller, with the scripts' semantics (private to this collection).

The parameters carry .NET syntax (``host_regex.to_dotnet`` made them from the controller's Python
patterns); this is the way back, so the msrpc path applies the ORIGINAL Python pattern. PowerShell's
``-match`` and the probe's ``[regex]::new(p, 'IgnoreCase, CultureInvariant')`` are case-insensitive
searches (not anchored unless the pattern is): ``compile_script_regex`` gives the same."""

from __future__ import annotations

import re

_TOKEN = re.compile(r"\\k<(\w+)>|\\.|\(\?<(\w+)>|\(\?'(\w+)'|[^\\(]+|\(", re.DOTALL)


def from_dotnet(pattern: str) -> str:
    """Undo ``host_regex.to_dotnet``: ``(?<n>`` -> ``(?P<n>``, ``\\k<n>`` -> ``(?P=n)``, ``\\z`` -> ``\\Z``.

    A pattern already in Python syntax passes unchanged; look-behinds ``(?<=`` / ``(?<!`` are kept."""
    out = []
    for match in _TOKEN.finditer(pattern):
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


def compile_script_regex(pattern: str) -> re.Pattern:
    """The parameter as the host script would apply it (case-insensitive search); re.error when invalid."""
    return re.compile(from_dotnet(pattern), re.IGNORECASE)
