"""The ansible.windows modules the lab answers, reduced to what the collection and its tests use.

Each handler returns the JSON dict the real module would print (same keys), honours check mode by
changing nothing, and fails loudly when asked for something it does not simulate.

One module per job: ``connection`` (win_ping, setup), ``files`` (win_stat, slurp, win_find, win_file),
``win_copy``, ``services`` (win_service), ``registry`` (win_reg_stat, win_regedit), ``programs``
(win_command, win_package), ``powershell`` (win_powershell); ``common`` holds what they share. Importing
this package registers every twin with the handler registries.
"""

from smslab.handlers.generic import (  # noqa: F401
    connection,
    files,
    powershell,
    programs,
    registry,
    services,
    win_copy,
)

__all__ = ["connection", "files", "powershell", "programs", "registry", "services", "win_copy"]
