"""Parameters bound as Windows PowerShell 5.1 binds them, read from the script's own ``param()`` block.

``ansible.windows.win_powershell`` hands its ``parameters`` dict to ``PowerShell.AddParameters``; the
parameter binder then converts and validates every value against the script's ``param()`` block before
one line of the script runs. The lab does the same here, for every collection script, from the
block of the very text it was sent (parsed with tree-sitter-powershell), so a twin can never accept a
value the real script would refuse, and never drifts from the script's defaults:

- names are case-insensitive; an unambiguous prefix is accepted; anything else is
  "A parameter cannot be found that matches parameter name 'X'." (the common parameters are known);
- ``[string]``: ``$null`` becomes ``""`` (``[AllowNull()]`` does not change that), numbers and booleans
  become their text; ``[int]``: numbers and numeric text, ``$null`` is 0; ``[string[]]`` /
  ``[hashtable[]]`` / ``[object[]]``: a scalar becomes a one-element array; ``[switch]`` / ``[bool]``:
  booleans and numbers only;
- ``[ValidateSet(...)]`` (case-insensitive, the caller's spelling is kept), ``[ValidateNotNullOrEmpty()]``,
  ``[ValidateRange(a, b)]`` and ``Mandatory`` (missing, null, empty string, empty array) give
  PowerShell's messages;
- a parameter that is not passed gets the block's default (a literal), or the type's empty value.

``BindingError`` carries PowerShell's message; win_powershell reports it as the script's failure.
"""

from __future__ import annotations

import functools
import math
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

import tree_sitter_powershell
from tree_sitter import Language, Parser

from smslab.handlers import ScriptError

__all__ = ["BindingError", "ParamSpec", "bind", "param_block", "repo_script_text"]

_PARSER = Parser(Language(tree_sitter_powershell.language()))
_PARSER_LOCK = threading.Lock()        # the lab serves hosts from many threads; a Parser is not shared-safe
REPO = Path(__file__).resolve().parents[3]
SCRIPT_DIR = REPO / "plugins" / "plugin_utils" / "powershell"
NO_DEFAULT = object()
# CmdletBinding adds these; SupportsShouldProcess adds WhatIf and Confirm (win_powershell passes both).
COMMON = ("Verbose", "Debug", "ErrorAction", "WarningAction", "InformationAction", "ErrorVariable",
          "WarningVariable", "InformationVariable", "OutVariable", "OutBuffer", "PipelineVariable")
SHOULD_PROCESS = ("WhatIf", "Confirm")
ARRAY_TYPES = {"string[]", "hashtable[]", "object[]", "int[]"}


class BindingError(ScriptError):
    """A parameter PowerShell would refuse to bind; ``str()`` is PowerShell's message."""


@dataclass(frozen=True)
class ParamSpec:
    name: str
    type: str = "object"                  # lower-case type literal: string, int, string[], switch ...
    mandatory: bool = False
    validate_set: tuple[str, ...] | None = None
    validate_range: tuple[int, int] | None = None
    not_null_or_empty: bool = False
    allow_null: bool = False
    allow_empty_string: bool = False
    allow_empty_collection: bool = False
    default: object = field(default=NO_DEFAULT, compare=False)


@dataclass(frozen=True)
class ParamBlock:
    params: tuple[ParamSpec, ...]
    should_process: bool

    def names(self) -> list[str]:
        return [spec.name for spec in self.params]


# ---- reading the param() block -----------------------------------------------------------------
@functools.lru_cache(maxsize=32)
def param_block(script_text: str) -> ParamBlock:
    """The script's ``param()`` block (cached per text: the same script is sent again and again)."""
    source = script_text.encode("utf-8")
    with _PARSER_LOCK:
        tree = _PARSER.parse(source)
    block = next((child for child in tree.root_node.children if child.type == "param_block"), None)
    if block is None:
        raise ValueError("lab: the script has no top-level param() block")
    text = functools.partial(_text, source)
    should_process = any("SupportsShouldProcess" in text(node) for node in block.children
                         if node.type == "attribute_list")
    params = []
    parameter_list = next((node for node in block.children if node.type == "parameter_list"), None)
    for node in (parameter_list.children if parameter_list is not None else []):
        if node.type == "script_parameter":
            params.append(_param_spec(node, text))
    return ParamBlock(tuple(params), should_process)


def _text(source: bytes, node) -> str:
    return source[node.start_byte:node.end_byte].decode("utf-8")


