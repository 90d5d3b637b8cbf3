# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""impacket's structure format expressions compiled once instead of on every use (private to this collection).

impacket describes every packet field with a format string; a field with a default or a computed value carries a
Python expression (``'<H=len(Buffer)'``, ``'_-Data', 'DataLength'``, NDR defaults such as ``'NULL'``), and
``impacket/structure.py`` (``Structure.pack`` / ``unpack``) and ``impacket/dcerpc/v5/ndr.py`` (``NDR.__init__`` /
``pack``) hand that string to ``eval()`` each time a packet is built or parsed: about 4,600 compilations of the
same few hundred expressions per facts probe (``benchmarks/bench_msrpc_probe.py --profile``).

``apply()`` gives those two modules, and only them, an ``eval`` that compiles each expression string once and
then evaluates the compiled code exactly as ``eval`` would (same globals and locals; the caller's when none are
given, as the built-in does). It also gives ``ndr.NDRArray`` a byte-array path: an array of ``'c'`` items (an
OBJREF's ``abData``, a registry value buffer) is packed and unpacked in one slice instead of one ``struct`` call,
pad computation and list append per byte (a WMI object is a few KB: ~25 ms of controller CPU per probe), giving
the same list of one-byte strings and the same bytes; any other array goes to impacket's own code. Nothing else in
impacket or Python changes. It is pinned: on an impacket other than
``PINNED_VERSION`` it warns and changes nothing, since another version may use ``eval`` differently. The same
change, for impacket itself: ``docs/impacket-structure-eval-cache.patch`` and ``docs/impacket-ndr-byte-array.patch``. Applied explicitly by the transport
(``preload.preload()`` and the probe); ``remove()`` undoes it."""

from __future__ import annotations

import builtins
import functools
import sys
import warnings

PINNED_VERSION = "0.13.1"
MODULES = ("impacket.structure", "impacket.dcerpc.v5.ndr")
MAX_EXPRESSIONS = 4096          # impacket has a few hundred distinct expressions; a bound all the same
_compiled: dict[str, object] = {}
_refused: list[str] = []        # the version refused, once: a controller warns once, not once per host


def cached_eval(expression, globals_=None, locals_=None):  # pylint: disable=redefined-builtin
    """``eval(expression, globals_, locals_)`` with a string compiled once; the caller's namespaces when none given."""
    if isinstance(expression, str):
        code = _compiled.get(expression)
        if code is None:
            code = compile(expression, "<impacket expression>", "eval")
            if len(_compiled) < MAX_EXPRESSIONS:
                _compiled[expression] = code
        expression = code
    if globals_ is None:                # eval() without namespaces evaluates in its caller's frame
        caller = sys._getframe(1)       # pylint: disable=protected-access
        return builtins.eval(expression, caller.f_globals, caller.f_locals if locals_ is None else locals_)
    return builtins.eval(expression, globals_, locals_)


@functools.lru_cache(maxsize=1)
def impacket_version() -> str | None:
    """Read once per process: importlib parses the distribution's metadata (e-mail headers) on every call, ~1 ms,
    and the WMI decoder asks for each object."""
    try:
        from importlib.metadata import version
        return version("impacket")
    except Exception:  # not installed as a distribution: unknown
        return None


def is_pinned() -> bool:
    """The installed impacket is the one this collection's impacket-specific code is made and tested for."""
    return impacket_version() == PINNED_VERSION


def _byte_items(array, field_type: str) -> bool:
    return array.item == "c" and field_type.count("*") == 1


def byte_array_unpack(original):
    def unpack(self, fieldName, fieldTypeOrClass, data, offset=0):  # noqa: N803 - impacket's signature
        if not _byte_items(self, fieldTypeOrClass):
            return original(self, fieldName, fieldTypeOrClass, data, offset)
        from impacket.dcerpc.v5 import ndr
        # the item count as NDRArray.unpack takes it; it stops at the end of the data as impacket's loop does
        count = self.getArraySize() if isinstance(self, ndr.NDRUniConformantArray) \
            else self[fieldTypeOrClass.split("*")[1]]
        chunk = bytes(data[offset:offset + max(0, min(count, len(data) - offset))])
        self.fields[fieldName] = [chunk[index:index + 1] for index in range(len(chunk))]
        return len(chunk)
    unpack.impacket_original = original
    return unpack


def byte_array_pack(original):
    def pack(self, fieldName, fieldTypeOrClass, soFar=0):  # noqa: N803 - impacket's signature
        items = self.fields.get(fieldName) if _byte_items(self, fieldTypeOrClass) else None
        if not isinstance(items, list) or not all(
                (isinstance(each, int) and 0 <= each < 256) or (isinstance(each, bytes) and len(each) == 1)
                for each in items):
            return original(self, fieldName, fieldTypeOrClass, soFar)      # anything else: impacket says what
        from impacket.dcerpc.v5 import ndr
        answer = b"".join(bytes([each]) if isinstance(each, int) else each for each in items)
        if isinstance(self, (ndr.NDRUniConformantArray, ndr.NDRUniConformantVaryingArray)):
            self.setArraySize(len(items))
        else:
            self.fields[fieldTypeOrClass.split("*")[1]] = len(items)
        return answer
    pack.impacket_original = original
    return pack


def applied() -> bool:
    from_eval = all(getattr(sys.modules.get(name), "eval", None) is cached_eval for name in MODULES)
    ndr = sys.modules.get("impacket.dcerpc.v5.ndr")
    return from_eval and ndr is not None and hasattr(ndr.NDRArray.unpack, "impacket_original")


def apply(warn=None) -> bool:
    """Give impacket's structure and NDR modules the compiled-once ``eval``; False (with a warning) when the
    installed impacket is not ``PINNED_VERSION`` or cannot be imported."""
    found = impacket_version()
    if found != PINNED_VERSION:
        if _refused:
            return False
        _refused.append(str(found))
        (warn or (lambda text: warnings.warn(text, RuntimeWarning, stacklevel=2)))(
            f"sms.remediation: impacket {found or 'of unknown version'} is installed; the structure expression cache "
            f"is made for impacket {PINNED_VERSION} and is not applied (msrpc works, with more controller CPU)")
        return False
    try:
        modules = [__import__(name, fromlist=["_"]) for name in MODULES]
    except ImportError:
        return False
    for module in modules:
        module.eval = cached_eval
    array = modules[1].NDRArray
    if not hasattr(array.unpack, "impacket_original"):
        array.unpack = byte_array_unpack(array.unpack)
        array.pack = byte_array_pack(array.pack)
    return True


def remove() -> None:
    """impacket's modules as they were (the built-in ``eval``)."""
    for name in MODULES:
        module = sys.modules.get(name)
        if module is not None and getattr(module, "eval", None) is cached_eval:
            del module.eval
    ndr = sys.modules.get("impacket.dcerpc.v5.ndr")
    if ndr is not None and hasattr(ndr.NDRArray.unpack, "impacket_original"):
        ndr.NDRArray.unpack = ndr.NDRArray.unpack.impacket_original
        ndr.NDRArray.pack = ndr.NDRArray.pack.impacket_original
