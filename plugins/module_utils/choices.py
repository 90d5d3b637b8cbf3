# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The choices a user makes, each defined once: the code reads them from here, and a unit test
(tests/unit/plugins/module_utils/test_choices.py) checks the role's argument spec and every module's
DOCUMENTATION against them, so the docs cannot offer a value the code does not know."""

from __future__ import annotations

__all__ = ["EVIDENCE_LEVELS", "HOTFIXING_POLICIES", "HOTFIX_METHODS", "PACKAGE_STATES", "POLICIES",
           "REMOVING_POLICIES", "TRANSPORTS", "WORKAROUND_STATES"]

# What a run does (decision.plan): report changes nothing, workaround removes leftovers, hotfix
# applies the hotfix, auto does both.
POLICIES = ("auto", "report", "workaround", "hotfix")
REMOVING_POLICIES = ("auto", "workaround")
HOTFIXING_POLICIES = ("auto", "hotfix")

# Evidence that a .PCK is a leftover, strongest first (leftovers.classify).
EVIDENCE_LEVELS = ("log_and_origin", "origin", "log", "absent_here")

# KB Q244405 "Method 1: Using the Hotfix Installer" (I386 only) and "Method 2: Manual Installation".
HOTFIX_METHODS = ("installer", "manual")

# What the workaround does with a confirmed leftover; compressed_package can also put one back.
WORKAROUND_STATES = ("absent", "quarantined")
PACKAGE_STATES = WORKAROUND_STATES + ("restored",)

# How the controller reaches a site server (host variable q244405_transport; plugin_utils/_transport).
TRANSPORTS = ("winrm", "msrpc")
