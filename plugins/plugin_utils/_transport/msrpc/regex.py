# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The scripts' regex parameters applied on the controller, with the scripts' semantics (private to this collection).

The parameters carry .NET syntax (``host_regex.to_dotnet`` made them from the controller's Python
patterns); ``host_regex.from_dotnet`` is the way back, so the msrpc path applies the ORIGINAL Python pattern.
PowerShell's ``-match`` and the probe's ``[regex]::new(p, 'IgnoreCase, CultureInvariant')`` are case-insensitive
searches (not anchored unless the pattern is): ``compile_script_regex`` gives the same."""

from __future__ import annotations

import re

from ansible_collections.sms.remediation.plugins.module_utils.host_regex import from_dotnet


def compile_script_regex(pattern: str) -> re.Pattern:
    """The parameter as the host script would apply it (case-insensitive search); re.error when invalid."""
    return re.compile(from_dotnet(pattern), re.IGNORECASE)
