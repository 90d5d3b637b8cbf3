"""wmi_decode (issue 22): each WMI instance's values as impacket's IWbemClassObject gives them, with the class part
parsed once. Against impacket 0.13.1's decoder on the lab's objects (every class the lab's provider answers, with
and without decoration, NULLs, zeros, booleans, Unicode), on the value rules impacket applies to inherited and
default properties, and None (impacket's object is used) for what it does not read."""

from __future__ import annotations

import copy
import struct

import pytest
from impacket.dcerpc.v5.dcom import wmi
from impacket.dcerpc.v5.dcomrt import INTERFACE

from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc import wmi_decode
from smslab.dcom import wmio, wql


def impacket_row(objref: bytes) -> dict:
    obj = wmi.IWbemClassObject(INTERFACE(None, objref, None, target="lab"), None)
    return {name: prop["value"] for name, prop in obj.getProperties().items()}


ROWS = [
    (wql.PACKAGE, {"PackageID": "61000001", "Name": "Office 97", "ActionInProgress": 2, "SourceSite": "600"}),
    (wql.PACKAGE, {"PackageID": "61000002", "Name": None, "ActionInProgress": 0, "SourceSite": "610"}),
    (wql.PACKAGE, {"PackageID": "61000003", "ActionInProgress": None}),
    (wql.PACKAGE_RTM, {"PackageID": "61000004", "Name": "Zürich Büro ☃", "SourceSite": "600"}),
    (wql.SITE, {"SiteCode": "610", "SiteName": "Branch", "ReportingSiteCode": "600", "Type": 2, "Version": "2.00.1239.0000",
                "BuildNumber": 1239, "InstallDir": "C:\\SMS", "ServerName": "SMS610", "Status": 1}),
    (wql.PROVIDER_LOCATION, {"Machine": "SMS610", "NamespacePath": "\\\\SMS610\\root\\SMS\\site_610",
                             "ProviderForLocalSite": True, "SiteCode": "610"}),
    (wql.PROVIDER_LOCATION, {"Machine": "SMS610", "ProviderForLocalSite": False, "SiteCode": "610"}),
    (wql.PROCESS_NT4, {"Handle": "212", "Name": "mmc.exe", "ProcessId": 212, "ParentProcessId": 0, "ExecutablePath": None}),
    (wql.PROCESS_XP, {"Handle": "7", "Name": "mmc.exe", "ProcessId": 7, "CommandLine": "mmc.exe C:\\SMS\\bin\\i386\\sms.msc"}),
]


@pytest.mark.parametrize("decorated", [True, False])
@pytest.mark.parametrize("cls, values", ROWS)
def test_a_lab_object_decodes_as_impacket_decodes_it(cls, values, decorated):
    unit = wmio.instance_object(cls, values, "SMS610", "root\\SMS\\site_610") if decorated else \
        wmio.instance_object(cls, values)
    objref = wmio.objref(unit)
    ours = wmi_decode.row(objref)
    assert ours == impacket_row(objref)
    assert list(ours) == [prop.name for prop in cls.props]


def test_the_class_part_is_parsed_once_for_the_rows_of_a_query(monkeypatch):
    wmi_decode._classes.clear()
    parsed = []
    original = wmi.CURRENT_CLASS_NO_METHODS

    def counting(data):
        parsed.append(len(data))
        return original(data)
    monkeypatch.setattr(wmi, "CURRENT_CLASS_NO_METHODS", counting)
    rows = [wmi_decode.row(wmio.objref(wmio.instance_object(wql.PACKAGE, {"PackageID": f"6100000{i}"}, "S", "root")))
            for i in range(5)]
    assert [r["PackageID"] for r in rows] == [f"6100000{i}" for i in range(5)]
    assert len(parsed) == 1


def test_inherited_defaults_and_null_numbers_follow_impacket_s_rules():
    # impacket's INSTANCE_TYPE.getValues as the reference, on a value table the lab never sends: an inherited
    # property keeps the class default when its slot is 0, a non-inherited one becomes None, and a number the
    # NdTable does not mark null is 0, not None.
    properties = (
        {"name": "A", "type": 19, "order": 0, "inherited": 0, "value": None, "stype": "uint32", "qualifiers": {}},
        {"name": "B", "type": 19 | wmi.Inherited, "order": 1, "inherited": wmi.Inherited, "value": "7", "stype": "uint32",
         "qualifiers": {}},
        {"name": "C", "type": 8 | wmi.Inherited, "order": 2, "inherited": wmi.Inherited, "value": "default",
         "stype": "string", "qualifiers": {}},
        {"name": "D", "type": 8, "order": 3, "inherited": 0, "value": "x", "stype": "string", "qualifiers": {}},
        {"name": "E", "type": 11, "order": 4, "inherited": 0, "value": None, "stype": "bool", "qualifiers": {}},
    )
    heap = b"\x00" * 4
    for nd_flags in (0b00000000, 0b01010101):
        table = bytes([nd_flags, 0x01]) + struct.pack("<LLLLH", 0, 0, 0, 0, 0)
        reference = wmi.INSTANCE_TYPE()
        reference["NdTable_ValueTable"] = table
        reference["InstanceHeap"] = {"HeapItem": heap}
        expected = reference.getValues({p["name"]: copy.deepcopy(p) for p in properties})
        assert wmi_decode._values(wmi, properties, table, heap) == {k: v["value"] for k, v in expected.items()}


def test_what_it_does_not_read_is_left_to_impacket(monkeypatch):
    class_unit = wmio.class_object(wql.PROCESS_NT4, "SMS610", "root\\cimv2")
    assert wmi_decode.row(wmio.objref(class_unit)) is None                  # a class, not an instance
    assert wmi_decode.row(b"MEOW" + struct.pack("<L", 1) + b"\0" * 60) is None   # a standard OBJREF
    assert wmi_decode.row(wmio.objref(b"\x12\x34" * 10)) is None            # not an encoding unit
    objref = wmio.objref(wmio.instance_object(wql.PACKAGE, {"PackageID": "61000001"}))
    assert wmi_decode.row(objref[:-40]) is None or wmi_decode.row(objref[:-40]) == impacket_row(objref[:-40])
    from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc import impacket_speedups
    monkeypatch.setattr(impacket_speedups, "impacket_version", lambda: "0.12.0")      # the one version check
    assert wmi_decode.row(objref) is None                                  # another impacket: its own decoder
