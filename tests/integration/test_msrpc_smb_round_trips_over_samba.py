"""The SMB side of a facts probe's round trips (issue 22), against Samba held to the NT 4.0 and Windows 2000
profiles: each share's tree is connected once for the session (the listings and both pipes use it; impacket would
connect and disconnect a tree around every listing and connect IPC$ once per pipe), nothing is sent to close the
session (no tree disconnect, no pipe close, no LOGOFF: the server frees all of it with the connection), and a
rerun recognises Distmgr.dll by its folder entry instead of reading it again, and the server by its NTLMSSP name
(the computer name, platform and code page are not read again), with the same facts. Each pipe call is one
SMB_COM_TRANSACTION sent as raw bytes from a template impacket built once per pipe."""

from __future__ import annotations

import pytest
from impacket import nmb

from msrpc_harness import probed, samba_site

SITE = "sms610"
TREE_CONNECT_ANDX, TREE_DISCONNECT, LOGOFF_ANDX, TRANSACTION = 0x75, 0x71, 0x74, 0x25


def recorded(lab, tmp_path, wmi, monkeypatch) -> tuple[dict, list[int], list[str]]:
    """The probe's answer, the SMB1 command of every message sent through ``close``, and the files read whole."""
    from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc import pipe_transport, smb1_readahead
    sent, read, built = [], [], []
    send, read_all, build = nmb.NetBIOSTCPSession.send_packet, smb1_readahead.read_all, pipe_transport.smb1_transaction

    def building(*args, **kwargs):
        built.append(args[:2])
        return build(*args, **kwargs)
    monkeypatch.setattr(pipe_transport, "smb1_transaction", building)

    def reading(files, path, *args, **kwargs):
        read.append(path)
        return read_all(files, path, *args, **kwargs)
    monkeypatch.setattr(smb1_readahead, "read_all", reading)

    def sending(session, data, *args, **kwargs):
        if bytes(data[:4]) == b"\xffSMB":
            sent.append(data[4])
        return send(session, data, *args, **kwargs)
    monkeypatch.setattr(nmb.NetBIOSTCPSession, "send_packet", sending)
    answer = probed(lab, SITE, tmp_path, wmi_addresses=wmi)
    monkeypatch.undo()
    # impacket's packet classes build one request per pipe (the raw path's template), not one per call
    assert sent.count(TRANSACTION) > 2 * len(built) and len(built) <= 3, (sent.count(TRANSACTION), built)
    return answer, sent, read


@pytest.mark.parametrize("profile", ["nt4", "w2k"])
def test_trees_are_kept_for_the_session_and_closing_sends_nothing(tmp_path, monkeypatch, profile):
    with samba_site(tmp_path, hosts=[SITE], wmi=True, options={SITE: {"profile": profile}}) as (_state_dir, lab, wmi):
        cold, cold_sent, cold_read = recorded(lab, tmp_path, wmi, monkeypatch)
        warm, warm_sent, warm_read = recorded(lab, tmp_path, wmi, monkeypatch)
    for answer, sent in ((cold, cold_sent), (warm, warm_sent)):
        assert answer["msrpc"]["dialect"] == "NT LM 0.12 (SMB1)"
        assert TREE_DISCONNECT not in sent and LOGOFF_ANDX not in sent
        # IPC$, the install drive and each package folder's drive: once each (was once per listing and per pipe)
        drives = {folder["path"][0] for folder in answer["package_folders"]} | {answer["install_dir"][0]}
        assert sent.count(TREE_CONNECT_ANDX) <= 1 + len(drives), sent
    # the rerun: the computer name and platform recognised by the NTLMSSP name, not read again
    assert (warm["computer_name"], warm["processor_architecture"]) == (cold["computer_name"], cold["processor_architecture"])
    assert cold["processor_architecture"] and not [e for e in warm["errors"] if e["source"] in ("registry", "log")]
    # the rerun: the same Distmgr.dll facts without reading it
    dll = cold["platforms"]["i386"]["path"]
    assert warm["platforms"] == cold["platforms"] and cold["platforms"]["i386"]["sha256"]
    assert dll in cold_read and dll not in warm_read
    assert [e for e in warm["errors"] if e["source"] == "platforms"] == []
