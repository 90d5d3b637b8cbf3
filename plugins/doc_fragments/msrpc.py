# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """The host variables of the msrpc transport (``q244405_transport: msrpc``), for every module that
    reaches a site server. They are host variables, not module options: set them in the inventory."""

    DOCUMENTATION = r"""
options: {}
notes:
  - >-
    B(Reaching NT 4.0 / Windows 2000 site servers.) With the host variable C(q244405_transport=msrpc) the
    module does not use the host's WinRM connection: it runs on the controller and speaks SMB (the
    administrative shares C(C$), C(D$) ...), the remote registry (C(\pipe\winreg)) and the service control
    manager (C(\pipe\svcctl)) to the site server with impacket, and WMI over DCOM for the SMS Provider.
    Set C(ansible_connection=local) for such hosts. One authenticated session per task carries every
    operation of that task.
  - >-
    Host variables of the msrpc transport (a bad value fails the task naming the variable and the host):
    C(ansible_host) (the address, else the inventory name);
    C(q244405_msrpc_user) (required; a local administrator of the site server);
    C(q244405_msrpc_password) (required, may be empty; keep it in a vault, it is never logged);
    C(q244405_msrpc_domain) (default empty: a local account of the server; NT 4.0 has no Kerberos, NTLM only);
    C(q244405_msrpc_port) (default C(445));
    C(q244405_msrpc_dialect) (C(auto) default: SMB2/3 when the server offers it, else NT LM 0.12; C(smb1),
    C(smb2), C(smb3) insist on one; NT 4.0 and Windows 2000 speak only C(smb1));
    C(q244405_msrpc_allow_ntlmv1) (default C(false): NTLMv2 only, also with NT 4.0 SP4 and later, which negotiate
    without extended security; C(true) sends NTLMv1 when the server refused NTLMv2, as NT 4.0 before SP4 does,
    with a warning naming the host);
    C(q244405_msrpc_allow_plaintext_password) (default C(false): a server that offers no challenge, asking for
    the password in plain text, is refused; C(true) sends it in plain text, with a warning naming the host);
    C(q244405_msrpc_timeout) (default C(30) seconds, per SMB/RPC call and WMI query);
    C(q244405_msrpc_cache_dir) (default C(~/.cache/sms.remediation/msrpc): the controller's per-host cache
    of Distmgr.log scans, so a rerun reads only what was appended and nothing of a log not written since; for a
    day also the fixed drives, Distmgr.dll's sha256 and version by its size and times, and the computer name,
    architecture and code page of the server that gave them; delete the folder to read everything again);
    C(q244405_msrpc_wmi_address) (default C(ansible_host): where the server's DCOM port 135 answers);
    C(q244405_msrpc_dcom_auth_level) (default C(pkt_privacy); C(pkt_integrity) or C(connect): the RPC
    authentication level of every DCOM/WMI call. NT 4.0's and Windows 2000's own DCOM clients default to
    C(connect) (MS-DCOM); whether NT 4.0 accepts C(pkt_privacy) was never tried on a real host. The
    transport never lowers the level by itself: set C(connect) for a server that refuses the default).
    DCOM activation uses IRemoteSCMActivator where the server offers it (COM 5.6, Windows 2000 and later)
    and IActivation where it does not (NT 4.0), decided by the server's answer.
  - >-
    Over msrpc, what the WinRM path does with a script on the host is done step by step from the
    controller; the manual hotfix keeps a journal on the host (C(<sms_root>\Logs\Q244405.journal.json))
    so that a run cut at any point is completed or rolled back by the next run. Quarantine moves are SMB
    renames: the quarantine folder must be on the same drive as the package folder.
"""
