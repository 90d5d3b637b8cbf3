# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The error a step raises (private to this collection)."""

from __future__ import annotations


class StepError(Exception):
    """A step that could not be carried out. ``str()`` starts with the host; ``result`` keeps what the
    host answered (services, steps of the transaction); ``changed`` is True when the step got as far as
    changing the host before it failed."""

    def __init__(self, message: str, result: dict | None = None, changed: bool = False):
        super().__init__(message)
        self.message = message
        self.result = result or {}
        self.changed = changed
