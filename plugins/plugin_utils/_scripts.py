# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The text of a collection script as it is sent to a host (private to this collection): the script with the
shared prelude (``powershell/_prelude.ps1``) put in place of its ``# sms.remediation:prelude`` line.

The prelude cannot go in front: PowerShell allows only comments before a script's ``param()``, and the
script's first line is its marker (``# sms.remediation:<name> v1``), which the lab dispatches on.
"""

from __future__ import annotations

import functools
import os

SCRIPT_DIR = os.path.join(os.path.dirname(__file__), "powershell")
PRELUDE_NAME = "_prelude"
PRELUDE_LINE = "# sms.remediation:prelude"


class ScriptAssemblyError(ValueError):
    """A collection script without exactly one prelude line (a defect of the collection)."""


def _read(name: str) -> str:
    with open(os.path.join(SCRIPT_DIR, f"{name}.ps1"), encoding="utf-8") as handle:
        return handle.read()


@functools.lru_cache(maxsize=None)
def script_text(name: str) -> str:
    """Script ``name`` (e.g. ``sms_probe``) as sent: the prelude in place of its prelude line."""
    return with_prelude(_read(name), f"{name}.ps1")


def with_prelude(text: str, what: str = "script") -> str:
    """``text`` with the prelude in place of its one prelude line (ScriptAssemblyError otherwise)."""
    lines = text.splitlines(keepends=True)
    spots = [index for index, line in enumerate(lines) if line.startswith(PRELUDE_LINE)]
    if len(spots) != 1:
        raise ScriptAssemblyError(f"{what} must have exactly one line {PRELUDE_LINE!r} after param(), "
                                  f"found {len(spots)}")
    prelude = _read(PRELUDE_NAME)
    if not prelude.endswith("\n"):
        prelude += "\n"
    return "".join(lines[:spots[0]]) + prelude + "".join(lines[spots[0] + 1:])


def script_names() -> list[str]:
    """Every collection script (the prelude is not one)."""
    return sorted(entry[:-4] for entry in os.listdir(SCRIPT_DIR)
                  if entry.endswith(".ps1") and not entry.startswith("_"))


def _ps_literal(value) -> str:
    """A PowerShell literal for a str, int or bool parameter value."""
    if isinstance(value, bool):
        return "$true" if value else "$false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    raise TypeError(f"a standalone script parameter must be str, int or bool, not {type(value).__name__}")


def standalone_command(name: str, parameters: dict) -> str:
    """Script ``name`` run by itself, not through win_powershell (pywinrm's ``run_ps``: one -EncodedCommand):
    the text as sent, called as a script block with ``parameters``; with no ``$Ansible`` it prints its result
    as JSON (the prelude's standalone mode). The lab reads this form back (``smslab.remote_command``)."""
    arguments = " ".join(f"-{key}:{_ps_literal(value)}" for key, value in parameters.items())
    return f"& {{\n{script_text(name)}\n}} {arguments}\n"