def _param_spec(node, text) -> ParamSpec:
    values: dict = {"name": text(next(c for c in node.children if c.type == "variable"))[1:]}
    for attribute in _descendants(node, "attribute"):
        literal = next((c for c in attribute.children if c.type == "type_literal"), None)
        if literal is not None:
            values["type"] = text(literal)[1:-1].strip().lower().replace("system.", "").replace("collections.", "")
            continue
        name = text(next(c for c in attribute.children if c.type == "attribute_name")).lower()
        arguments = [text(a).strip() for a in _descendants(attribute, "attribute_argument")]
        if name == "parameter":
            values["mandatory"] = any(re.fullmatch(r"(?i)mandatory(\s*=\s*\$true)?", a) for a in arguments)
        elif name == "validateset":
            values["validate_set"] = tuple(_literal(a) for a in arguments)
        elif name == "validaterange":
            values["validate_range"] = tuple(int(_literal(a)) for a in arguments)
        elif name == "validatenotnullorempty":
            values["not_null_or_empty"] = True
        elif name in ("allownull", "allowemptystring", "allowemptycollection"):
            values[{"allownull": "allow_null", "allowemptystring": "allow_empty_string",
                    "allowemptycollection": "allow_empty_collection"}[name]] = True
    default = next((c for c in node.children if c.type == "script_parameter_default"), None)
    if default is not None:
        values["default"] = _literal(text(default).lstrip("=").strip())
    return ParamSpec(**values)


def _descendants(node, node_type: str):
    for child in node.children:
        if child.type == node_type:
            yield child
        elif child.type not in ("script_parameter_default",):
            yield from _descendants(child, node_type)


def _literal(source: str):
    """A PowerShell literal of a default or attribute argument: 'text', "text", 12, $true, @('a', 'b')."""
    source = source.strip()
    if source.startswith("'") and source.endswith("'"):
        return source[1:-1].replace("''", "'")
    if source.startswith('"') and source.endswith('"') and "$" not in source and "`" not in source:
        return source[1:-1]
    if re.fullmatch(r"-?\d+", source):
        return int(source)
    lowered = source.lower()
    if lowered in ("$true", "$false", "$null"):
        return {"$true": True, "$false": False, "$null": None}[lowered]
    if source.startswith("@(") and source.endswith(")"):
        inner = source[2:-1].strip()
        return [] if not inner else [_literal(part) for part in _split_list(inner)]
    raise ValueError(f"lab: cannot read the PowerShell literal {source!r} of a param() block")


def _split_list(inner: str) -> list[str]:
    parts, current, quote = [], "", None
    for char in inner:
        if quote:
            current += char
            if char == quote:
                quote = None
        elif char in "'\"":
            quote, current = char, current + char
        elif char == ",":
            parts.append(current)
            current = ""
        else:
            current += char
    return parts + [current]


def repo_script_text(marker: str) -> str:
    """The collection script whose first line names ``marker`` (for handlers called without a text)."""
    for path in sorted(SCRIPT_DIR.glob("*.ps1")):
        with open(path, encoding="utf-8") as handle:
            if re.match(rf"#\s*sms\.remediation:{re.escape(marker)}\s+v\d+", handle.readline()):
                return path.read_text(encoding="utf-8")
    raise LookupError(f"lab: no collection script has the marker {marker!r}")


# ---- binding -----------------------------------------------------------------------------------
def bind(script_text: str, parameters: dict | None) -> dict:
    """``parameters`` bound to the script's param() block: {declared name: value}, every declared
    parameter present (defaults filled in). Raises BindingError with PowerShell's message."""
    block = param_block(script_text)
    by_name = {spec.name.lower(): spec for spec in block.params}
    extra = {name.lower() for name in COMMON + (SHOULD_PROCESS if block.should_process else ())}
    bound: dict = {}
    for raw_name, value in (parameters or {}).items():
        spec = _resolve(str(raw_name), by_name, extra)
        if spec is None:
            continue                      # a common parameter: not the script's business
        if spec.name in bound:
            raise BindingError(f"Cannot bind parameter because parameter '{spec.name}' is specified more than once.")
        bound[spec.name] = _convert(spec, value)
    missing = [spec.name for spec in block.params if spec.mandatory and spec.name not in bound]
    if missing:
        raise BindingError("Cannot process command because of one or more missing mandatory parameters: "
                           + " ".join(missing) + ".")
    for spec in block.params:
        if spec.name not in bound:
            bound[spec.name] = _unbound(spec)
    return bound


def _resolve(name: str, by_name: dict, extra: set) -> ParamSpec | None:
    lowered = name.lower()
    if lowered in by_name:
        return by_name[lowered]
    if lowered in extra:
        return None
    candidates = sorted({spec.name for key, spec in by_name.items() if key.startswith(lowered)}
                        | {common for common in extra if common.startswith(lowered)})
    if len(candidates) == 1 and candidates[0].lower() in by_name:
        return by_name[candidates[0].lower()]
    if len(candidates) > 1:
        raise BindingError(f"Parameter cannot be processed because the parameter name '{name}' is ambiguous. "
                           f"Possible matches include: {' '.join('-' + c for c in candidates)}.")
    if len(candidates) == 1:
        return None
    raise BindingError(f"A parameter cannot be found that matches parameter name '{name}'.")


def _unbound(spec: ParamSpec):
    if spec.default is not NO_DEFAULT:
        return _convert(spec, spec.default, validate=False)
    return {"string": "", "int": 0, "long": 0, "switch": False, "bool": False}.get(spec.type)


