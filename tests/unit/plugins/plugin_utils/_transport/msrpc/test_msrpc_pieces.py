"""Pure pieces of the msrpc transport: host variables, error names, paths, regex parameters, PE versions."""

from __future__ import annotations

import pytest
from impacket import nt_errors
from impacket.smbconnection import SessionError

from ansible_collections.sms.remediation.plugins.module_utils.host_regex import from_dotnet, to_dotnet
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.connection import describe
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.files import split_path
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.pe_version import (
    NotPeImage, file_version, file_version_of_bytes)
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.settings import (
    SettingsError, settings_from_vars)
from smslab.pe import pe_image

GOOD = {"ansible_host": "10.0.0.5", "q244405_msrpc_user": "smsadmin", "q244405_msrpc_password": "s3cret"}


def test_settings_defaults_and_overrides():
    s = settings_from_vars("sms610", GOOD)
    assert (s.address, s.port, s.dialect, s.allow_ntlmv1, s.timeout, s.domain) == ("10.0.0.5", 445, "auto", False, 30, "")
    s = settings_from_vars("sms610", {**GOOD, "q244405_msrpc_port": "1445", "q244405_msrpc_dialect": "SMB1",
                                      "q244405_msrpc_allow_ntlmv1": "yes", "q244405_msrpc_domain": "CORP"})
    assert (s.port, s.dialect, s.allow_ntlmv1, s.account) == (1445, "smb1", True, "CORP\\smsadmin")
    assert "s3cret" not in repr(s)


@pytest.mark.parametrize("override, message", [
    ({"q244405_msrpc_user": None}, "q244405_msrpc_user is not set"),
    ({"q244405_msrpc_password": None}, "q244405_msrpc_password is not set"),
    ({"q244405_msrpc_port": "smb"}, "q244405_msrpc_port='smb': expected an integer from 1 to 65535"),
    ({"q244405_msrpc_port": 0}, "q244405_msrpc_port=0"),
    ({"q244405_msrpc_dialect": "nt4"}, "q244405_msrpc_dialect='nt4': expected one of auto, smb1, smb2, smb3"),
    ({"q244405_msrpc_allow_ntlmv1": "maybe"}, "q244405_msrpc_allow_ntlmv1='maybe': expected a boolean"),
    ({"q244405_msrpc_timeout": -1}, "q244405_msrpc_timeout=-1"),
])
def test_bad_settings_name_the_variable_never_the_password(override, message):
    with pytest.raises(SettingsError) as caught:
        settings_from_vars("sms610", {**GOOD, **override})
    assert message in str(caught.value) and "s3cret" not in str(caught.value)


def test_errors_name_the_nt_status():
    assert describe(SessionError(nt_errors.STATUS_LOGON_FAILURE)).startswith(
        "STATUS_LOGON_FAILURE (0xc000006d): wrong user, domain or password")
    assert describe(SessionError(nt_errors.STATUS_BAD_NETWORK_NAME)).startswith("STATUS_BAD_NETWORK_NAME (0xc00000cc)")
    assert describe(ConnectionRefusedError(111, "Connection refused")).startswith("ConnectionRefusedError")


@pytest.mark.parametrize("path, share, rest", [
    ("D:\\SMSPKG\\61000012.PCK", "D$", "SMSPKG\\61000012.PCK"),
    ("c:\\SMS\\bin\\i386\\", "C$", "SMS\\bin\\i386"),
    ("C:\\", "C$", ""),
])
def test_windows_paths_map_to_admin_shares(path, share, rest):
    assert split_path(path) == (share, rest)


@pytest.mark.parametrize("path", ["\\\\srv\\C$\\x", "SMS\\x", "C:\\SMS\\..\\Windows", "C:\\a\\b:stream", "C:\\a*"])
def test_other_paths_are_refused(path):
    with pytest.raises(ValueError):
        split_path(path)


