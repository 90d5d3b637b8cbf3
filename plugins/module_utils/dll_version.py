# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The file version of a DLL on the controller, from the ``VS_FIXEDFILEINFO`` block of its version
resource (the four numbers Explorer shows as "File version"). Used to tell which SMS build a hotfix
``Distmgr.dll`` belongs to before it is sent anywhere."""

from __future__ import annotations

import struct

__all__ = ["fixed_file_version"]

# VS_FIXEDFILEINFO.dwSignature, then dwStrucVersion 0x00010000 (winver.h)
_SIGNATURE = struct.pack("<I", 0xFEEF04BD)
_STRUCT_VERSION = 0x00010000


def fixed_file_version(data: bytes) -> str | None:
    """``major.minor.build.revision`` (SMS style: ``2.00.1380.1083``) of the first valid VS_FIXEDFILEINFO
    in ``data`` (DWORD aligned, as the resource compiler writes it); None when there is none."""
    start = data.find(_SIGNATURE)
    while start != -1:
        if start % 4 == 0 and start + 16 <= len(data):
            struct_version, most, least = struct.unpack_from("<III", data, start + 4)
            if struct_version == _STRUCT_VERSION:
                return f"{most >> 16}.{most & 0xFFFF:02d}.{least >> 16}.{least & 0xFFFF:04d}"
        start = data.find(_SIGNATURE, start + 1)
    return None
