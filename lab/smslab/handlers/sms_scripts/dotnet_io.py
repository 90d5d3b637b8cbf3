"""The .NET file calls of the scripts, over a HostState, failing where .NET fails.

A twin calls these where its script calls ``[System.IO.File]::...``, passing what the script passes:
``None`` for ``[NullString]::Value`` and ``""`` for a PowerShell ``$null`` given to a string argument
(PowerShell converts ``$null`` to ``""`` for a .NET ``string`` parameter), so the lab fails as Windows does.
"""

from __future__ import annotations

from smslab.state import HostState


class DotnetException(Exception):
    """An exception a .NET call throws; ``str()`` is its message (what Get-InnermostException reports)."""


NOT_LEGAL_FORM = "The path is not of a legal form."          # Path.GetFullPath(""), .NET Framework 4.x


def _check_path(path: str | None, argument: str) -> None:
    if path is None:
        raise DotnetException(f"Value cannot be null.\r\nParameter name: {argument}")
    if not path.strip():
        raise DotnetException(NOT_LEGAL_FORM)


def file_replace(state: HostState, source: str, destination: str, backup: str | None) -> None:
    """``[IO.File]::Replace(source, destination, backup)``: ``backup`` None keeps no backup; an empty
    backup path throws (it is not "no backup")."""
    _check_path(source, "sourceFileName")
    _check_path(destination, "destinationFileName")
    if backup is not None:
        _check_path(backup, "destinationBackupFileName")
    if not state.local_path(source).is_file():
        raise DotnetException(f"Could not find file '{source}'.")
    if not state.local_path(destination).is_file():
        raise DotnetException("Unable to find the specified file.")
    if backup is not None:
        state.write_bytes(backup, state.read_bytes(destination))
    state.remove(destination)
    state.move(source, destination)
