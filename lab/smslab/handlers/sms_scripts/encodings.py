"""How the probe decodes a log: its Get-LogEncoding, and the host's ANSI code page.

SMS 2.0 writes logs in the system's ANSI code page without a byte order mark. Windows PowerShell 5.1's
``[Text.Encoding]::Default`` is that code page (``HKLM\\SYSTEM\\CurrentControlSet\\Control\\Nls\\CodePage``
value ``ACP``; 1252 on a Western European/US system, which the lab assumes when the host has no value).
"""

from __future__ import annotations

import codecs

CODE_PAGE_KEY = "HKLM\\SYSTEM\\CurrentControlSet\\Control\\Nls\\CodePage"
DEFAULT_ACP = "1252"
ANSI_ERRORS = "smslab-ansi"


def _best_fit(error: UnicodeDecodeError):
    # Windows maps the bytes a single-byte code page leaves undefined (0x81 in 1252) to U+0081 and so
    # on, where Python's codec fails: do the same.
    return "".join(chr(b) for b in error.object[error.start:error.end]), error.end


codecs.register_error(ANSI_ERRORS, _best_fit)


def ansi_codec(state) -> str:
    """The Python codec of the host's ANSI code page."""
    values = state.registry_key(CODE_PAGE_KEY) or {}
    acp = next((str(v) for k, v in values.items() if k.lower() == "acp"), DEFAULT_ACP)
    name = f"cp{acp}"
    try:
        codecs.lookup(name)
    except LookupError:
        raise ValueError(f"lab: the host's ANSI code page {acp} has no Python codec") from None
    return name


def log_encoding(head: bytes, ansi: str) -> str:
    """The script's Get-LogEncoding over the first (up to 4096) bytes of a log: a Python codec name."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8"
    if head.startswith(codecs.BOM_UTF16_LE):
        return "utf-16-le"
    if head.startswith(codecs.BOM_UTF16_BE):
        return "utf-16-be"
    pairs = len(head) // 2
    even_zeros = head[0:pairs * 2:2].count(0)
    odd_zeros = head[1:pairs * 2:2].count(0)
    if pairs and odd_zeros * 2 >= pairs and even_zeros * 10 < pairs:
        return "utf-16-le"
    if pairs and even_zeros * 2 >= pairs and odd_zeros * 10 < pairs:
        return "utf-16-be"
    return ansi
