# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""WMI over DCOM for the msrpc transport (private to this collection): the SMS Provider's packages and site, the console check, the
hotfix installer. impacket's DCOM and MS-WMI client (``DCOMConnection``, ``IWbemLevel1Login.NTLMLogin``,
``ExecQuery``, ``GetObject``, ``ExecMethod``; the objects read by ``wmi_objects``), NTLMv2 at the level of ``q244405_msrpc_dcom_auth_level`` (default
PKT_PRIVACY). Activation through IRemoteSCMActivator where the server has it, IActivation where it does
not (Windows NT 4.0, COM 5.4): ``activation.py``.

``session``: the msrpc transport's per-task connection object (``msrpc.connection.MsrpcSession``). Only
``session.settings`` is read: ``host`` (inventory name), ``address`` (or ``wmi_address`` when set: where
the host's port 135 answers, if not at ``ansible_host``), ``user``, ``password``, ``domain``, ``timeout``
and ``allow_ntlmv1``. The calls of one task share one DCOM connection, kept on the session and closed with
it (``connected``); each call is bounded by ``timeout`` seconds in all: when it runs out, the sockets are
closed under impacket and the call fails with a timeout message (impacket's own socket timeout is 300 s).

Entry points (``wmi_hook`` calls the first three):

- ``active_packages(session, site_code, timeout)`` -> the probe's ``active_packages``: ``select PackageID,
  ActionInProgress, SourceSite from SMS_Package`` in ``root\\SMS\\site_<code>`` (the namespace found through
  ``root\\SMS`` ``SMS_ProviderLocation`` when the site code is unknown). Any failure gives
  ``available: false`` with the reason and ``packages: None``: never an empty list, so nothing is removed.
- ``site(session, site_code, timeout)`` -> the probe's ``wmi_site`` (``SMS_Site`` read by its key with one
  ``GetObject``: the fallback when ``Setup\\Full Version`` is missing).
- ``console_open(session, process, snap_in, timeout)`` -> True / False / None (unknown). NT 4.0's and
  Windows 2000's ``Win32_Process`` have no ``CommandLine`` (it came with Windows XP), so there the check
  sees that an ``mmc.exe`` runs but not which snap-in it opened: any ``mmc.exe`` counts as an open SMS
  console (the safe reading: the KB says to close the console before the hotfix). Where ``CommandLine``
  exists, only an ``mmc.exe`` whose command line names ``sms.msc`` counts.
- ``run_installer(session, path, arguments, timeout, platform, read_log)`` -> the seam's ``{"rc",
  "stdout", "stderr"}``: ``Win32_Process.Create``, then a bounded wait until ``Win32_Process where
  ProcessId = N`` is gone. WMI on NT 4.0 does not publish a process's exit code (no
  ``Win32_ProcessStopTrace``), so the result is read from the installer's log (``read_log()`` returns
  ``<sms_root>\\Logs\\Q244405.log``, e.g. over SMB): rc 0 when the installer wrote to it, 1 when it did not.
  The caller re-reads Distmgr.dll's version afterwards, which is the real proof. I386 only, as the KB says.