@pytest.mark.parametrize("pattern", [r"^(?P<id>[A-Za-z0-9]{3}[0-9A-Fa-f]{5})\.PCK$", r"(?P<a>x)(?P=a)\Z",
                                     r"(?<=a)b", "deleting the package|deleted the package"])
def test_the_parameter_is_the_controllers_own_pattern(pattern):
    assert from_dotnet(to_dotnet(pattern)) == pattern


class CountingReader:
    def __init__(self, data):
        self.data, self.ranges = data, []

    def __call__(self, offset, length):
        self.ranges.append((offset, length))
        return self.data[offset:offset + length]


def test_the_version_comes_from_the_resource_reading_only_headers_and_that_section():
    image = pe_image("2.00.1380.1083", size=1024 * 1024)
    reader = CountingReader(image)
    assert file_version(reader) == "2.00.1380.1083"
    assert sum(length for _offset, length in reader.ranges) < 16 * 1024, reader.ranges


def test_no_resource_a_damaged_one_or_no_pe_image_give_no_version():
    assert file_version_of_bytes(pe_image(None)) is None
    assert file_version_of_bytes(pe_image("2.00.1380.1083", corrupt=True)) is None
    assert file_version_of_bytes(b"MZ" + b"FileVersion=2.00.1380.1000".ljust(4094, b"\0")) is None
    with pytest.raises(NotPeImage):
        file_version(CountingReader(b"MZ" + b"\0" * 4094))


def test_the_doc_fragment_documents_every_variable_the_transport_reads():
    import inspect
    import re as regex

    from ansible_collections.sms.remediation.plugins.doc_fragments.msrpc import ModuleDocFragment
    from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc import settings

    read = set(regex.findall(r'var\("(\w+)"', inspect.getsource(settings.settings_from_vars)))
    documented = set(regex.findall(r"C\(q244405_msrpc_(\w+)\)", ModuleDocFragment.DOCUMENTATION))
    assert read == documented


def test_ntlmv1_is_used_only_when_allowed_and_then_with_a_warning_naming_the_host():
    from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.connection import MsrpcSession

    class Server:
        def __init__(self, v2):
            self.v2 = v2

        def doesSupportNTLMv2(self):            # noqa: N802 - impacket's name
            return self.v2

        def get_encryption_key(self):           # impacket's: None = extended security was negotiated
            return None

    class Conn:
        def __init__(self, v2):
            self.server, self.fallback = Server(v2), None

        def getDialect(self):                   # noqa: N802
            from impacket.smb import SMB_DIALECT
            return SMB_DIALECT

        def login(self, user, password, domain, ntlmFallback):   # noqa: N803
            self.fallback = ntlmFallback

        def getSMBServer(self):                 # noqa: N802
            return self.server

        def getServerName(self):                # noqa: N802
            return "SMS610"

    for allow, v2, warned in ((False, True, False), (True, True, False), (True, False, True)):
        warnings = []
        session = MsrpcSession(settings_from_vars("sms610", {**GOOD, "q244405_msrpc_allow_ntlmv1": allow}),
                               warnings.append)
        conn = Conn(v2)
        session._login(conn)
        assert conn.fallback is allow
        assert bool(warnings) is warned and (not warned or warnings[0].startswith("sms610: logged on with NTLMv1"))


def test_a_controller_without_impacket_gets_one_clear_error(monkeypatch):
    import importlib

    from ansible_collections.sms.remediation.plugins.plugin_utils._transport.base import TransportError
    from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc import deps
    from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.transport import transport

    real = importlib.import_module

    def no_impacket(name, *args):
        if name == "impacket":
            raise ImportError("No module named 'impacket'")
        return real(name, *args)
    monkeypatch.setattr(deps.importlib, "import_module", no_impacket)
    with pytest.raises(TransportError) as caught:
        transport(None, {"inventory_hostname": "sms610", **GOOD})
    assert str(caught.value).startswith("sms610: connect: the msrpc transport needs impacket")
