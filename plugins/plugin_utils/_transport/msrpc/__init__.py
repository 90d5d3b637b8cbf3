# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``msrpc`` transport (private to this collection): each host operation runs on the controller and
speaks SMB (administrative shares), MS-RRP (``\\pipe\\winreg``) and MS-SCMR (``\\pipe\\svcctl``) with
impacket, for the NT 4.0 / Windows 2000 site servers that cannot run WinRM or PowerShell
(../shared/notes/legacy-hosts.md). One module per job: settings, connection (with pipe_transport: one SMB
transact per RPC call), files, registry, services, pe_version, log_reader (with word_search: the fast
path of its line filter), probe, packages, hotfix; WMI (``wmi``) is reached through ``wmi_hook``;
``preload`` loads all of it in the controller's main process once."""

from __future__ import annotations

from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.transport import (
    MsrpcTransport, transport)

__all__ = ["MsrpcTransport", "transport"]
