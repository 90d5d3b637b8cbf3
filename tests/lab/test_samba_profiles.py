"""Host profiles on the wire (lab/smslab/profiles.py applied by lab/smslab/samba/config.py): what a client
of each imitated OS negotiates and how much one READ_ANDX returns, checked with impacket against real Samba."""

from __future__ import annotations

import os

import pytest
from impacket.smb import SMB, SMB_DIALECT
from impacket.smbconnection import SMBConnection

from smslab.profiles import DEFAULT_PROFILE, PROFILES
from smslab.samba import HostOptions, SambaError, SambaHost, SambaLab
from smslab.samba.testing import require_samba
from smslab.scenario import build_state_dir, load_scenario
from smslab.state import HostState

USER, PASSWORD = "Administrator", "Lab-Pass-1999"
CAP_UNIX = 0x00800000       # MS-CIFS 2.2.4.52.2: the CIFS UNIX extensions (impacket has no name for it)
BIG = 256 * 1024 + 777          # several SMB1 reads, not a multiple of any block size
SCENARIO = {
    "seed": 18,
    "credentials": {"user": USER, "password": PASSWORD},
    "sites": [
        {"name": "nt4host", "site_code": "610", "profile": "nt4"},
        {"name": "w2khost", "site_code": "620", "profile": "w2k"},
        {"name": "newhost", "site_code": "630", "profile": "modern"},
        {"name": "defhost", "site_code": "640"},
    ],
}


@pytest.fixture
def state_dir(tmp_path):
    require_samba()
    folder = tmp_path / "state"
    build_state_dir(SCENARIO, folder)
    for name in ("nt4host", "w2khost", "newhost"):
        (folder / "hosts" / name / "fs" / "C" / "big.bin").write_bytes(os.urandom(BIG))
    return folder


def connect(host: SambaHost, dialect=None) -> SMBConnection:
    conn = SMBConnection(host.address, host.address, sess_port=host.port, preferredDialect=dialect, timeout=60)
    conn.login(host.user, host.password, host.domain)
    return conn


def first_read(conn: SMBConnection) -> int:
    """Bytes one read request of 64 KiB at offset 0 of big.bin brings back."""
    tid = conn.connectTree("C$")
    fid = conn.openFile(tid, "big.bin")
    try:
        return len(conn.readFile(tid, fid, 0, 65536, singleCall=True))
    finally:
        conn.closeFile(tid, fid)


def test_host_json_carries_the_profile_and_the_default_is_nt4(state_dir):
    assert DEFAULT_PROFILE == "nt4"
    profiles = {name: HostState.load(state_dir / "hosts" / name).data["profile"]
                for name in ("nt4host", "w2khost", "newhost", "defhost")}
    assert profiles == {"nt4host": "nt4", "w2khost": "w2k", "newhost": "modern", "defhost": "nt4"}


def test_an_unknown_profile_is_refused_naming_the_site():
    bad = {"sites": [{"name": "sms610", "site_code": "610", "profile": "nt3.51"}]}
    with pytest.raises(ValueError) as caught:
        load_scenario(bad)
    message = str(caught.value)
    assert "site 'sms610'" in message and "field 'profile'" in message and "'nt3.51'" in message
    for name in PROFILES:
        assert name in message


def test_each_profile_negotiates_and_reads_as_its_os(state_dir):
    with SambaLab(state_dir, ["nt4host", "w2khost", "newhost"]) as lab:
        conf = lab.hosts["nt4host"].conf.read_text(encoding="utf-8")
        assert "server max protocol = NT1" in conf and "large readwrite = no" in conf and "max xmit = 16644" in conf

        nt4 = connect(lab.hosts["nt4host"])           # a client that would take SMB3 gets NT LM 0.12
        assert nt4.getDialect() == SMB_DIALECT
        capabilities = nt4.getSMBServer()._dialects_parameters["Capabilities"]      # pylint: disable=protected-access
        assert not capabilities & (SMB.CAP_LARGE_READX | SMB.CAP_LARGE_WRITEX)
        assert not capabilities & CAP_UNIX
        got = first_read(nt4)
        assert 16000 <= got <= 16644, got                # ~16 KiB of the 64 KiB asked for
        nt4.logoff()

        w2k = connect(lab.hosts["w2khost"])
        assert w2k.getDialect() == SMB_DIALECT
        assert w2k.getSMBServer()._dialects_parameters["Capabilities"] & SMB.CAP_LARGE_READX  # pylint: disable=protected-access
        assert first_read(w2k) > 60000
        w2k.logoff()

        modern = connect(lab.hosts["newhost"])
        assert modern.getDialect() >= 0x0300
        assert first_read(modern) == 65536
        modern.logoff()


def test_an_nt4_host_cannot_refuse_smb1(state_dir):
    with pytest.raises(SambaError) as caught:
        SambaHost("nt4host", state_dir, USER, PASSWORD, options=HostOptions(smb1=False))
    assert "nt4host" in str(caught.value) and "only SMB1" in str(caught.value)
    host = SambaHost("nt4host", state_dir, USER, PASSWORD, options=HostOptions(smb1=False, profile="modern"))
    assert host.profile.name == "modern"
