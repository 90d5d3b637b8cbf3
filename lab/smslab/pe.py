r"""Minimal real PE32 images with a version resource, and a reader of that resource.

``pe_image(version, size, machine)`` builds a DLL that PE tools accept (``pefile``, Windows'
GetFileVersionInfo): DOS header and stub, ``PE\0\0``, COFF header (i386 0x14c or Alpha AXP
0x184), a PE32 optional header, a ``.rsrc`` section with one RT_VERSION resource (language
0x0409) and a ``.text`` section that pads the file to ``size``. The resource is a VS_VERSIONINFO
with VS_FIXEDFILEINFO (the four version words) and a StringFileInfo table 040904B0 whose
``FileVersion`` keeps the SMS spelling (``2.00.1380.1083``), as Explorer and PowerShell's
``VersionInfo.FileVersion`` show it. ``.rsrc`` comes first in the file (legal: sections only need
ascending addresses), so the version lies in the first 2 KB and a reader needs no more.

``version_of(data)`` reads it back through the same structures (optional header -> resource
data directory -> RT_VERSION -> VS_VERSIONINFO -> StringFileInfo ``FileVersion``, else the fixed
words) and returns None when the image has no version resource or a damaged one.

Fault cases: ``version=None`` gives an image without a resource section; ``corrupt=True`` one
whose VS_VERSIONINFO is damaged (bad VS_FIXEDFILEINFO signature, lengths past the end).

Layouts: Microsoft PE/COFF specification (sections 2-3, 6.9 "The .rsrc Section"), VS_VERSIONINFO /
VS_FIXEDFILEINFO / StringFileInfo / VarFileInfo in the Win32 "Version Information" reference.
"""

from __future__ import annotations

import hashlib
import struct

MACHINES = {"i386": 0x014C, "alpha": 0x0184}
FILE_ALIGN, SECTION_ALIGN, IMAGE_BASE = 0x200, 0x1000, 0x10000000
HEADERS_SIZE = 0x200
RT_VERSION, LANGUAGE, CODEPAGE = 16, 0x0409, 0x04B0
FIXED_SIGNATURE = 0xFEEF04BD
TIMESTAMP = 0x38335A80                     # 1999-11-18, an SMS 2.0 SP1-era link time
_DOS_STUB = (b"\x0e\x1f\xba\x0e\x00\xb4\x09\xcd\x21\xb8\x01\x4c\xcd\x21"
             b"This program cannot be run in DOS mode.\r\r\n$").ljust(64, b"\0")


def _align(value: int, unit: int) -> int:
    return (value + unit - 1) // unit * unit


