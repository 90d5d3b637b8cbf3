"""The lab's msrpc site servers in one object: Samba (SMB, ``\\winreg``, ``\\svcctl``) and the DCOM/WMI
responder for the same hosts, with the Ansible inventory that reaches them.

    lab = MsrpcLab(state_dir).start()       # every host of the state folder; or MsrpcLab(state_dir, names)
    lab.write_inventory(path)               # q244405_transport: msrpc, the Samba port, the WMI address
    ...
    lab.stop()                              # every smbd / samba-dcerpcd and every WMI thread ended

Each host answers SMB on 127.0.0.1 at a port of its own (``smslab.samba``) and DCOM on port 135 of its own
127.0.0.x (``smslab.dcom``; DCOM has no port option, so this needs root). The inventory carries the second
address as ``q244405_msrpc_wmi_address``.
"""

from __future__ import annotations

from pathlib import Path

from smslab.dcom import WmiResponder, free_loopback_addresses
from smslab.inventory import inventory_of, write_inventory
from smslab.samba import SambaLab


class MsrpcLab:
    def __init__(self, state_dir, host_names=None, samba_options=None, extra_vars: dict | None = None):
        self.state_dir = Path(state_dir)
        self.samba = SambaLab(self.state_dir, host_names, options=samba_options)
        self.names = self.samba.names
        self.extra_vars = dict(extra_vars or {})
        self.addresses: dict[str, str] = {}
        self.wmi: WmiResponder | None = None

    def start(self) -> "MsrpcLab":
        try:
            self.samba.start()
            self.addresses = free_loopback_addresses(self.names)
            self.wmi = WmiResponder(self.state_dir, self.names, self.addresses.__getitem__).start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.wmi is not None:
            self.wmi.stop()
            self.wmi = None
        self.samba.stop()

    def __enter__(self) -> "MsrpcLab":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def inventory_vars(self, name: str) -> dict:
        return {**self.samba.inventory_vars(name), "q244405_msrpc_wmi_address": self.addresses[name],
                **self.extra_vars}

    def inventory(self) -> dict:
        return inventory_of({name: self.inventory_vars(name) for name in self.names})

    def write_inventory(self, path) -> Path:
        return write_inventory(path, self.inventory(), "smslab (msrpc hosts)")
