"""The lab's Distmgr.dll files are real PE images (lab/smslab/pe.py), checked with pefile.

The msrpc transport reads the file version from the PE version resource over SMB; the lab's old
``MZ`` + text-marker files made a PE reader fail ("Invalid NT Headers signature").
"""

from __future__ import annotations

import pefile
import pytest

from smslab.pe import pe_image, version_info, version_of
from smslab.scenario import HOTFIX_DLL_SIZES, build_state_dir
from smslab.state import HostState, dll_bytes, file_version_of

MACHINE = {"i386": 0x014C, "alpha": 0x0184}


def string_file_version(pe: pefile.PE) -> str | None:
    for info in getattr(pe, "FileInfo", []) or []:
        for entry in info:
            if entry.Key == b"StringFileInfo":
                value = entry.StringTable[0].entries.get(b"FileVersion")
                return value.decode() if value is not None else None
    return None


@pytest.mark.parametrize("platform, version", [("i386", "2.00.1380.1083"), ("alpha", "2.00.1380.1083"),
                                               ("i386", "2.00.1239.0000"), ("alpha", "2.00.1493.2000")])
def test_pefile_reads_machine_and_version(platform, version):
    data = dll_bytes(version, HOTFIX_DLL_SIZES[platform], machine=platform)
    assert len(data) == HOTFIX_DLL_SIZES[platform]
    pe = pefile.PE(data=data)
    assert pe.FILE_HEADER.Machine == MACHINE[platform] and pe.is_dll()
    assert pe.OPTIONAL_HEADER.Magic == 0x10B                   # PE32
    fixed = pe.VS_FIXEDFILEINFO[0]
    parts = [int(p) for p in version.split(".")]
    assert fixed.Signature == 0xFEEF04BD
    assert (fixed.FileVersionMS >> 16, fixed.FileVersionMS & 0xFFFF, fixed.FileVersionLS >> 16,
            fixed.FileVersionLS & 0xFFFF) == tuple(parts)
    assert string_file_version(pe) == version                 # the SMS spelling, as VersionInfo shows it
    assert file_version_of(data) == version
    assert file_version_of(data[:2048]) == version             # the resource lies in the first 2 KB


def test_pefile_finds_the_version_through_the_resource_directory():
    pe = pefile.PE(data=dll_bytes("2.00.1380.1000"))
    types = [entry.id for entry in pe.DIRECTORY_ENTRY_RESOURCE.entries]
    assert types == [pefile.RESOURCE_TYPE["RT_VERSION"]]
    language = pe.DIRECTORY_ENTRY_RESOURCE.entries[0].directory.entries[0].directory.entries[0]
    assert language.id == 0x0409
    raw = pe.get_data(language.data.struct.OffsetToData, language.data.struct.Size)
    assert raw == version_info("2.00.1380.1000")


def test_no_version_resource():
    data = dll_bytes(None)
    pe = pefile.PE(data=data)                                  # still a valid image
    assert not hasattr(pe, "DIRECTORY_ENTRY_RESOURCE") and not hasattr(pe, "VS_FIXEDFILEINFO")
    assert file_version_of(data) is None


def test_corrupt_version_resource():
    data = dll_bytes("2.00.1380.1000", corrupt=True)
    pe = pefile.PE(data=data)
    assert string_file_version(pe) is None
    assert any("StringFileInfo" in warning for warning in pe.get_warnings())
    assert file_version_of(data) is None


@pytest.mark.parametrize("data", [b"", b"MZ", b"MZ\x90\x00SMS-LAB-PE\nFileVersion=2.00.1380.1083\n" + b"\0" * 4000,
                                  pe_image("2.00.1380.1083")[:300]], ids=["empty", "mz", "old-marker", "truncated"])
def test_not_a_pe_image_has_no_version(data):
    assert version_of(data) is None


def test_scenario_writes_real_images_for_each_platform_and_fault(tmp_path):
    scenario = {"sites": [
        {"name": "smsa", "site_code": "AAA", "build": "sp1", "platform": "alpha"},
        {"name": "smsb", "site_code": "BBB", "build": "sp1_hotfixed"},
        {"name": "smsc", "site_code": "CCC", "build": "rtm", "distmgr_no_version": True},
        {"name": "smsd", "site_code": "DDD", "build": "rtm", "distmgr_corrupt_version": True},
    ]}
    build_state_dir(scenario, tmp_path)

    def image(host: str, platform: str = "i386") -> tuple[HostState, pefile.PE, bytes]:
        state = HostState.load(tmp_path / "hosts" / host)
        data = state.read_bytes(f"C:\\SMS\\bin\\{platform}\\Distmgr.dll")
        return state, pefile.PE(data=data), data

    state, pe, _data = image("smsa", "alpha")
    assert pe.FILE_HEADER.Machine == 0x0184 and string_file_version(pe) == "2.00.1380.1000"
    assert state.data["lab"]["distmgr_version"] == "2.00.1380.1000"
    state, pe, data = image("smsb")
    assert len(data) == HOTFIX_DLL_SIZES["i386"] and string_file_version(pe) == "2.00.1380.1083"
    assert data == (tmp_path / "hotfix" / "i386" / "Distmgr.dll").read_bytes()
    alpha_copy = pefile.PE(data=(tmp_path / "hotfix" / "alpha" / "Distmgr.dll").read_bytes())
    assert alpha_copy.FILE_HEADER.Machine == 0x0184
    for host in ("smsc", "smsd"):
        state, pe, _data = image(host)
        assert string_file_version(pe) is None and state.file_version("C:\\SMS\\bin\\i386\\Distmgr.dll") is None
        assert state.data["lab"]["distmgr_version"] is None
    installer = HostState.load(tmp_path / "hosts" / "smsa").read_bytes("C:\\SMSHOTFIX\\Q244405\\Q244405.exe")
    assert version_of(installer) == "2.00.1380.1083"
