"""The collection's PowerShell scripts, simulated over a HostState, and the Q244405 installer.

Each twin mirrors its script in ``plugins/plugin_utils/powershell/`` step by step and returns
exactly the result of docs/internals.md sections 1-3, computed from the simulated host, so the
controller cannot tell the lab from a real site server. Error messages use the same wording as
the scripts. Check mode (``ctx.check_mode``, i.e. ``-WhatIf``) never changes state or files.

One module per job: ``probe``, ``compressed_package``, ``hierarchy`` (run by itself over WinRM),
``hotfix`` (the transaction script's Apply), ``hotfix_recover`` (its Recover), ``hotfix_transaction`` (its entry),
``installer`` (Q244405.exe); ``common`` holds what they share. Importing this package registers
every twin with the handler registries.

Parameters arrive bound to the script's param() block (``handlers/ps_binding.py``): every declared
parameter is present with PowerShell's value (defaults filled in, ``$null`` strings as ``""``).
Regexes are compiled as .NET compiles them (``handlers/dotnet_regex.py``), .NET file calls go
through ``dotnet_io``, logs are decoded as the probe decodes them (``encodings``).

Faults read from ``state.faults``: ``wmi_unavailable`` (the SMS namespaces: probe, compressed_package),
``wmi_down`` (the whole WMI service: services, console and drive discovery too),
``service_wont_stop`` / ``service_wont_start`` (lists of service names) and ``fail_step`` (a
hotfix step name: ``stop:<svc>``, ``backup``, ``swap``, ``verify``, ``start:<svc>``,
``verify_running``, ``log``) for hotfix_transaction and q244405.exe.
"""

from smslab.handlers.sms_scripts import compressed_package, hierarchy, hotfix, hotfix_transaction, installer, probe  # noqa: F401

__all__ = ["compressed_package", "hierarchy", "hotfix", "hotfix_transaction", "installer", "probe"]
