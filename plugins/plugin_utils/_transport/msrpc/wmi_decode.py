# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The property values of the WMI instances a query returns, with each class part parsed once (private to this
collection).

impacket's ``IWbemClassObject`` parses a whole MS-WMIO object for every row: the instance's class part (its
property table, qualifiers and heap, the same bytes for every row of a query) is parsed twice (``INSTANCE_TYPE``
reads itself twice) and its properties rebuilt with their qualifiers, then re-packed to learn its length: ~4.7 ms
of controller CPU per object, a quarter of a probe's (``benchmarks/bench_msrpc_probe.py``). Here the class part
(``ClassPart``, MS-WMIO 2.2.15, whose ``EncodingLength`` gives its size) is parsed by impacket once per distinct
bytes (``_classes``), and each row reads only its own part: the NdTable and value table and the instance heap
(2.2.53-2.2.58), each value decoded by impacket's ``ENCODED_VALUE.getValue`` with the rules of impacket's
``INSTANCE_TYPE.getValues`` (a zero value keeps the class's default for an inherited property, None otherwise,
unless the property is a number the NdTable does not mark null).

``row(objref)`` is ``{name: value}`` as ``{n: p["value"] for n, p in IWbemClassObject(...).getProperties().items()}``
gives it, or None for what it does not read (a class object, a non-custom OBJREF, property qualifier sets on the
instance, bytes that do not parse): the caller then uses impacket's object. Pinned to impacket 0.13.1, whose
decoding it reproduces: another version gets None for every object. Tested against impacket's decoder on the lab's
objects (``tests/unit/.../test_msrpc_wmi_decode.py``, ``tests/integration/test_msrpc_probe_calls_over_samba.py``)."""

from __future__ import annotations

import struct

from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.impacket_speedups import is_pinned

FLAGS_OBJREF_CUSTOM, WMIO_SIGNATURE = 0x4, 0x12345678
CIM_CLASS, DECORATED = 0x01, 0x04
MAX_CLASSES = 64                        # the collection queries four classes; a bound all the same
_classes: dict[bytes, tuple] = {}       # ClassPart bytes -> (properties in declaration order, NdTable+values length)
_U32 = struct.Struct("<L")


def _impacket_wmi():
    try:
        from impacket.dcerpc.v5.dcom import wmi
    except ImportError:
        return None
    return wmi if is_pinned() else None


def _encoded_string_end(data: bytes, at: int) -> int:
    """Where the ENCODED_STRING (MS-WMIO 2.2.78) at ``at`` ends: a flag byte, then 8-bit or UTF-16LE characters up to
    their terminator."""
    if data[at] == 0:
        return data.index(b"\x00", at + 1) + 1
    at += 1
    while data[at:at + 2] != b"\x00\x00":
        at += 2
        if at >= len(data):
            raise ValueError("unterminated UTF-16 string")
    return at + 2


def _class_of(wmi, class_part: bytes) -> tuple:
    known = _classes.get(class_part)
    if known is None:
        properties = wmi.CURRENT_CLASS_NO_METHODS(class_part).getProperties()
        # ClassHeader (2.2.16): EncodingLength, ReservedOctet, ClassNameRef, NdTableValueTableLength
        known = (tuple(properties.values()), struct.unpack_from("<LBLL", class_part)[3])
        if len(_classes) < MAX_CLASSES:
            _classes[class_part] = known
    return known


def row(objref: bytes) -> dict | None:
    wmi = _impacket_wmi()
    if wmi is None:
        return None
    try:
        return _row(wmi, objref)
    except (struct.error, IndexError, ValueError, KeyError, TypeError):
        return None


def _row(wmi, objref: bytes) -> dict | None:
    # OBJREF (signature, flags, iid) and OBJREF_CUSTOM (clsid, cbExtension, size): MS-DCOM 2.2.18
    if _U32.unpack_from(objref, 4)[0] != FLAGS_OBJREF_CUSTOM:
        return None
    unit = objref[48:]
    if _U32.unpack_from(unit, 0)[0] != WMIO_SIGNATURE:      # ENCODING_UNIT: signature, ObjectEncodingLength
        return None
    block = unit[8:8 + _U32.unpack_from(unit, 4)[0]]
    flags, at = block[0], 1
    if flags & CIM_CLASS:
        return None
    if flags & DECORATED:                                   # DecServerName, DecNamespaceName
        at = _encoded_string_end(block, _encoded_string_end(block, at))
    class_length = _U32.unpack_from(block, at)[0]           # ClassHeader.EncodingLength: the whole ClassPart
    properties, table_length = _class_of(wmi, block[at:at + class_length])
    at += class_length + 4 + 1 + 4                          # EncodingLength, InstanceFlags, InstanceClassName
    table = block[at:at + table_length]
    at += table_length
    at += _U32.unpack_from(block, at)[0]                    # InstanceQualifierSet's QualifierSet
    if block[at] == 2:                                      # InstancePropQualifierSet: impacket refuses it too
        return None
    at += 1
    heap_length = _U32.unpack_from(block, at)[0] & 0x7FFFFFFF
    heap = block[at + 4:at + 4 + heap_length]
    return _values(wmi, properties, table, heap)


def _values(wmi, properties: tuple, table: bytes, heap: bytes) -> dict:
    """impacket 0.13.1's INSTANCE_TYPE.getValues on a copy-free view of the class's properties."""
    octets = (len(properties) - 1) // 4 + 1
    nd_table = [(byte >> shift) & 0b11 for byte in table[:octets] for shift in (0, 2, 4, 6)]
    values = table[octets:]
    answer = {}
    for prop in properties:
        kind = prop["type"]
        if kind & wmi.CIM_ARRAY_FLAG:
            fmt = wmi.HEAPREF[:-2]
        else:
            fmt = wmi.CIM_TYPES_REF[kind & ~(wmi.CIM_ARRAY_FLAG | wmi.Inherited)][:-2]
        size = struct.calcsize(fmt)
        try:
            item = struct.unpack(fmt, values[:size])[0]
        except struct.error:
            item = 0xFFFFFFFF                               # impacket logs "Error Unpacking!" and goes on
        null_default = bool(nd_table[prop["order"]] & 0b01)
        number = kind & ~wmi.Inherited in wmi.CIM_NUMBER_TYPES and not null_default
        if item != 0 or number:
            answer[prop["name"]] = wmi.ENCODED_VALUE.getValue(kind, item, heap)
        elif prop["inherited"] == 0:
            answer[prop["name"]] = None
        else:
            answer[prop["name"]] = prop["value"]
        values = values[size:]
    return answer
