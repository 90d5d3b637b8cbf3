r"""The lab's msrpc hosts: one real Samba server per simulated site server.

API (stable; the msrpc transport's tests use it)::

    samba_available() -> str | None     None: this machine can serve Samba hosts; else why not
                                         and how to fix it ("apt-get install samba")
    SambaHost                           name, address, port, user, password, domain, state_dir;
                                         start(), stop(), pids(); options: HostOptions
    SambaLab(state_dir, host_names=None, options=None)
                                         context manager; start() -> {name: SambaHost}; stop();
                                         inventory_vars(name) -> Ansible host variables
                                         (ansible_host, ansible_connection: local,
                                         q244405_transport: msrpc, q244405_msrpc_port / _user /
                                         _password / _domain)
    HostOptions(ntlmv1=False, smb1=True, missing_shares=[], admin=True)

Each host gets ``smbd`` (SMB1 NT LM 0.12 and SMB2/3, NTLMv2 only unless ``ntlmv1``) on
127.0.0.1 and a port of its own, with its own smb.conf and folders under
``<state_dir>/samba/<host>/``; shares ``C$``, ``D$``, ... (one per drive folder
``hosts/<host>/fs/<drive>``) and ``ADMIN$`` (``C:\WINNT``); the account is the scenario's
``credentials`` (a local account: domain = the host's COMPUTERNAME). ``samba-dcerpcd`` serves
``\winreg`` (filled from host.json with ``net registry import``: the SMS keys and each service's
``SYSTEM\CurrentControlSet\Services\<name>`` ImagePath / Start / Type), ``\srvsvc`` and the
rest; the lab answers ``\svcctl`` itself (``smslab.samba.svcctl`` says why), on the services
of host.json with its faults. Big shared logs become real files first (``files``). ``stop()``
ends every process of the instance (smbd and its children, samba-dcerpcd, rpcd_*); the servers
also exit when the lab's Python process dies (their stdin is a pipe from it).

Measured on this 2-core machine (Debian 12, Samba 4.17.12): see tests/lab/test_samba_lab.py and
the figures below.
"""

from smslab.samba.config import HostOptions
from smslab.samba.host import SambaError, SambaHost, samba_available
from smslab.samba.lab import SambaLab

__all__ = ["HostOptions", "SambaError", "SambaHost", "SambaLab", "samba_available"]