def _pad4(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


def _filler(seed: str, count: int) -> bytes:
    """Deterministic bytes that stand for code (a file of zeros looks truncated to PE tools)."""
    out, counter = [], 0
    while count > 0:
        chunk = hashlib.sha256(f"{seed}|{counter}".encode()).digest()[:count]
        out.append(chunk)
        count -= len(chunk)
        counter += 1
    return b"".join(out)


def _block(key: str, value: bytes, children: bytes = b"", text: bool = False) -> bytes:
    """One version-resource block: wLength, wValueLength, wType, szKey, padding, Value, children.
    wValueLength counts WCHARs for text values, bytes otherwise."""
    head_key = _pad4(struct.pack("<HHH", 0, 0, 0) + (key + "\0").encode("utf-16-le"))
    body = _pad4(head_key + value) + children
    value_length = len(value) // 2 if text else len(value)
    return struct.pack("<HHH", len(body), value_length, 1 if text else 0) + body[6:]


def _version_words(version: str) -> tuple[int, int]:
    parts = [int(p) for p in version.split(".")] + [0, 0, 0, 0]
    return (parts[0] << 16) | parts[1], (parts[2] << 16) | parts[3]


def version_info(version: str, original_name: str = "Distmgr.dll", description: str =
                 "SMS Distribution Manager", corrupt: bool = False) -> bytes:
    """A VS_VERSIONINFO resource for ``version`` (``a.b.c.d``)."""
    major, minor = _version_words(version)
    fixed = struct.pack("<13I", 0x12345678 if corrupt else FIXED_SIGNATURE, 0x00010000, major, minor,
                        major, minor, 0x3F, 0, 0x00040004, 2, 0, 0, 0)   # VOS_NT_WINDOWS32, VFT_DLL
    strings = [("CompanyName", "Microsoft Corporation"), ("FileDescription", description),
               ("FileVersion", version), ("InternalName", original_name.rsplit(".", 1)[0]),
               ("LegalCopyright", "Copyright (C) Microsoft Corp. 1994-1999"),
               ("OriginalFilename", original_name), ("ProductName", "Systems Management Server"),
               ("ProductVersion", version)]
    table = b"".join(_pad4(_block(name, (text + "\0").encode("utf-16-le"), text=True)) for name, text in strings)
    string_file_info = _block("StringFileInfo", b"", _block(f"{LANGUAGE:04X}{CODEPAGE:04X}", b"", table, text=True),
                              text=True)
    var_file_info = _block("VarFileInfo", b"", _block("Translation", struct.pack("<HH", LANGUAGE, CODEPAGE)), text=True)
    info = _block("VS_VERSION_INFO", fixed, _pad4(string_file_info) + var_file_info)
    if corrupt:                           # claims more bytes than the resource has
        info = struct.pack("<H", len(info) + 0x400) + info[2:]
    return info


def _resource_section(data: bytes, rva: int) -> bytes:
    """Type (RT_VERSION) -> name (1) -> language (0x0409) -> data entry -> data."""
    def directory(entry_id: int, target: int, is_dir: bool) -> bytes:
        return struct.pack("<IIHHHH", 0, TIMESTAMP, 4, 0, 0, 1) + struct.pack(
            "<II", entry_id, target | (0x80000000 if is_dir else 0))
    tree = directory(RT_VERSION, 0x18, True) + directory(1, 0x30, True) + directory(LANGUAGE, 0x48, False)
    data_offset = 0x58
    entry = struct.pack("<IIII", rva + data_offset, len(data), 0, 0)
    return tree + entry + data


def pe_image(version: str | None, size: int = 4096, machine: str = "i386", corrupt: bool = False,
             original_name: str = "Distmgr.dll") -> bytes:
    """A PE32 DLL of ``size`` bytes (or the minimum, about 1.5 KB) with a version resource."""
    sections = []                          # (name, raw bytes, characteristics)
    if version is not None:
        rsrc = _resource_section(version_info(version, original_name, corrupt=corrupt), SECTION_ALIGN)
        sections.append((b".rsrc", rsrc, 0x40000040))           # initialised data, readable
    used = HEADERS_SIZE + sum(_align(len(raw), FILE_ALIGN) for _n, raw, _c in sections)
    text_size = max(FILE_ALIGN, (size - used) // FILE_ALIGN * FILE_ALIGN)
    code = b"\xc2\x0c\x00" + _filler(f"{version}|{machine}|{size}", text_size - 3)   # ret 0Ch; then "code"
    sections.append((b".text", code, 0x60000020))
    rva, offset, table, body = SECTION_ALIGN, HEADERS_SIZE, b"", b""
    resource_dir = (0, 0)
    text_rva = 0
    for name, raw, characteristics in sections:
        raw_size = _align(len(raw), FILE_ALIGN)
        table += struct.pack("<8sIIIIIIHHI", name, len(raw), rva, raw_size, offset, 0, 0, 0, 0, characteristics)
        body += raw.ljust(raw_size, b"\0")
        if name == b".rsrc":
            resource_dir = (rva, len(raw))
        else:
            text_rva = rva
        rva += _align(len(raw), SECTION_ALIGN)
        offset += raw_size
    directories = [(0, 0)] * 16
    directories[2] = resource_dir
    optional = struct.pack(
        "<HBBIIIIIIIIIHHHHHHIIIIHHIIIIII", 0x10B, 5, 10, text_size,
        sum(len(r) for n, r, _c in sections if n != b".text"), 0, text_rva, text_rva, SECTION_ALIGN,
        IMAGE_BASE, SECTION_ALIGN, FILE_ALIGN, 4, 0, 2, 0, 4, 0, 0, rva, HEADERS_SIZE, 0, 2, 0,
        0x100000, 0x1000, 0x100000, 0x1000, 0, 16) + b"".join(struct.pack("<II", *d) for d in directories)
    coff = struct.pack("<HHIIIHH", MACHINES[machine], len(sections), TIMESTAMP, 0, 0, len(optional), 0x210E)
    headers = (b"MZ" + struct.pack("<29H", 0x90, 3, 0, 4, 0, 0xFFFF, 0, 0xB8, 0, 0, 0, 0x40, 0,
                                   *([0] * 16)) + struct.pack("<I", 0x80) + _DOS_STUB)
    headers += b"PE\0\0" + coff + optional + table
    image = headers.ljust(HEADERS_SIZE, b"\0") + body
    return image + b"\0" * max(0, size - len(image))          # overlay: the rest up to ``size``


# ---- reading ------------------------------------------------------------------------------------

def _u16(data: bytes, at: int) -> int:
    return struct.unpack_from("<H", data, at)[0]


def _u32(data: bytes, at: int) -> int:
    return struct.unpack_from("<I", data, at)[0]


def _rva_to_offset(data: bytes, sections_at: int, count: int, rva: int) -> int | None:
    for index in range(count):
        at = sections_at + 40 * index
        virtual_size, virtual_address, raw_size, raw_offset = struct.unpack_from("<IIII", data, at + 8)
        if virtual_address <= rva < virtual_address + max(virtual_size, raw_size):
            return raw_offset + rva - virtual_address
    return None


def _first_entry(data: bytes, base: int, directory: int, wanted: int | None) -> int | None:
    named, numbered = _u16(data, directory + 12), _u16(data, directory + 14)
    for index in range(named + numbered):
        entry_id, target = struct.unpack_from("<II", data, directory + 16 + 8 * index)
        if wanted is None or entry_id == wanted:
            return target
    return None


def _children(data: bytes, start: int, end: int):
    """(key, value bytes, value length field, type, children start, block end) of each block."""
    at = start
    while at + 6 <= end:
        length, value_length, kind = struct.unpack_from("<HHH", data, at)
        if length < 6 or at + length > end:
            raise ValueError("version block overruns its parent")
        key_end = at + 6
        while data[key_end:key_end + 2] != b"\0\0":
            key_end += 2
            if key_end >= at + length:
                raise ValueError("version block key has no terminator")
        key = data[at + 6:key_end].decode("utf-16-le")
        value_at = _align(key_end + 2, 4)
        value_bytes = value_length * 2 if kind == 1 else value_length
        yield key, data[value_at:value_at + value_bytes], _align(value_at + value_bytes, 4), at + length
        at = _align(at + length, 4)


def version_of(data: bytes) -> str | None:
    """The file version of a PE image (StringFileInfo FileVersion, else the fixed words); None
    when ``data`` is not a PE image or has no readable version resource."""
    try:
        if data[:2] != b"MZ":
            return None
        pe = _u32(data, 0x3C)
        if data[pe:pe + 4] != b"PE\0\0":
            return None
        count, optional_size = _u16(data, pe + 6), _u16(data, pe + 20)
        optional = pe + 24
        if _u16(data, optional) != 0x10B or _u32(data, optional + 92) < 3:
            return None
        rsrc_rva = _u32(data, optional + 96 + 8 * 2)
        sections_at = optional + optional_size
        base = _rva_to_offset(data, sections_at, count, rsrc_rva) if rsrc_rva else None
        if base is None:
            return None
        target = _first_entry(data, base, base, RT_VERSION)
        for _level in range(2):                     # name, then language
            if target is None or not target & 0x80000000:
                return None
            target = _first_entry(data, base, base + (target & 0x7FFFFFFF), None)
        if target is None or target & 0x80000000:
            return None
        data_rva, data_size = struct.unpack_from("<II", data, base + target)
        start = _rva_to_offset(data, sections_at, count, data_rva)
        if start is None or start + data_size > len(data):
            return None
        return _parse_version_info(data, start, start + data_size)
    except (struct.error, ValueError, UnicodeDecodeError, IndexError):
        return None


def _parse_version_info(data: bytes, start: int, end: int) -> str | None:
    for key, value, children_at, block_end in _children(data, start, end):
        if key != "VS_VERSION_INFO" or len(value) != 52 or _u32(value, 0) != FIXED_SIGNATURE:
            return None
        for child, _v, table_at, child_end in _children(data, children_at, block_end):
            if child != "StringFileInfo":
                continue
            for _table, _tv, strings_at, table_end in _children(data, table_at, child_end):
                for name, text, _c, _e in _children(data, strings_at, table_end):
                    if name == "FileVersion":
                        return text.decode("utf-16-le").rstrip("\0") or None
        ms, ls = _u32(value, 8), _u32(value, 12)
        return f"{ms >> 16}.{ms & 0xFFFF:02d}.{ls >> 16}.{ls & 0xFFFF:04d}"
    return None
