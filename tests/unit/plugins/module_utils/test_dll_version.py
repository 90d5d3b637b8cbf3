"""The file version of a controller-side DLL from its VS_FIXEDFILEINFO block."""

from __future__ import annotations

import struct

from ansible_collections.sms.remediation.plugins.module_utils.dll_version import fixed_file_version


def fixed_info(major, minor, build, revision, struct_version=0x00010000) -> bytes:
    return struct.pack("<IIII", 0xFEEF04BD, struct_version, (major << 16) | minor, (build << 16) | revision)


def test_reads_the_sms_style_version():
    data = b"MZ" + b"\0" * 62 + fixed_info(2, 0, 1380, 1083) + b"\0" * 16
    assert fixed_file_version(data) == "2.00.1380.1083"


def test_skips_an_unaligned_or_invalid_signature():
    data = b"MZ\0" + fixed_info(9, 9, 9, 9) + b"\0" + fixed_info(1, 1, 1, 1, struct_version=7) + fixed_info(2, 0, 1239, 0)
    assert fixed_file_version(data) == "2.00.1239.0000"


def test_no_version_resource():
    assert fixed_file_version(b"MZ\0\0FileVersion=2.00.1380.1083\n") is None
    assert fixed_file_version(b"") is None
