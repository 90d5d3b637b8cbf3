# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The WMI objects of a call's answer, as {property: value} (private to this collection).

The OBJREFs an enumerator's ``IEnumWbemClassObject::Next`` returns and the one ``IWbemServices::GetObject``
returns, each requested as impacket's own methods request it but without building impacket's ``IWbemClassObject``
for every object: ``wmi_decode.row`` reads the values (each class part parsed once), and impacket's object is built
only for what that does not read."""

from __future__ import annotations

from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc import wmi_decode

WBEM_S_FALSE = 0x00000001
WBEM_E_NOT_FOUND = 0x80041002


def next_objrefs(enum, count: int) -> tuple[list[bytes], bool]:
    """The OBJREFs of up to ``count`` objects (IEnumWbemClassObject::Next, as impacket's ``Next`` sends it) and
    whether the enumeration ended (WBEM_S_FALSE: fewer than asked)."""
    from impacket.dcerpc.v5.dcom import wmi
    request = wmi.IEnumWbemClassObject_Next()
    request["lTimeout"] = wmi.WBEM_INFINITE
    request["uCount"] = count
    done = False
    try:
        answer = enum.request(request, iid=enum._iid, uuid=enum.get_iPid())  # pylint: disable=protected-access
    except wmi.DCERPCSessionError as exc:
        if exc.get_error_code() != WBEM_S_FALSE:
            raise
        answer, done = exc.get_packet(), True
    return [b"".join(item["abData"]) for item in (answer["apObjects"] if answer is not None else [])], done


def object_ref(services, path: str) -> bytes | None:
    """The OBJREF of the object at ``path`` (IWbemServices::GetObject, as impacket's ``GetObject`` sends it), None
    when WMI has none (WBEM_E_NOT_FOUND); any other error is impacket's."""
    from impacket.dcerpc.v5.dcom import wmi
    from impacket.dcerpc.v5.dtypes import NULL
    request = wmi.IWbemServices_GetObject()
    request["strObjectPath"]["asData"] = path
    request["lFlags"] = 0
    request["pCtx"] = NULL
    try:
        answer = services.request(request, iid=services._iid, uuid=services.get_iPid())  # pylint: disable=protected-access
    except wmi.DCERPCSessionError as exc:
        if exc.get_error_code() == WBEM_E_NOT_FOUND:
            return None
        raise
    return b"".join(answer["ppObject"]["abData"])


def values(interface, services, objref: bytes) -> dict:
    """{property: value} of ``objref``: ``wmi_decode.row``, else impacket's own IWbemClassObject for it (as its
    ``IEnumWbemClassObject.Next`` builds it, on ``interface``: the enumerator or the services)."""
    found = wmi_decode.row(objref)
    if found is not None:
        return found
    from impacket.dcerpc.v5.dcom import wmi
    from impacket.dcerpc.v5.dcomrt import INTERFACE
    obj = wmi.IWbemClassObject(INTERFACE(interface.get_cinstance(), objref, interface.get_ipidRemUnknown(),
                                         oxid=interface.get_oxid(), target=interface.get_target()), services)
    return {name: prop["value"] for name, prop in obj.getProperties().items()}
