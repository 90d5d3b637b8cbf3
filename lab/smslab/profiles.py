"""Host profiles: how each Windows the lab imitates behaves on the wire, as data.

One profile per OS, named by it, chosen per site in a scenario (``profile:``). The SMB side is
applied to the host's Samba instance (``smslab.samba.config``), the DCOM side by the WMI responder
(``smslab.dcom``). Sources: ``../shared/notes/legacy-hosts.md`` (last section), MS-CIFS, MS-SMB,
MS-DCOM 2.2.11 (COMVERSION), Samba 4.17 ``smb.conf(5)``. None of this was checked against a real
NT 4.0 or Windows 2000 host.

A test of a behaviour runs under the oldest profile that claims it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class HostProfile:
    """What one imitated OS offers a client."""

    name: str
    imitates: str
    # SMB (Samba parameters)
    smb_max_protocol: str           # "server max protocol"
    large_readwrite: bool           # CAP_LARGE_READX / CAP_LARGE_WRITEX
    max_xmit: int                   # negotiated MaxBufferSize
    # DCOM (the lab's responder)
    com_version: tuple[int, int]    # COMVERSION the OXID resolver reports (MS-DCOM 2.2.11)
    remote_scm_activator: bool      # IRemoteSCMActivator (RemoteCreateInstance): COM 5.6 and later
    server_alive2: bool             # IObjectExporter::ServerAlive2: COM 5.6 and later
    rem_unknown2: bool              # IRemUnknown2: COM 5.6 and later

    @property
    def smb1_only(self) -> bool:
        return self.smb_max_protocol == "NT1"


PROFILES = {
    profile.name: profile for profile in (
        HostProfile(name="nt4", imitates="Windows NT 4.0 SP6a",
                    smb_max_protocol="NT1", large_readwrite=False, max_xmit=16644,
                    com_version=(5, 4), remote_scm_activator=False, server_alive2=False, rem_unknown2=False),
        HostProfile(name="w2k", imitates="Windows 2000 SP4",
                    smb_max_protocol="NT1", large_readwrite=True, max_xmit=16644,
                    com_version=(5, 6), remote_scm_activator=True, server_alive2=True, rem_unknown2=True),
        HostProfile(name="modern", imitates="a current Windows Server (SMB3, COM 5.7)",
                    smb_max_protocol="SMB3", large_readwrite=True, max_xmit=65535,
                    com_version=(5, 7), remote_scm_activator=True, server_alive2=True, rem_unknown2=True),
    )
}
DEFAULT_PROFILE = "nt4"     # a site of the Q244405 era, unless a scenario says otherwise


def profile_named(name: str | None) -> HostProfile:
    """The profile ``name`` (None: the default); ValueError naming the choices otherwise."""
    key = DEFAULT_PROFILE if name is None else str(name).lower()
    try:
        return PROFILES[key]
    except KeyError:
        raise ValueError(f"host profile {name!r}: expected one of {', '.join(PROFILES)}") from None
