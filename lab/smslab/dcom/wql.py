"""The classes the lab's WMI knows, per namespace, and the WQL subset it answers from a host's state.

WQL here is ``SELECT <props>|* FROM <class> [WHERE <prop> = <literal>]``: what the collection sends
(``plugins/plugin_utils/_transport/msrpc/wmi.py``). A class the namespace does not have answers
``WBEM_E_INVALID_CLASS``, a property the class does not have or anything outside the subset
``WBEM_E_INVALID_QUERY``, as WMI does. String comparisons ignore case, as WQL's do.

NT 4.0's (and Windows 2000's) ``Win32_Process`` has no ``CommandLine`` (it came with Windows XP); the
lab adds it only for a host whose ``host.json`` ``wmi.process_command_line`` is true.

An SMS 2.0 RTM provider (``host.json`` ``lab.build: rtm``, the scenario's ``build``) has ``SMS_Package``
without ``ActionInProgress``: the property is documented from SP1 on (SMS 2003 SDK;
``../shared/notes/legacy-hosts.md``), so a query naming it is refused there as WMI refuses any unknown
property (``WBEM_E_INVALID_QUERY``) and ``select *`` rows do not carry it.
"""

from __future__ import annotations

import ntpath
import re

from smslab.dcom.wmio import BOOLEAN, OBJECT, STRING, UINT32, CimClass, Method, Prop

WBEM_E_NOT_FOUND = 0x80041002
WBEM_E_ACCESS_DENIED = 0x80041003
WBEM_E_INVALID_NAMESPACE = 0x8004100E
WBEM_E_INVALID_CLASS = 0x80041010
WBEM_E_INVALID_QUERY = 0x80041017
WBEM_E_INVALID_METHOD = 0x8004102E
WBEM_E_INVALID_METHOD_PARAMETERS = 0x8004102F
WBEM_E_NOT_SUPPORTED = 0x8004100C
WBEM_E_INVALID_OBJECT_PATH = 0x8004103A


class WbemError(Exception):
    def __init__(self, hresult: int, reason: str):
        super().__init__(f"0x{hresult:08x}: {reason}")
        self.hresult = hresult


PROVIDER_LOCATION = CimClass("SMS_ProviderLocation", (
    Prop("Machine", STRING, key=True), Prop("NamespacePath", STRING), Prop("ProviderForLocalSite", BOOLEAN),
    Prop("SiteCode", STRING, key=True)))
PACKAGE = CimClass("SMS_Package", (
    Prop("PackageID", STRING, key=True), Prop("Name", STRING), Prop("ActionInProgress", UINT32),
    Prop("SourceSite", STRING)))
PACKAGE_RTM = CimClass("SMS_Package", tuple(p for p in PACKAGE.props if p.name != "ActionInProgress"))
SITE = CimClass("SMS_Site", (
    Prop("SiteCode", STRING, key=True), Prop("SiteName", STRING), Prop("ReportingSiteCode", STRING),
    Prop("Type", UINT32), Prop("Version", STRING), Prop("BuildNumber", UINT32), Prop("InstallDir", STRING),
    Prop("ServerName", STRING), Prop("Status", UINT32)))
PROCESS_CREATE = Method(
    "Create",
    (Prop("CommandLine", STRING), Prop("CurrentDirectory", STRING),
     Prop("ProcessStartupInformation", OBJECT, cimtype_text="object:Win32_ProcessStartup")),
    (Prop("ProcessId", UINT32), Prop("ReturnValue", UINT32)))
_PROCESS_PROPS = (Prop("Handle", STRING, key=True), Prop("Name", STRING), Prop("ProcessId", UINT32),
                  Prop("ParentProcessId", UINT32), Prop("ExecutablePath", STRING))
PROCESS_NT4 = CimClass("Win32_Process", _PROCESS_PROPS, ("CIM_Process", "CIM_LogicalElement",
                                                         "CIM_ManagedSystemElement"), (PROCESS_CREATE,))
PROCESS_XP = CimClass("Win32_Process", _PROCESS_PROPS + (Prop("CommandLine", STRING),), PROCESS_NT4.superclasses,
                      (PROCESS_CREATE,))

