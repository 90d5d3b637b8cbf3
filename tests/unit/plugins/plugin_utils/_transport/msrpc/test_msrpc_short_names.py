"""8.3 names (issue 18, defect 8): NT 4.0 keeps a short name beside each long one, and a listing may give only
the short one (``61000~1.PCK``). The msrpc listing asks for such an entry by that name (Windows matches it
against both names) and lists it under its long name, so a leftover's compressed copy is classified and
removable like any other; an entry whose long name cannot be read is flagged (tests/unit/plugins/module_utils/
test_leftovers_short_names.py: it stays unknown, and the reason says why)."""

from __future__ import annotations

from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc import files as files_module
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.files import SmbFiles


class Entry:
    def __init__(self, long_name, short_name, size=4096):
        self.long_name, self.short_name, self.size = long_name, short_name, size

    def get_longname(self):
        return self.long_name

    def get_shortname(self):
        return self.short_name

    def get_filesize(self):
        return self.size

    def get_wtime(self):
        return files_module.FILETIME_EPOCH

    get_ctime = get_mtime = get_wtime

    def get_attributes(self):
        return 0x20


class ShortNameServer:
    """Lists ``SMSPKG`` by short names only; a lookup by a short name answers the entry with its long name
    (as Windows does), unless the long name is not known (``lost``)."""

    def __init__(self, files, lost=()):
        self.files, self.lost, self.calls = files, set(lost), []

    def listPath(self, share, pattern):  # noqa: N802 - impacket's name
        self.calls.append(pattern)
        folder, name = pattern.rsplit("\\", 1)
        assert folder == "SMSPKG"
        if name == "*":
            return [Entry(short, short) for _long, short in self.files]
        return [Entry(short if short in self.lost else long_name, short)
                for long_name, short in self.files if short.lower() == name.lower()]


class Session:
    host = "sms610"

    def __init__(self, smb):
        self.smb = smb

    def list_path(self, share, pattern, _operation):      # MsrpcSession.list_path: the session's own tree
        return self.smb.listPath(share, pattern)


def test_a_short_name_only_entry_is_listed_under_its_long_name():
    smb = ShortNameServer([("61000012.PCK", "61000~1.PCK"), ("README.TXT", "README.TXT")])
    listed = SmbFiles(Session(smb)).list_dir("D:\\SMSPKG", "package_folders")
    assert [(e.name, e.short_name_only) for e in listed] == [("61000012.PCK", False), ("README.TXT", False)]
    assert smb.calls == ["SMSPKG\\*", "SMSPKG\\61000~1.PCK"]     # one lookup, for the short name only


def test_an_entry_whose_long_name_cannot_be_read_is_flagged():
    smb = ShortNameServer([("61000012 copy.PCK", "61000~2.PCK")], lost={"61000~2.PCK"})
    listed = SmbFiles(Session(smb)).list_dir("D:\\SMSPKG", "package_folders")
    assert [(e.name, e.short_name_only) for e in listed] == [("61000~2.PCK", True)]
