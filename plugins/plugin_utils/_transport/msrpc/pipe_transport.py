# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""DCE/RPC over a named pipe with one SMB message per call, as Windows' own RPC runtime does (private to
this collection).

impacket's ``SMBTransport`` writes a request to the pipe and then reads the reply: two SMB messages (and
two round trips) per call. A named pipe in message mode also answers ``TransactNmPipe`` (SMB1
``SMB_COM_TRANSACTION``, MS-CIFS 2.2.5.5) and ``FSCTL_PIPE_TRANSCEIVE`` (SMB2 ``IOCTL``, MS-SMB2 3.3.5.15.3):
the request is written and the reply's first fragment comes back in one exchange. NT 4.0's and Windows 2000's
RPC clients call the winreg and svcctl pipes that way.

``send`` keeps the request until ``recv`` asks for the reply, then transacts it. A request sent in several
fragments writes all but the last one; reply fragments after the first are read as before. A request whose
reply is never asked for (an ``auth3`` PDU) is written when the next one is sent or the pipe is closed."""

from __future__ import annotations

# impacket is imported guarded: ansible-test imports every file without it (deps.missing() says what is missing)
try:
    from impacket.dcerpc.v5.transport import SMBTransport
except ImportError:
    SMBTransport = object


class TransceiveTransport(SMBTransport):
    """``ncacn_np`` over the session's SMB connection; a call is one transact instead of a write and a read."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._request = None
        self.transacts = 0

    def send(self, data, forceWriteAndx=0, forceRecv=0):  # noqa: N803 - impacket's signature
        self._write_held()
        self._request = data

    def recv(self, forceRecv=0, count=0):  # noqa: N803 - impacket's signature
        if self._request is None:            # a further fragment of the reply
            return super().recv(forceRecv, count)
        data, self._request = self._request, None
        self.transacts += 1
        # impacket keeps the pipe's tree and file id in name-mangled attributes of SMBTransport
        return self.get_smb_connection().transactNamedPipe(self._SMBTransport__tid, self._SMBTransport__handle, data)

    def disconnect(self):
        try:
            self._write_held()
        finally:
            super().disconnect()

    def _write_held(self) -> None:
        if self._request is not None:
            data, self._request = self._request, None
            super().send(data, forceWriteAndx=1)