_QUERY = re.compile(r"^\s*select\s+(?P<props>\*|[A-Za-z_][\w]*(?:\s*,\s*[A-Za-z_][\w]*)*)\s+from\s+"
                    r"(?P<cls>[A-Za-z_][\w]*)(?:\s+where\s+(?P<prop>[A-Za-z_][\w]*)\s*=\s*"
                    r"(?P<value>'[^']*'|\"[^\"]*\"|-?\d+|true|false))?\s*;?\s*$", re.IGNORECASE)


def normalise_namespace(path: str) -> str:
    """``\\\\.\\root\\SMS\\site_610`` (slashes too) or ``\\\\HOST\\root\\cimv2`` -> ``root\\SMS\\site_610``."""
    text = (path or "").replace("/", "\\")
    match = re.match(r"^\\\\[^\\]+\\(.*)$", text)
    return (match.group(1) if match else text).strip("\\")


def classes_of(namespace: str, state) -> dict[str, CimClass] | None:
    """The classes of ``namespace`` on this host, or None when the namespace does not exist there."""
    key = namespace.lower()
    if key == "root\\cimv2":
        process = PROCESS_XP if state.wmi.get("process_command_line") else PROCESS_NT4
        return {"win32_process": process}
    sms_up = state.wmi.get("available", True) and not state.faults.get("wmi_unavailable")
    if not sms_up:
        return None
    if key == "root\\sms":
        return {"sms_providerlocation": PROVIDER_LOCATION}
    site = (state.wmi.get("site") or {}).get("SiteCode")
    if site and key == f"root\\sms\\site_{site}".lower():
        package = PACKAGE_RTM if str((state.data.get("lab") or {}).get("build") or "").lower() == "rtm" else PACKAGE
        return {"sms_package": package, "sms_site": SITE}
    return None


def _literal(text: str):
    if text[0] in "'\"":
        return text[1:-1]
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    return int(text)


def _matches(value, wanted) -> bool:
    if isinstance(wanted, str):
        return value is not None and str(value).lower() == wanted.lower()
    if isinstance(wanted, bool):
        return bool(value) is wanted
    return value is not None and int(value) == wanted


def _named_class(namespace: str, state, pattern: re.Pattern, text: str, malformed: tuple[int, str]):
    """(class, match) of the class a query or an object path names; WbemError for a namespace the host lacks, a
    text ``pattern`` does not read (``malformed``: hresult and reason) or a class the namespace lacks."""
    classes = classes_of(namespace, state)
    if classes is None:
        raise WbemError(WBEM_E_INVALID_NAMESPACE, f"namespace {namespace} does not exist")
    match = pattern.match(text or "")
    if not match:
        raise WbemError(*malformed)
    cls = classes.get(match.group("cls").lower())
    if cls is None:
        raise WbemError(WBEM_E_INVALID_CLASS, f"class {match.group('cls')} is not in {namespace}")
    return cls, match


def run_query(query: str, namespace: str, state, processes: list[dict]) -> tuple[CimClass, list[dict]]:
    """(projected class, rows) for ``query`` in ``namespace``; raises ``WbemError``."""
    cls, match = _named_class(namespace, state, _QUERY, query,
                              (WBEM_E_INVALID_QUERY, f"not a query the lab answers: {query!r}"))
    names = {p.name.lower(): p.name for p in cls.props}
    selected = [n.strip() for n in match.group("props").split(",")] if match.group("props") != "*" else None
    for name in (selected or []) + ([match.group("prop")] if match.group("prop") else []):
        if name.lower() not in names:
            raise WbemError(WBEM_E_INVALID_QUERY, f"{cls.name} has no property {name}")
    rows = _rows(cls.name, state, processes)
    if match.group("prop"):
        column, wanted = names[match.group("prop").lower()], _literal(match.group("value"))
        rows = [row for row in rows if _matches(row.get(column), wanted)]
    return (cls.only(selected) if selected else cls), rows


def provider_location_rows(state) -> list[dict]:
    """``SMS_ProviderLocation``: the host's own site's provider (none without a site); also sms_hierarchy.ps1's twin."""
    site = state.wmi.get("site") or {}
    machine = site.get("ServerName") or state.environment.get("COMPUTERNAME", state.name.upper())
    code = site.get("SiteCode")
    return [{"Machine": machine, "SiteCode": code, "ProviderForLocalSite": True,
             "NamespacePath": f"\\\\{machine}\\root\\SMS\\site_{code}"}] if code else []


def site_rows(state) -> list[dict]:
    """``SMS_Site``: a site's provider lists it and the sites beneath it; also sms_hierarchy.ps1's twin."""
    site = state.wmi.get("site")
    return [dict(row) for row in state.wmi.get("sites") or ([site] if site else [])]


