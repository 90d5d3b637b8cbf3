# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The file version of a DLL from its PE version resource, read with ``pefile`` from as few bytes as it needs (private to this collection).

``file_version(read_at)`` asks ``read_at(offset, length)`` for the headers first, then for the section
that holds the resource directory, and nothing else; it gives the ``FileVersion`` string of the
``StringFileInfo`` block, as ``[System.Diagnostics.FileVersionInfo]::GetVersionInfo(path).FileVersion``
does on the host (no resource, no string, or not a PE image: None, as there)."""

from __future__ import annotations

import struct
from typing import Callable

try:
    import pefile
except ImportError:  # deps.missing() names it before any use (ansible-test imports this file without it)
    pefile = None

HEAD_BYTES = 4096                  # the DOS stub, PE header and section table of any ordinary DLL
MAX_HEADER_BYTES = 64 * 1024
MAX_RESOURCE_BYTES = 16 * 1024 * 1024
_RESOURCE = 2                      # IMAGE_DIRECTORY_ENTRY_RESOURCE (PE/COFF 3.4.3)


class NotPeImage(ValueError):
    """The bytes are not a PE image (pefile's own words in the message)."""


def _headers(read_at: Callable[[int, int], bytes]) -> bytes:
    head = read_at(0, HEAD_BYTES)
    if len(head) < 64 or head[:2] != b"MZ":
        raise NotPeImage("no MZ header")
    (e_lfanew,) = struct.unpack_from("<I", head, 0x3C)
    if e_lfanew > MAX_HEADER_BYTES:
        raise NotPeImage(f"e_lfanew {e_lfanew} is past {MAX_HEADER_BYTES} bytes")
    need = e_lfanew + 24
    if len(head) >= need:
        sections, optional = struct.unpack_from("<H12xH", head, e_lfanew + 6)
        need = e_lfanew + 24 + optional + 40 * sections
    if need > len(head):
        if need > MAX_HEADER_BYTES:
            raise NotPeImage(f"the headers end past {MAX_HEADER_BYTES} bytes")
        head += read_at(len(head), need - len(head))
    return head


def file_version(read_at: Callable[[int, int], bytes]) -> str | None:
    """The FileVersion string (trimmed), None when there is no version resource; NotPeImage otherwise."""
    head = _headers(read_at)
    try:
        pe = pefile.PE(data=head, fast_load=True)
    except pefile.PEFormatError as exc:
        raise NotPeImage(exc.value) from None
    directory = pe.OPTIONAL_HEADER.DATA_DIRECTORY[_RESOURCE]
    if not directory.VirtualAddress or not directory.Size:
        return None
    section = pe.get_section_by_rva(directory.VirtualAddress)
    if section is None:
        return None
    start, size = section.PointerToRawData, section.SizeOfRawData
    if size > MAX_RESOURCE_BYTES:
        raise NotPeImage(f"resource section of {size} bytes is larger than {MAX_RESOURCE_BYTES}")
    # A sparse image: the headers and the resource section at their file offsets, zeros between.
    image = bytearray(max(len(head), start + size))
    image[:len(head)] = head
    image[start:start + size] = read_at(start, size).ljust(size, b"\x00")
    pe = pefile.PE(data=bytes(image), fast_load=True)
    pe.parse_data_directories(directories=[_RESOURCE])
    for info in getattr(pe, "FileInfo", None) or []:
        for block in info:
            for table in getattr(block, "StringTable", None) or []:
                value = table.entries.get(b"FileVersion")
                if value is not None:
                    text = value.decode("utf-8", "replace").strip().rstrip("\x00").strip()
                    return text or None
    return None


def file_version_of_bytes(data: bytes) -> str | None:
    """``file_version`` over bytes already in memory; None for anything that is not a PE image."""
    try:
        return file_version(lambda offset, length: data[offset:offset + length])
    except NotPeImage:
        return None
