# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The msrpc transport and every library module it uses, loaded once in the controller's main process
(private to this collection).

Ansible forks one worker per host task from its main process, which has imported the action plugins (and
with them ``_transport``) before it forks. A module loaded there is inherited by every worker; one first
loaded in a worker is loaded again for each host: impacket, its DCOM/WMI client and Cryptodome's cipher
modes cost about 0.2 s of CPU per host that way (measured: ``benchmarks/RESULTS.md``, msrpc section).
Without impacket or pefile nothing is loaded here; a host that uses msrpc then gets the clear error of
``deps.missing()``. A controller without msrpc hosts pays the load once per run. impacket's structure
expressions are compiled once from here on (``impacket_speedups``; pinned to impacket 0.13.1)."""

from __future__ import annotations

import importlib

PACKAGE = __name__.rsplit(".", 1)[0]
MODULES = (
    f"{PACKAGE}.transport", f"{PACKAGE}.wmi",
    "impacket.dcerpc.v5.dcom.wmi", "impacket.dcerpc.v5.dcomrt", "impacket.dcerpc.v5.srvs", "pefile",
    # loaded by Cryptodome on the first NTLM / SMB 3 signing or sealing, each parsing C declarations with cffi
    "Cryptodome.Cipher._mode_ecb", "Cryptodome.Cipher._mode_cbc", "Cryptodome.Cipher._mode_ctr",
    "Cryptodome.Cipher._mode_ccm", "Cryptodome.Hash.SHA512",
)


def preload() -> bool:
    """Load MODULES and the log filter's table for the usual code page; False when a library is missing."""
    try:
        for name in MODULES:
            importlib.import_module(name)
    except ImportError:
        return False
    importlib.import_module(f"{PACKAGE}.impacket_speedups").apply()     # before the forks, like the modules
    log_reader = importlib.import_module(f"{PACKAGE}.log_reader")
    word_search = importlib.import_module(f"{PACKAGE}.word_search")
    word_search.fold_table("cp1252", log_reader.BEST_FIT)
    word_search.fold_table("ascii", "replace")
    return True
