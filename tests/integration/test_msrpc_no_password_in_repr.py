"""No password in the ``repr`` or ``str`` of any object of a connected msrpc transport (issue 18, defect 9): after a
probe and a file write over a real SMB1 session (Samba, the nt4 profile), every object reachable from the
transport - settings, session, helpers, impacket's connection and its SMB1 layer, open pipes, caches - is
and the WMI client's DCOM objects - walked and printed both ways; none shows the password, its NT hash or the hash in hex."""

from __future__ import annotations

import dataclasses
import hashlib

from msrpc_harness import probe_parameters, samba_site, transport

SITE = "sms610"                 # demo.yml: NT 4.0 (profile nt4)
PRIMITIVES = (str, bytes, bytearray, int, float, bool, type(None))


def reachable(root, limit: int = 20000):
    """Every object reachable from ``root`` through attributes, dataclass fields, mappings and sequences
    (primitives, modules, functions and classes left out)."""
    seen, stack, found = set(), [root], []
    while stack and len(found) < limit:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, PRIMITIVES) or isinstance(obj, type) or callable(obj) and not hasattr(obj, "__dict__"):
            continue
        seen.add(id(obj))
        found.append(obj)
        if isinstance(obj, dict):
            stack.extend(obj.keys())
            stack.extend(obj.values())
            continue
        if isinstance(obj, (list, tuple, set, frozenset)):
            stack.extend(obj)
            continue
        if dataclasses.is_dataclass(obj):
            stack.extend(getattr(obj, f.name) for f in dataclasses.fields(obj))
        stack.extend(vars(obj).values() if hasattr(obj, "__dict__") else [])
        stack.extend(getattr(obj, slot) for slot in getattr(type(obj), "__slots__", ()) if hasattr(obj, slot))
    return found


def nt_hash(password: str) -> bytes:
    return hashlib.new("md4", password.encode("utf-16-le")).digest() if "md4" in hashlib.algorithms_available else b""


def test_no_object_of_a_connected_transport_prints_the_password(tmp_path):
    with samba_site(tmp_path, hosts=[SITE], wmi=True) as (_state_dir, lab, wmi):
        password = lab.inventory_vars(SITE)["q244405_msrpc_password"]
        host = transport(lab, SITE, tmp_path, wmi_addresses=wmi)
        host.probe(probe_parameters())
        host.ops.files.write_bytes("C:\\SMS\\repr-check.txt", b"x" * 40000, "test")
        secrets = [password, password.encode().hex()]
        digest = nt_hash(password)
        if digest:
            secrets += [digest.hex(), digest.hex().upper()]
        objects = reachable(host)
        kinds = {type(o).__module__.split(".")[0] for o in objects}
        assert {"ansible_collections", "impacket"} <= kinds, kinds      # the walk reached both
        holders = {type(o).__name__ for o in objects if password in getattr(o, "__dict__", {}).values()}
        assert {"MsrpcSettings", "SMB", "DCOMConnection", "TransceiveTransport"} <= holders, holders   # and the holders
        leaks = []
        for obj in objects:
            for show in (repr, str):
                try:
                    text = show(obj)
                except Exception:  # pylint: disable=broad-exception-caught  # an object that cannot print leaks nothing
                    continue
                if any(secret in text for secret in secrets):
                    leaks.append(f"{type(obj).__module__}.{type(obj).__qualname__} ({show.__name__})")
        host.close()
        assert not leaks, sorted(set(leaks))
