"""The collection's three PowerShell scripts, simulated over a HostState, and the Q244405 installer.

Each twin mirrors its script in ``plugins/plugin_utils/powershell/`` step by step and returns
exactly the result of docs/internals.md sections 1-3, computed from the simulated host, so the
controller cannot tell the lab from a real site server. Error messages use the same wording as
the scripts. Check mode (``ctx.check_mode``, i.e. ``-WhatIf``) never changes state or files.

One module per job: ``probe``, ``compressed_package``, ``hotfix`` (the transaction script),
``installer`` (Q244405.exe); ``common`` holds what they share. Importing this package registers
every twin with the handler registries.

Faults read from ``state.faults``: ``wmi_unavailable`` (probe, compressed_package),
``service_wont_stop`` / ``service_wont_start`` (lists of service names) and ``fail_step`` (a
hotfix step name: ``stop:<svc>``, ``backup``, ``swap``, ``verify``, ``start:<svc>``,
``verify_running``, ``log``) for hotfix_transaction and q244405.exe.
"""

from smslab.handlers.sms_scripts import compressed_package, hotfix, installer, probe  # noqa: F401

__all__ = ["compressed_package", "hotfix", "installer", "probe"]
