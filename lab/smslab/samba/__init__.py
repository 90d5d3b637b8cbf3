r"""The lab's msrpc hosts: one real Samba server per simulated site server.

API (stable; the msrpc transport's tests use it)::

    samba_available() -> str | None     None: this machine can serve Samba hosts; else why not
                                         and how to fix it ("apt-get install samba")
    SambaHost                           name, address, port, user, password, domain, state_dir;
                                         start(), stop(), pids(), check_running(), log_tail();
                                         options: HostOptions
    SambaLab(state_dir, host_names=None, options=None, ports=None)
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

Ports (``ports``): smbd's comes from the kernel's ephemeral range (or ``SambaLab(ports=...)``),
samba-dcerpcd's TCP ports from outside it (``rpc server dynamic port range``, 61000-65535 here), so
no samba-dcerpcd of this or another lab takes an smbd's port. ``start()`` returns once every smbd
itself listens on its port and every samba-dcerpcd on its pipes; otherwise it stops everything it
started and raises SambaError naming the host, the port and the last lines of the instance's log.

Cost, measured on this project's 2-core machine (Debian 12, Samba 4.17.12, 24 GB, fd limit 20000,
shared with other jobs: load average 8-18) by benchmarks/bench_samba_lab.py:

    hosts  start (wall)  per host: start median/max  processes  PSS      fds  first session  stop
        1      2.0 s                 2.0 / 2.0 s      6.0       14.3 MiB  126    0.9 s        0.1 s
       10      7.8 s                 2.6 / 2.9 s      5.5       13.1 MiB  138    0.5 s        0.4 s
       20     11.4 s                 2.1 / 2.9 s      5.5       11.8 MiB  138    0.8 s        2.5 s
       40     37.7 s                 3.5 / 6.1 s      5.2       11.2 MiB  130    0.8 s        4.3 s
       80     51.9 s                 2.5 / 3.6 s      5.0       10.6 MiB  126    0.8 s       12.2 s

(0.45 s per host on an idle machine.) Start time is CPU: samba-dcerpcd runs each rpcd_* helper
once to list its interfaces; the first call of a pipe starts its worker (~0.5-1 s). Memory (about
11 MiB per host) and descriptors (about 130 per host, 3 in the lab's own process) allow well over
a thousand hosts here; the ports do too (smbd one, samba-dcerpcd three above 60999 per host).
So 200 hosts fit, at about 2-3 minutes of start on 2 busy cores; 20 hosts start in ~10 s. No
process was left after any stop.
"""

from smslab.samba.config import HostOptions
from smslab.samba.host import SambaError, SambaHost, samba_available
from smslab.samba.lab import SambaLab

__all__ = ["HostOptions", "SambaError", "SambaHost", "SambaLab", "samba_available"]
