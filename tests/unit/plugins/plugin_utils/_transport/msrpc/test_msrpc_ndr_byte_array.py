"""impacket_speedups' byte-array path: an NDR array of ``'c'`` items packs to the bytes impacket's own loop packs
and unpacks to the same fields (each byte a one-byte string, truncated data included), for the arrays the
transport exchanges (an OBJREF's abData, MS-RRP value buffers), random contents and counts; anything else (an
array of numbers or structures, a bad item) goes to impacket's code, which says what is wrong as before."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings, strategies as st
from impacket.dcerpc.v5 import dcomrt, ndr, rrp

from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc import impacket_speedups


@pytest.fixture
def both():
    """Run a callable with impacket's own arrays, then with the byte-array path; the state as it was after."""
    was = impacket_speedups.applied()

    def run(action):
        impacket_speedups.remove()
        random.seed(22)                  # NDR referent ids are random: the same ones both times
        plain = action()
        assert impacket_speedups.apply()
        assert ndr.NDRArray.unpack is not ndr.NDRArray.unpack.impacket_original
        random.seed(22)
        return plain, action()
    yield run
    impacket_speedups.remove()
    if was:
        impacket_speedups.apply()


def interface_pointer(data: bytes) -> bytes:
    pointer = dcomrt.MInterfacePointer()
    pointer["ulCntData"] = len(data)
    pointer["abData"] = list(data)
    return pointer.getData()


def value_request(size: int) -> bytes:
    request = rrp.BaseRegQueryMultipleValues()
    request["num_vals"] = 0
    request["ldwTotsize"] = size
    request["lpvalueBuf"] = list(bytes(size))
    return request.getData()


@settings(max_examples=60, deadline=None)
@given(data=st.binary(max_size=3000))
def test_an_objref_packs_and_unpacks_as_impacket_does(data):
    impacket_speedups.remove()
    plain = interface_pointer(data)
    parsed = dcomrt.MInterfacePointer(plain)
    plain_fields = (parsed["ulCntData"], list(parsed["abData"]))
    assert impacket_speedups.apply()
    try:
        assert interface_pointer(data) == plain
        fast = dcomrt.MInterfacePointer(plain)
        assert (fast["ulCntData"], list(fast["abData"])) == plain_fields and b"".join(fast["abData"]) == data
    finally:
        impacket_speedups.remove()
        impacket_speedups.apply()


@pytest.mark.parametrize("size", [0, 1, 3, 256, 16384])
def test_a_registry_value_buffer_is_the_same_request(both, size):
    plain, fast = both(lambda: value_request(size))
    assert fast == plain


@pytest.mark.parametrize("cut", [0, 5, 11, 40])
def test_truncated_data_stops_where_impacket_stops(both, cut):
    def parse():
        array = dcomrt.BYTE_ARRAY()
        array.setArraySize(40)                  # what the enclosing structure read as the conformance
        read = array.unpack("Data", "*MaximumCount", bytes(range(40))[:cut])
        return read, list(array.fields["Data"])
    plain, fast = both(parse)
    assert fast == plain and fast[0] == cut


def test_anything_else_goes_to_impacket_s_code(both):
    def numbers():
        array = ndr.NDRUniConformantArray()
        array.item = "<L"
        array.fields["Data"] = [1, 2, 3]
        return array.getData()
    plain, fast = both(numbers)
    assert fast == plain

    def bad_item():
        pointer = dcomrt.MInterfacePointer()
        pointer["ulCntData"] = 2
        pointer["abData"] = [b"ab", b"c"]          # not one byte: impacket's struct.error, as before
        with pytest.raises(Exception) as raised:
            pointer.getData()
        return type(raised.value)
    plain, fast = both(bad_item)
    assert fast is plain