def _convert(spec: ParamSpec, value, validate: bool = True):
    kind = spec.type
    if kind in ARRAY_TYPES:
        converted = None if value is None else [_element(spec, item) for item in
                                                (value if isinstance(value, (list, tuple)) else [value])]
    else:
        converted = _element(spec, value, array=False)
    if validate:
        _validate(spec, converted)
    return converted


def _element(spec: ParamSpec, value, array: bool = True):
    kind = spec.type[:-2] if array and spec.type.endswith("[]") else spec.type
    if kind == "string":
        return _as_string(value)
    if kind in ("int", "long"):
        return _as_int(spec, value, kind)
    if kind in ("switch", "bool"):
        if value is None or isinstance(value, bool):
            return bool(value)
        if isinstance(value, (int, float)):
            return value != 0
        raise BindingError(f"Cannot process argument transformation on parameter '{spec.name}'. Cannot convert value "
                           f"\"{_ps_type(value)}\" to type \"System.Boolean\". Boolean parameters accept only Boolean "
                           "values and numbers, such as $True, $False, 1 or 0.")
    if kind == "hashtable":
        if value is None or isinstance(value, dict):
            return value
        raise BindingError(f"Cannot process argument transformation on parameter '{spec.name}'. Cannot convert the "
                           f"\"{_as_string(value)}\" value of type \"{_ps_type(value)}\" to type "
                           "\"System.Collections.Hashtable\".")
    return value                                   # [object] / [object[]] elements: as they are


def _as_string(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (list, tuple)):
        return " ".join(_as_string(item) for item in value)       # $OFS, a space
    if isinstance(value, dict):
        return "System.Collections.Hashtable"
    return str(value)


def _as_int(spec: ParamSpec, value, kind: str) -> int:
    limit = 2 ** 31 if kind == "int" else 2 ** 63
    net_type = "System.Int32" if kind == "int" else "System.Int64"
    if value is None:
        return 0
    try:
        if isinstance(value, bool):
            number = int(value)
        elif isinstance(value, float):
            number = round(value)                 # .NET rounds half to even, as Python does
        elif isinstance(value, int):
            number = value
        elif isinstance(value, str) and re.fullmatch(r"\s*[-+]?\d+\s*", value):
            number = int(value)
        elif isinstance(value, str) and re.fullmatch(r"\s*[-+]?\d*\.\d+\s*", value):
            number = round(float(value))
        else:
            raise ValueError("Input string was not in a correct format.")
    except ValueError as exc:
        raise BindingError(f"Cannot process argument transformation on parameter '{spec.name}'. Cannot convert value "
                           f"\"{_as_string(value)}\" to type \"{net_type}\". Error: \"{exc}\"") from None
    if not -limit <= number < limit or (isinstance(value, float) and not math.isfinite(value)):
        raise BindingError(f"Cannot process argument transformation on parameter '{spec.name}'. Cannot convert value "
                           f"\"{_as_string(value)}\" to type \"{net_type}\". Error: \"Value was either too large or "
                           f"too small for an {net_type[7:]}.\"")
    return number


def _ps_type(value) -> str:
    return {str: "System.String", bool: "System.Boolean", int: "System.Int32", float: "System.Double",
            dict: "System.Collections.Hashtable", list: "System.Object[]"}.get(type(value), "System.Object")


def _validate(spec: ParamSpec, value) -> None:
    items = value if isinstance(value, list) else [value]
    prefix = f"Cannot validate argument on parameter '{spec.name}'."
    if spec.mandatory:
        if value is None and not spec.allow_null:
            raise BindingError(f"Cannot bind argument to parameter '{spec.name}' because it is null.")
        if isinstance(value, list) and not value and not spec.allow_empty_collection:
            raise BindingError(f"Cannot bind argument to parameter '{spec.name}' because it is an empty array.")
        if any(item == "" for item in items) and not (spec.allow_empty_string or spec.allow_null):
            raise BindingError(f"Cannot bind argument to parameter '{spec.name}' because it is an empty string.")
    if spec.not_null_or_empty and (value is None or value == [] or any(item in ("", None) for item in items)):
        raise BindingError(f"{prefix} The argument is null or empty. Provide an argument that is not null or empty, "
                           "and then try the command again.")
    if spec.validate_set is not None:
        allowed = {str(choice).lower() for choice in spec.validate_set}
        for item in items:
            if item is not None and str(item).lower() not in allowed:
                raise BindingError(f"{prefix} The argument \"{item}\" does not belong to the set "
                                   f"\"{','.join(map(str, spec.validate_set))}\" specified by the ValidateSet "
                                   "attribute. Supply an argument that is in the set and then try the command again.")
    if spec.validate_range is not None:
        low, high = spec.validate_range
        for item in items:
            if item is not None and item < low:
                raise BindingError(f"{prefix} The {item} argument is less than the minimum allowed range of {low}. "
                                   f"Supply an argument that is greater than or equal to {low} and then try the "
                                   "command again.")
            if item is not None and item > high:
                raise BindingError(f"{prefix} The {item} argument is greater than the maximum allowed range of "
                                   f"{high}. Supply an argument that is less than or equal to {high} and then try "
                                   "the command again.")