def _rows(class_name: str, state, processes: list[dict]) -> list[dict]:
    if class_name == "SMS_ProviderLocation":
        return provider_location_rows(state)
    if class_name == "SMS_Package":
        return [dict(row) for row in state.wmi.get("packages") or []]
    if class_name == "SMS_Site":
        return site_rows(state)
    return processes


def process_rows(state, started: list[dict]) -> list[dict]:
    """Win32_Process rows: the host's ``processes`` (an open console, ...) and the ones Create started."""
    rows = []
    for index, proc in enumerate(state.processes):
        command = str(proc.get("command_line") or "")
        path = proc.get("executable_path") or (_first_token(command) if command else None)
        pid = int(proc.get("pid") or 1000 + 4 * index)
        rows.append({"Handle": str(pid), "Name": proc.get("name"), "ProcessId": pid, "ParentProcessId": 4,
                     "ExecutablePath": path, "CommandLine": command or None})
    for proc in started:
        rows.append({"Handle": str(proc["pid"]), "Name": ntpath.basename(proc["path"]), "ProcessId": proc["pid"],
                     "ParentProcessId": 4, "ExecutablePath": proc["path"], "CommandLine": proc["command_line"]})
    return rows


def _first_token(command: str) -> str:
    command = command.strip()
    if command.startswith('"'):
        return command[1:].split('"', 1)[0]
    return command.split(" ", 1)[0]


def split_command_line(command: str) -> list[str]:
    """``"C:\\x y\\Q244405.exe" /s`` -> [path, "/s"] (the quoting rules CreateProcess applies to argv[0])."""
    first = _first_token(command)
    rest = command.strip()[len(first) + (2 if command.strip().startswith('"') else 0):]
    return [first] + rest.split()


# A relative instance path as WMI writes it (``SMS_Site.SiteCode="610"``, ``Win32_Process.Handle="4"``): the class,
# then every key property once, strings in double quotes with backslash escapes, numbers bare.
_INSTANCE_PATH = re.compile(r'^(?P<cls>[A-Za-z_]\w*)\.(?P<keys>.+)$')
_KEY_VALUE = re.compile(r'\s*(?P<prop>[A-Za-z_]\w*)\s*=\s*(?:"(?P<text>(?:[^"\\]|\\.)*)"|(?P<number>-?\d+))\s*(?:,|$)')


def instance_at(path: str, namespace: str, state, processes: list[dict]) -> tuple[CimClass, dict]:
    """(class, row) of the instance at ``path`` (IWbemServices::GetObject, opnum 6); raises ``WbemError``
    as WMI does: a malformed path, a key that is not the class's (or one missing) ``WBEM_E_INVALID_OBJECT_PATH``,
    an unknown class ``WBEM_E_INVALID_CLASS``, no such instance ``WBEM_E_NOT_FOUND``."""
    cls, match = _named_class(namespace, state, _INSTANCE_PATH, path,
                              (WBEM_E_INVALID_OBJECT_PATH, f"not an instance path: {path!r}"))
    keys = {p.name.lower(): p for p in cls.props if p.key}
    given, rest = {}, match.group("keys")
    while rest:
        pair = _KEY_VALUE.match(rest)
        prop = keys.get(pair.group("prop").lower()) if pair else None
        if prop is None or prop.name in given or (pair.group("text") is None) != (prop.cim_type != STRING):
            raise WbemError(WBEM_E_INVALID_OBJECT_PATH, f"{path!r}: the keys of {cls.name} are {', '.join(keys)}")
        text = pair.group("text")
        given[prop.name] = re.sub(r"\\(.)", r"\1", text) if text is not None else int(pair.group("number"))
        rest = rest[pair.end():]
        if not rest and pair.group(0).rstrip().endswith(","):
            raise WbemError(WBEM_E_INVALID_OBJECT_PATH, f"{path!r}: a key is missing after the comma")
    if len(given) != len(keys):
        raise WbemError(WBEM_E_INVALID_OBJECT_PATH, f"{path!r}: the keys of {cls.name} are {', '.join(keys)}")
    for row in _rows(cls.name, state, processes):
        if all(_matches(row.get(name), value) for name, value in given.items()):
            return cls, row
    raise WbemError(WBEM_E_NOT_FOUND, f"no {cls.name} at {path!r}")
