"""MS-WMIO encoding of the few CIM classes and instances the responder hands out.

impacket only decodes these structures (and builds method in-parameters from a class it received), so
the lab encodes them here, byte for byte as MS-WMIO 2.2 lays them out: an ``EncodingUnit``
(signature, length, ``ObjectBlock``) whose object block is a class (``ClassType``: parent and current
``ClassAndMethodsPart``) or an instance (``InstanceType``: the class part, then the instance's
``NdTable``/value table, qualifier set and heap). ``decode()`` runs impacket's own parser over the bytes;
the tests use it to prove the encoding.

Two details the decoder relies on: string values never sit at heap offset 0 (the instance heap starts
with the class name, as Windows writes it, and impacket reads offset 0 as "no value"), and the value
table is packed in declaration order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from struct import pack

from impacket.dcerpc.v5.dcom import wmi
from impacket.dcerpc.v5.dcomrt import OBJREF_CUSTOM

UINT16 = wmi.CIM_TYPE_ENUM.CIM_TYPE_UINT16.value
UINT32 = wmi.CIM_TYPE_ENUM.CIM_TYPE_UINT32.value
STRING = wmi.CIM_TYPE_ENUM.CIM_TYPE_STRING.value
BOOLEAN = wmi.CIM_TYPE_ENUM.CIM_TYPE_BOOLEAN.value
OBJECT = wmi.CIM_TYPE_ENUM.CIM_TYPE_OBJECT.value

_SLOT_FORMAT = {UINT16: "<H", UINT32: "<L", STRING: "<L", BOOLEAN: "<H", OBJECT: "<L"}
_CIMTYPE_NAME = {UINT16: "uint16", UINT32: "uint32", STRING: "string", BOOLEAN: "boolean", OBJECT: "object"}
_QUALIFIER_KEY = 0x80000000 | wmi.DICTIONARY_REFERENCE_TO_VALUE["key"]
_QUALIFIER_CIMTYPE = 0x80000000 | wmi.DICTIONARY_REFERENCE_TO_VALUE["CIMTYPE"]
_HEAP_FLAG = 0x80000000
_NULL_FLAG = 0b01                     # MS-WMIO 2.2.27: bit 0 of a NullAndDefaultFlag = the value is NULL
_EMPTY_QUALIFIER_SET = pack("<L", 4)
_NO_INSTANCE_PROPERTY_QUALIFIERS = pack("<LB", 4, 1)


@dataclass(frozen=True)
class Prop:
    name: str
    cim_type: int
    key: bool = False
    cimtype_text: str | None = None   # the CIMTYPE qualifier, e.g. "object:Win32_ProcessStartup"


@dataclass(frozen=True)
class Method:
    name: str
    in_params: tuple[Prop, ...]
    out_params: tuple[Prop, ...]


@dataclass(frozen=True)
class CimClass:
    name: str
    props: tuple[Prop, ...]
    superclasses: tuple[str, ...] = ()
    methods: tuple[Method, ...] = field(default=())

    def prop_names(self) -> list[str]:
        return [p.name for p in self.props]

    def only(self, names: list[str]) -> "CimClass":
        """The class as a query projects it (``select A, B``): only those properties, in class order."""
        wanted = {n.lower() for n in names}
        return CimClass(self.name, tuple(p for p in self.props if p.name.lower() in wanted), self.superclasses)


def encoded_string(text: str) -> bytes:
    """MS-WMIO 2.2.78 Encoded-String: flag 0 + 8-bit characters, or flag 1 + UTF-16LE."""
    try:
        return b"\x00" + text.encode("latin-1") + b"\x00"
    except UnicodeEncodeError:
        return b"\x01" + text.encode("utf-16le") + b"\x00\x00"


class _Heap:
    def __init__(self, first: bytes = b""):
        self.data = bytearray(first)

    def add(self, blob: bytes) -> int:
        offset = len(self.data)
        self.data += blob
        return offset

    def encoded(self) -> bytes:
        return pack("<L", len(self.data) | _HEAP_FLAG) + bytes(self.data)


def _qualifier_set(heap: _Heap, prop: Prop) -> bytes:
    cimtype = prop.cimtype_text or _CIMTYPE_NAME[prop.cim_type]
    body = pack("<LBLL", _QUALIFIER_CIMTYPE, 0, STRING, heap.add(encoded_string(cimtype)))
    if prop.key:
        body += pack("<LBLH", _QUALIFIER_KEY, 0, BOOLEAN, 0xFFFF)
    return pack("<L", 4 + len(body)) + body


def _nd_table(flags: list[int]) -> bytes:
    table = bytearray((len(flags) + 3) // 4)
    for index, flag in enumerate(flags):
        table[index // 4] |= flag << (2 * (index % 4))
    return bytes(table)


def class_part(cls: CimClass) -> bytes:
    """MS-WMIO 2.2.15 ClassPart; every property's class default is NULL."""
    heap = _Heap()
    name_ref = heap.add(encoded_string(cls.name))
    derivation = b"".join(encoded_string(s) + pack("<L", len(encoded_string(s))) for s in cls.superclasses)
    lookups, offset = [], 0
    for order, prop in enumerate(cls.props):
        info = pack("<LHLL", prop.cim_type, order, offset, 0) + _qualifier_set(heap, prop)
        lookups.append((prop.name.lower(), heap.add(encoded_string(prop.name)), heap.add(info)))
        offset += len(pack(_SLOT_FORMAT[prop.cim_type], 0))
    lookup_table = pack("<L", len(lookups)) + b"".join(pack("<LL", n, i) for _key, n, i in sorted(lookups))
    values = _nd_table([_NULL_FLAG] * len(cls.props)) + bytes(offset)
    body = (pack("<L", 4 + len(derivation)) + derivation + _EMPTY_QUALIFIER_SET + lookup_table + values
            + heap.encoded())
    header_size = 4 + 1 + 4 + 4
    return pack("<LBLL", header_size + len(body), 0, name_ref, len(values)) + body


