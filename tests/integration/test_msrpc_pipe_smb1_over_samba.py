"""The registry pipe over SMB1 against Samba serving the lab's NT 4.0 profile (NT LM 0.12, MaxBufferSize 16644):
every DCE/RPC call is one TransactNmPipe. impacket 0.13.1's own TransactNamedPipe sent the transaction's Name in
OEM characters on a Unicode session and Samba refused every call with STATUS_NOT_SUPPORTED (the probe then had no
registry and no services at all)."""

from __future__ import annotations

import pytest

from msrpc_harness import samba_site, transport


# auto (the default) negotiates Unicode; impacket's SMB1-only negotiation (smb1) does not
@pytest.mark.parametrize("dialect", ["auto", "smb1"])
def test_winreg_calls_over_smb1_are_one_transact_each_on_the_nt4_profile(tmp_path, dialect):
    with samba_site(tmp_path, hosts=["sms610"]) as (state_dir, lab, _wmi):
        host = transport(lab, "sms610", tmp_path, dialect=dialect)
        try:
            assert host.session.smb.getDialect() == "NT LM 0.12"
            registry = host.ops.registry
            before = host.session.stats.requests
            values = registry.read_values("HKLM\\SOFTWARE\\Microsoft\\SMS\\Identification", ["Site Code"], "registry")
            pipe = host.session.pipe("winreg", None, "registry")
            assert values == {"Site Code": "610"}
            # bind, OpenLocalMachine, OpenKey, QueryValue (no CloseKey: the pipe's close frees the key): one SMB
            # message each, after the IPC$ tree connect and the pipe's open
            assert pipe.get_rpc_transport().transacts == 4
            assert host.session.stats.requests - before == 2 + 4
        finally:
            host.close()