Limits: impacket keeps its DCOM connections in class-level tables keyed by address and thread name, so one
process talks to one host from one thread at a time (Ansible runs each host's task in its own worker process).
NTLM sealing (PKT_PRIVACY) is part of NT 4.0's NTLM security provider and NTLM2 session security came with
SP4, so SP4 or later should accept impacket's default; this was verified only against the lab's responder
(``lab/smslab/dcom``), never against a real NT 4.0 or Windows 2000 server.
"""

from __future__ import annotations

import contextlib
import ntpath
import re
import socket
import threading
import time
from dataclasses import dataclass, field

from ansible_collections.sms.remediation.plugins.module_utils.sms20 import DEFAULTS
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.base import TransportError
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc import activation, wmi_objects
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.wmi_errors import describe, error_code

WBEM_E_INVALID_QUERY = 0x80041017
BATCH = 64                           # objects per IEnumWbemClassObject::Next
CREATE_RESULTS = {2: "access denied", 3: "insufficient privilege", 8: "unknown failure", 9: "path not found",
                  21: "invalid parameter"}


class WmiError(TransportError):
    """A WMI call that failed; ``code`` is the HRESULT / RPC status when there is one."""

    def __init__(self, host: str, operation: str, message: str, code: int | None = None):
        super().__init__(host, operation, message)
        self.code = code


@dataclass(frozen=True)
class WmiTarget:
    host: str
    address: str
    user: str
    password: str = field(repr=False)     # never in a repr or a log (issue 18, defect 9)
    domain: str = ""
    timeout: int = 30
    allow_ntlmv1: bool = False
    auth_level: str = "pkt_privacy"


def target_of(session, timeout: int | None = None) -> WmiTarget:
    """What WMI needs from the transport's session (or from a bare settings object)."""
    settings = getattr(session, "settings", session)
    return WmiTarget(host=settings.host, address=getattr(settings, "wmi_address", None) or settings.address,
                     user=settings.user, password=settings.password, domain=getattr(settings, "domain", "") or "",
                     timeout=int(timeout or getattr(settings, "timeout", 30)),
                     allow_ntlmv1=bool(getattr(settings, "allow_ntlmv1", False)),
                     auth_level=getattr(settings, "dcom_auth_level", None) or "pkt_privacy")


class _Watchdog:
    """Closes the connection's sockets when ``seconds`` run out, so a call that never answers ends."""

    def __init__(self, seconds: float, sockets):
        self.fired = False
        self._sockets = sockets
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    def _fire(self) -> None:
        self.fired = True
        for sock in self._sockets():
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def __enter__(self):
        self._timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self._timer.cancel()


class WmiConnection:
    """One DCOM connection to a host's WMI, with one IWbemServices per namespace used."""

    def __init__(self, target: WmiTarget):
        self.target = target
        self._dcom = None
        self._login = None
        self._namespaces: dict[str, object] = {}
        self.thread = threading.current_thread().name     # impacket keys its connections by thread name
        self.ntlm = None
        self.activator = None              # activation.SCM or activation.ACTIVATION, once activated
        self.deadline = None               # time.monotonic() when this use must end (``connected`` sets it)

    def fail(self, operation: str, exc: BaseException, what: str = "") -> WmiError:
        return WmiError(self.target.host, operation, describe(exc, what), error_code(exc))

    def sockets(self) -> list:
        """Every socket impacket holds for this target in this thread (resolver and object exporter)."""
        from impacket.dcerpc.v5.dcomrt import DCOMConnection, INTERFACE
        found = []
        portmap = DCOMConnection.PORTMAPS.get(self.target.address)
        if portmap is not None:
            found.append(portmap.get_rpc_transport().get_socket())
        for entry in INTERFACE.CONNECTIONS.get(self.target.address, {}).get(self.thread, {}).values():
            found.append(entry["dce"].get_rpc_transport().get_socket())
        return [sock for sock in found if isinstance(sock, socket.socket)]

    def open(self) -> None:
        from impacket import ntlm
        from impacket.dcerpc.v5.dcom import wmi
        from impacket.dcerpc.v5.dcomrt import DCOMConnection
        t = self.target
        level = activation.level_number(t.auth_level)
        attempts = [True, False] if t.allow_ntlmv1 else [True]

        def resolver():
            self._dcom = DCOMConnection(t.address, t.user, t.password, t.domain, authLevel=level, oxidResolver=False)
            return self._dcom
        for index, use_v2 in enumerate(attempts):
            ntlm.USE_NTLMv2 = use_v2          # impacket reads this module flag for every bind
            try:
                interface, self._dcom, self.activator, _version = activation.activate(
                    resolver, wmi.CLSID_WbemLevel1Login, wmi.IID_IWbemLevel1Login, t.address, level)
                activation.connect_exporter(interface, wmi.IID_IWbemLevel1Login,
                                            (self.deadline or time.monotonic() + t.timeout) - time.monotonic() - 0.2,
                                            also=exporter_interfaces())
                self._login = wmi.IWbemLevel1Login(interface)
                self.ntlm = "NTLMv2" if use_v2 else "NTLMv1"
                return                           # the flag stays until close(): later binds read it too
            except activation.ExporterUnreachable as exc:
                self.close()
                raise WmiError(t.host, "wmi", f"DCOM activation of WMI on {t.host} ({t.address}): {exc}") from None
            except Exception as exc:            # noqa: BLE001 - every impacket failure becomes a WmiError
                self.close()
                if error_code(exc) == 0x00000005 and index + 1 < len(attempts):
                    continue                     # NTLMv2 refused and NTLMv1 allowed: an NT 4.0 before SP4
                raise self.fail("wmi", exc, f"DCOM activation of WMI on {t.address}") from None

    def services(self, namespace: str):
        if namespace.lower() not in self._namespaces:
            from impacket.dcerpc.v5.dtypes import NULL
            try:
                self._namespaces[namespace.lower()] = self._login.NTLMLogin(
                    "//./" + namespace.replace("\\", "/"), NULL, NULL)
            except Exception as exc:            # noqa: BLE001
                raise self.fail("wmi", exc, f"WMI namespace {namespace}") from None
        return self._namespaces[namespace.lower()]

    def query(self, namespace: str, wql: str) -> list[dict]:
        """Every row of ``wql`` as {property: value}."""
        from impacket.dcerpc.v5.dcom import wmi
        services = self.services(namespace)
        try:
            enum = services.ExecQuery(wql, wmi.WBEM_FLAG_FORWARD_ONLY)
            rows, done = [], False
            while not done:
                objrefs, done = wmi_objects.next_objrefs(enum, BATCH)
                rows += [wmi_objects.values(enum, services, objref) for objref in objrefs]
            return rows
        except WmiError:
            raise
        except Exception as exc:                # noqa: BLE001
            raise self.fail("wmi", exc, f"{wql} in {namespace}") from None

    def instance(self, namespace: str, path: str) -> dict | None:
        """The instance at ``path`` (``Class.Key="value"``) as {property: value}, None when WMI has none
        (WBEM_E_NOT_FOUND): IWbemServices::GetObject, one call where a query costs ExecQuery and Next."""
        services = self.services(namespace)
        try:
            objref = wmi_objects.object_ref(services, path)
            return None if objref is None else wmi_objects.values(services, services, objref)
        except Exception as exc:                # noqa: BLE001
            raise self.fail("wmi", exc, f"{path} in {namespace}") from None

    def create_process(self, command_line: str, current_directory: str) -> int:
        """Win32_Process.Create in root\\cimv2; the new ProcessId (raises on a non-zero ReturnValue)."""
        services = self.services("root\\cimv2")
        failure = {}
        original = services.ExecMethod

        def exec_method(*args, **kwargs):        # impacket logs and swallows the error; keep it
            try:
                return original(*args, **kwargs)
            except Exception as exc:             # noqa: BLE001
                failure["exc"] = exc
                raise
        services.ExecMethod = exec_method
        try:
            process_class, _call_result = services.GetObject("Win32_Process")
            out = process_class.Create(command_line, current_directory, None)
        except Exception as exc:                 # noqa: BLE001
            raise self.fail("run_installer", exc, "Win32_Process.Create") from None
        finally:
            del services.ExecMethod
        if out is None:
            exc = failure.get("exc") or RuntimeError("no answer")
            raise self.fail("run_installer", exc, "Win32_Process.Create")
        values = {name: prop["value"] for name, prop in out.getProperties().items()}
        result = values.get("ReturnValue")
        if result != 0:
            meaning = CREATE_RESULTS.get(result, "see Win32_Process.Create return codes")
            raise WmiError(self.target.host, "run_installer",
                           f"Win32_Process.Create({command_line}) returned {result} ({meaning})", result)
        return int(values["ProcessId"])

    def close(self) -> None:
        """Close every socket of this connection (impacket's disconnect() leaves the exporter's open)."""
        from impacket import ntlm
        from impacket.dcerpc.v5.dcomrt import DCOMConnection, INTERFACE
        address = self.target.address
        for entry in list(INTERFACE.CONNECTIONS.get(address, {}).get(self.thread, {}).values()):
            with contextlib.suppress(Exception):
                entry["dce"].get_rpc_transport().disconnect()
        if self._dcom is not None:
            with contextlib.suppress(Exception):
                self._dcom.disconnect()
        portmap = DCOMConnection.PORTMAPS.pop(address, None)
        if portmap is not None:
            with contextlib.suppress(Exception):
                portmap.get_rpc_transport().disconnect()
        INTERFACE.CONNECTIONS.get(address, {}).pop(self.thread, None)
        self._dcom, self._login, self._namespaces = None, None, {}
        ntlm.USE_NTLMv2 = True


def exporter_interfaces() -> tuple:
    """The interfaces the WMI calls use on the exporter connection after IWbemLevel1Login, proposed in its one
    bind (``activation.reusing_contexts``): NTLMLogin answers an IWbemServices, ExecQuery an
    IEnumWbemClassObject. No IRemUnknown call goes there (impacket's RemRelease is never called here)."""
    from impacket.dcerpc.v5.dcom import wmi
    return (wmi.IID_IWbemServices, wmi.IID_IEnumWbemClassObject)


@contextlib.contextmanager
def connected(session, timeout: int | None = None):
    """A ``WmiConnection`` for the session's host; this use of it is bounded by ``timeout`` seconds.

    A transport session (one with a ``wmi_cache`` dict: ``MsrpcSession``) keeps the connection open for the
    task's other WMI calls (the probe's site, packages and console check share one) and closes it with
    itself (``close_cached``); an activation that failed is not tried again in that task, each later call
    fails at once with the same reason. Any other session gets a connection of its own, closed afterwards.
    A call that fails or runs out of time closes the connection (the next call opens a new one)."""
    cache = getattr(session, "wmi_cache", None)
    target = target_of(session, timeout)
    if cache is not None and cache.get("failure") is not None:
        failed = cache["failure"]
        raise WmiError(target.host, failed.operation, failed.message, failed.code)
    connection = cache.get("connection") if cache is not None else None
    opened = connection is not None
    if connection is None:
        connection = WmiConnection(target)
    watchdog = _Watchdog(target.timeout, connection.sockets)
    connection.deadline = time.monotonic() + target.timeout
    keep = False
    try:
        with watchdog:
            if not opened:
                connection.open()
                opened = True
            yield connection
        keep = cache is not None and not watchdog.fired
    except WmiError as exc:
        error = exc
        if watchdog.fired:
            error = WmiError(target.host, exc.operation, f"no answer from WMI on {target.address} within "
                                                         f"{target.timeout} s (timeout)")
        if cache is not None and connection._login is None:      # the activation itself failed
            cache["failure"] = error
        if error is exc:
            raise
        raise error from None
    finally:
        if keep:
            cache["connection"] = connection
        else:
            if cache is not None:
                cache.pop("connection", None)
            connection.close()


def close_cached(session) -> None:
    """Close the connection a transport session kept (``connected``) and forget a failed activation."""
    cache = getattr(session, "wmi_cache", None)
    if cache:
        connection = cache.pop("connection", None)
        cache.pop("failure", None)
        if connection is not None:
            connection.close()


def _facts() -> dict:
    return DEFAULTS["wmi_classes"]


def provider_namespace(connection: WmiConnection) -> tuple[str, str]:
    """(site code, namespace) of the SMS Provider for the local site, from root\\SMS SMS_ProviderLocation."""
    facts = _facts()
    rows = connection.query(facts["provider_namespace"], f"select SiteCode, NamespacePath from "
                                                         f"{facts['provider_location']} where ProviderForLocalSite = true")
    if not rows or not rows[0].get("SiteCode"):
        raise WmiError(connection.target.host, "wmi", f"{facts['provider_location']} names no provider for the "
                                                      "local site: the SMS Provider is not installed")
    code = str(rows[0]["SiteCode"])
    return code, DEFAULTS["wmi_namespace_template"].format(site_code=code)


def _namespace(connection, site_code):
    """(site code, namespace); the provider's code is checked too: it goes into an object path and a namespace."""
    code, namespace = (site_code, None) if site_code else provider_namespace(connection)
    if not re.fullmatch(r"[A-Za-z0-9]{3}", str(code)):
        raise WmiError(connection.target.host, "wmi", f"site code {code!r} is not valid")
    return code, namespace or DEFAULTS["wmi_namespace_template"].format(site_code=code)


def active_packages(session, site_code: str | None, timeout: int | None = None) -> dict:
    """The probe's ``active_packages``; ``available: false`` (never an empty list) when WMI fails.

    An SMS 2.0 RTM provider has no ``SMS_Package.ActionInProgress`` (documented from SP1 on) and refuses a
    query naming it (WBEM_E_INVALID_QUERY): the list is read again without it, every row's
    ``ActionInProgress`` is None and ``action_in_progress_known`` false: a deletion in progress cannot be
    told from an idle package there, never "idle"."""
    namespace = DEFAULTS["wmi_namespace_template"].format(site_code=site_code) if site_code else None
    known = True
    try:
        with connected(session, timeout) as connection:
            _site_code, namespace = _namespace(connection, site_code)
            try:
                rows = connection.query(namespace, f"select PackageID, ActionInProgress, SourceSite from "
                                                   f"{_facts()['package']}")
            except WmiError as exc:
                if exc.code != WBEM_E_INVALID_QUERY:
                    raise
                known = False
                rows = connection.query(namespace, f"select PackageID, SourceSite from {_facts()['package']}")
    except WmiError as exc:
        return {"available": False, "error": f"active packages unknown: {exc.message}", "namespace": namespace,
                "packages": None}
    packages = []
    for row in rows:
        action = row.get("ActionInProgress") if known else None
        packages.append({"PackageID": row.get("PackageID"), "SourceSite": row.get("SourceSite"),
                         "ActionInProgress": int(action) if action is not None else None})
    answer = {"available": True, "error": None, "namespace": namespace, "packages": packages}
    if not known:
        answer["action_in_progress_known"] = False
        answer["error"] = (f"{_facts()['package']} has no ActionInProgress in {namespace} (an SMS 2.0 RTM provider): "
                           "whether a deletion is in progress is unknown; every listed package counts as active")
    return answer


SITE_FIELDS = ("SiteCode", "ReportingSiteCode", "Type", "Version", "BuildNumber", "InstallDir")


def site(session, site_code: str | None, timeout: int | None = None) -> dict:
    """The probe's ``wmi_site`` from ``SMS_Site`` (the fallback when ``Setup\\Full Version`` is missing)."""
    answer = {"available": False, "error": None, **{name: None for name in SITE_FIELDS}}
    try:
        with connected(session, timeout) as connection:
            code, namespace = _namespace(connection, site_code)
            # by its key: one GetObject (a query is an ExecQuery and a Next); the site code is 3 letters or digits
            row = connection.instance(namespace, f'{_facts()["site"]}.SiteCode="{code}"')
    except WmiError as exc:
        answer["error"] = exc.message
        return answer
    answer["available"] = True
    if row is None:
        answer["error"] = f"no SMS_Site instance for site {code}"
        return answer
    answer.update({name: row.get(name) for name in SITE_FIELDS})
    return answer


def processes(session, name: str, timeout: int | None = None) -> list[dict]:
    """Win32_Process rows named ``name`` (every property the host's WMI has; raises WmiError)."""
    with connected(session, timeout) as connection:
        return connection.query("root\\cimv2", f"select * from Win32_Process where Name = '{_wql_text(name)}'")


def console_check(session, process: str, snap_in: str, timeout: int | None = None) -> dict:
    """``{"open": bool | None, "command_line_visible": bool, "error": str | None}`` (see the module doc)."""
    try:
        rows = processes(session, process, timeout)
    except WmiError as exc:
        return {"open": None, "command_line_visible": False, "error": exc.message}
    visible = any("CommandLine" in row for row in rows)
    if not rows:
        return {"open": False, "command_line_visible": visible, "error": None}
    if visible:
        return {"open": any(snap_in.lower() in str(row.get("CommandLine") or "").lower() for row in rows),
                "command_line_visible": True, "error": None}
    return {"open": True, "command_line_visible": False, "error": None}


def console_open(session, process: str, snap_in: str, timeout: int | None = None) -> bool | None:
    return console_check(session, process, snap_in, timeout)["open"]


def _wql_text(value: str) -> str:
    if "'" in value or "\\" in value:
        raise ValueError(f"{value!r}: quotes and backslashes are not sent in a WQL string")
    return value


def wait_for_exit(connection: WmiConnection, pid: int, deadline: float, poll: float = 1.0) -> bool:
    """True when ``Win32_Process where ProcessId = pid`` is gone before ``deadline`` (time.monotonic())."""
    while True:
        if not connection.query("root\\cimv2", f"select ProcessId from Win32_Process where ProcessId = {int(pid)}"):
            return True
        if time.monotonic() + poll > deadline:
            return False
        time.sleep(poll)


def run_installer(session, path: str, arguments: str, timeout: int, platform: str, read_log) -> dict:
    """Run the hotfix installer through Win32_Process.Create and wait for it (see the module doc)."""
    settings = getattr(session, "settings", session)
    host = settings.host
    if platform not in DEFAULTS["installer_platforms"]:
        raise WmiError(host, "run_installer", f"{DEFAULTS['hotfix_installer_name']} runs on I386 only and this "
                                              f"site server is {platform}; use the manual method")
    command = f'"{path}" {arguments}'.strip()
    before = read_log()
    deadline = time.monotonic() + timeout
    with connected(session, timeout + 30) as connection:
        pid = connection.create_process(command, ntpath.dirname(path) or "C:\\")
        ended = wait_for_exit(connection, pid, deadline)
    if not ended:
        return {"rc": 1, "stdout": "", "pid": pid,
                "stderr": f"{command} (process {pid}) was still running after {timeout} s; it was left running"}
    after = read_log()
    log_name = DEFAULTS["hotfix_log_name"]
    if after is not None and after != before:
        return {"rc": 0, "pid": pid, "stdout": f"{command} ended (process {pid}); {log_name} was updated",
                "stderr": ""}
    return {"rc": 1, "pid": pid, "stdout": "",
            "stderr": f"{command} ended (process {pid}) without writing {log_name}: it did not install "
                      "(the exit code itself is not available over WMI on NT 4.0)"}