def _signature_block(props: tuple[Prop, ...]) -> bytes:
    """MS-WMIO 2.2.70 MethodSignatureBlock: a ``__PARAMETERS`` class object."""
    block = bytes([wmi.CIM_CLASS]) + _empty_class_and_methods() + class_part(CimClass("__PARAMETERS", props)) \
        + _methods_part(())
    return pack("<L", len(block)) + block


def _methods_part(methods: tuple[Method, ...]) -> bytes:
    heap = _Heap()
    descriptions = b""
    for method in methods:
        name_ref = heap.add(encoded_string(method.name))
        qualifiers = heap.add(_EMPTY_QUALIFIER_SET)
        in_ref = heap.add(_signature_block(method.in_params))
        out_ref = heap.add(_signature_block(method.out_params))
        descriptions += pack("<LB3sLLLL", name_ref, 0, b"\x00" * 3, 0, qualifiers, in_ref, out_ref)
    body = pack("<HH", len(methods), 0) + descriptions + heap.encoded()
    return pack("<L", 4 + len(body)) + body


def _empty_class_and_methods() -> bytes:
    """The ParentClass of a class with no superclass in the object: no name, no properties."""
    heap = _Heap()
    body = pack("<L", 4) + _EMPTY_QUALIFIER_SET + pack("<L", 0) + heap.encoded()
    return pack("<LBLL", 13 + len(body), 0, 0xFFFFFFFF, 0) + body + _methods_part(())


def _decoration(server: str, namespace: str) -> bytes:
    return encoded_string(server) + encoded_string(namespace)


def _encoding_unit(block: bytes) -> bytes:
    return pack("<LL", 0x12345678, len(block)) + block


def class_object(cls: CimClass, server: str, namespace: str) -> bytes:
    """EncodingUnit of a CIM class with its methods (what ``IWbemServices::GetObject`` returns)."""
    block = (bytes([wmi.CIM_CLASS | wmi.CIM_DECORATION]) + _decoration(server, namespace)
             + _empty_class_and_methods() + class_part(cls) + _methods_part(cls.methods))
    return _encoding_unit(block)


def instance_object(cls: CimClass, values: dict, server: str | None = None, namespace: str | None = None) -> bytes:
    """EncodingUnit of one instance; ``values`` by property name, None or missing = NULL."""
    heap = _Heap(encoded_string(cls.name))
    flags, slots = [], b""
    for prop in cls.props:
        value = values.get(prop.name)
        flags.append(_NULL_FLAG if value is None else 0)
        fmt = _SLOT_FORMAT[prop.cim_type]
        if value is None:
            slots += pack(fmt, 0)
        elif prop.cim_type == STRING:
            slots += pack(fmt, heap.add(encoded_string(str(value))))
        elif prop.cim_type == BOOLEAN:
            slots += pack(fmt, 0xFFFF if value else 0)
        elif prop.cim_type == OBJECT:
            raise ValueError(f"{cls.name}.{prop.name}: embedded objects are not encoded by the lab")
        else:
            slots += pack(fmt, int(value))
    instance = (pack("<B", 0) + pack("<L", 0) + _nd_table(flags) + slots + _NO_INSTANCE_PROPERTY_QUALIFIERS
                + heap.encoded())
    instance_type = class_part(cls) + pack("<L", 4 + len(instance)) + instance
    if server is None:
        return _encoding_unit(bytes([wmi.CIM_INSTANCE]) + instance_type)
    return _encoding_unit(bytes([wmi.CIM_INSTANCE | wmi.CIM_DECORATION]) + _decoration(server, namespace or "")
                          + instance_type)


def objref(encoding_unit: bytes) -> bytes:
    """OBJREF_CUSTOM carrying an object by value (MS-WMI 2.2.4.1: CLSID_WbemClassObject)."""
    ref = OBJREF_CUSTOM()
    ref["iid"] = wmi.IID_IWbemClassObject[:16]
    ref["clsid"] = wmi.CLSID_WbemClassObject
    ref["cbExtension"] = 0
    ref["ObjectReferenceSize"] = len(encoding_unit)
    ref["pObjectData"] = encoding_unit
    return ref.getData()


def decode(encoding_unit: bytes) -> tuple[str, dict]:
    """(class name, {property: value}) as impacket's parser reads the bytes (raises on bad encoding)."""
    unit = wmi.ENCODING_UNIT(encoding_unit)
    block = unit["ObjectBlock"]
    block.parseObject()
    current = block.ctCurrent
    name = current["name"].split(" ")[0]
    properties = current["values"] if block.isInstance() else current["properties"]
    return name, {key: prop["value"] for key, prop in properties.items()}


def decode_instance_values(encoding_unit: bytes) -> dict:
    """Values of an instance sent BY a client (ExecMethod in-parameters), keyed by property name."""
    return decode(encoding_unit)[1]
