# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The controller libraries the msrpc transport needs (pinned in requirements.txt and the EE) (private to this collection)."""

from __future__ import annotations

import importlib

LIBRARIES = ("impacket", "pefile")


def missing() -> str | None:
    """None when every library imports; else a sentence naming what is missing and how to get it."""
    absent = []
    for name in LIBRARIES:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            absent.append(f"{name} ({exc})")
    if not absent:
        return None
    return (f"the msrpc transport needs {', '.join(absent)} on the controller: install the collection's "
            "requirements.txt (pip install impacket pefile) into the Python that runs ansible")
