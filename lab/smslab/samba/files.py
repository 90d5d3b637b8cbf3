"""Big generated logs as real files, for hosts served over SMB.

A scenario's ``log_shared`` log is the host's own part (``fs/...``) followed by a part shared by
every host (``generated_files`` in host.json); HostState joins them for the WinRM twins, but smbd
serves only real files. Before a Samba host starts, each such file becomes one real file (own part
+ shared part, same modification time) and leaves ``generated_files``: both transports then see the
same bytes.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from smslab.samba.services import locked_state


def materialise_generated_files(host_root: Path) -> list[str]:
    """Append each generated file's shared part to its own part; return the Windows paths done."""
    done = []
    with locked_state(host_root) as state:
        files = state.data.get("generated_files") or {}
        for windows_path, spec in list(files.items()):
            local = state.local_path(windows_path, must_exist=True)
            shared = state.shared_root / spec["append"]
            times = os.stat(local)
            with open(local, "ab") as target, open(shared, "rb") as source:
                shutil.copyfileobj(source, target, 1 << 20)
            os.utime(local, ns=(times.st_atime_ns, times.st_mtime_ns))
            del files[windows_path]
            done.append(windows_path)
        if done:
            if not files:
                state.data.pop("generated_files", None)
            state.save()
    return done
