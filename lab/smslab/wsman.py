"""WS-Management over SOAP, the subset pywinrm speaks: parse envelopes, build replies, track shells.

Per Ansible task: Create, then per remote command Command -> Send* -> Receive+ -> Signal, then
Delete (see ../shared/notes/winrm-wire.md section 1). The lab runs a command on its first
Receive, because Ansible sends all stdin before receiving.
"""

from __future__ import annotations

import base64
import threading
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "w": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
    "rsp": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell",
    "x": "http://schemas.xmlsoap.org/ws/2004/09/transfer",
    "f": "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault",
}
for _prefix, _uri in NS.items():
    ET.register_namespace(_prefix, _uri)

SHELL_URI = NS["rsp"]
ACTIONS = {
    "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create": "Create",
    "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete": "Delete",
    f"{SHELL_URI}/Command": "Command",
    f"{SHELL_URI}/Send": "Send",
    f"{SHELL_URI}/Receive": "Receive",
    f"{SHELL_URI}/Signal": "Signal",
}
REPLY_ACTIONS = {
    "Create": "http://schemas.xmlsoap.org/ws/2004/09/transfer/CreateResponse",
    "Delete": "http://schemas.xmlsoap.org/ws/2004/09/transfer/DeleteResponse",
    "Command": f"{SHELL_URI}/CommandResponse",
    "Send": f"{SHELL_URI}/SendResponse",
    "Receive": f"{SHELL_URI}/ReceiveResponse",
    "Signal": f"{SHELL_URI}/SignalResponse",
    "Fault": "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault",
}
COMMAND_DONE = f"{SHELL_URI}/CommandState/Done"


def _q(prefix: str, tag: str) -> str:
    return f"{{{NS[prefix]}}}{tag}"


class WsmanError(Exception):
    """A request the lab refuses; answered as a SOAP Fault (pywinrm raises WSManFaultError)."""

    def __init__(self, reason: str, code: str = "2150858843"):
        super().__init__(reason)
        self.reason = reason
        self.code = code            # 2150858843: "the shell was not found" on real hosts


# ---- requests ----------------------------------------------------------------------------
@dataclass
class StdinChunk:
    data: bytes
    end: bool


@dataclass
class WsmanRequest:
    op: str                         # Create | Command | Send | Receive | Signal | Delete
    message_id: str
    shell_id: str | None = None
    command_id: str | None = None
    command_line: str | None = None     # Command: rsp:Command + " " + rsp:Arguments
    stdin: StdinChunk | None = None     # Send
    signal_code: str | None = None      # Signal


def _text(root: ET.Element, path: str) -> str | None:
    node = root.find(path, NS)
    return node.text if node is not None and node.text is not None else None


def parse_request(body: bytes) -> WsmanRequest:
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise WsmanError(f"malformed SOAP envelope: {exc}", code="2150858817") from exc
    action_uri = (_text(root, "s:Header/a:Action") or "").strip()
    op = ACTIONS.get(action_uri)
    if op is None:
        raise WsmanError(f"lab: WS-Management action not simulated: {action_uri!r}", code="2150858817")
    request = WsmanRequest(
        op=op,
        message_id=(_text(root, "s:Header/a:MessageID") or "").strip(),
        shell_id=_text(root, "s:Header/w:SelectorSet/w:Selector[@Name='ShellId']"),
    )
    body_node = root.find("s:Body", NS)
    _PARSERS.get(op, lambda _req, _body: None)(request, body_node)
    return request


def _parse_command(request: WsmanRequest, body: ET.Element) -> None:
    command = _text(body, "rsp:CommandLine/rsp:Command") or ""
    arguments = _text(body, "rsp:CommandLine/rsp:Arguments")
    request.command_line = f"{command} {arguments}" if arguments else command


def _parse_send(request: WsmanRequest, body: ET.Element) -> None:
    stream = body.find("rsp:Send/rsp:Stream", NS)
    if stream is None:
        raise WsmanError("Send without rsp:Stream", code="2150858817")
    request.command_id = stream.get("CommandId")
    data = base64.b64decode(stream.text or "")
    request.stdin = StdinChunk(data=data, end=(stream.get("End") or "").lower() == "true")


def _parse_receive(request: WsmanRequest, body: ET.Element) -> None:
    desired = body.find("rsp:Receive/rsp:DesiredStream", NS)
    request.command_id = desired.get("CommandId") if desired is not None else None


def _parse_signal(request: WsmanRequest, body: ET.Element) -> None:
    signal = body.find("rsp:Signal", NS)
    if signal is not None:
        request.command_id = signal.get("CommandId")
        request.signal_code = _text(signal, "rsp:Code")


_PARSERS = {"Command": _parse_command, "Send": _parse_send, "Receive": _parse_receive, "Signal": _parse_signal}


# ---- replies -----------------------------------------------------------------------------
def _envelope(op: str, relates_to: str) -> tuple[ET.Element, ET.Element]:
    envelope = ET.Element(_q("s", "Envelope"))
    header = ET.SubElement(envelope, _q("s", "Header"))
    ET.SubElement(header, _q("a", "Action")).text = REPLY_ACTIONS.get(op, "")
    ET.SubElement(header, _q("a", "MessageID")).text = f"uuid:{uuid.uuid4()}"
    ET.SubElement(header, _q("a", "To")).text = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
    # pywinrm asserts that Signal and Delete replies relate to the request's MessageID.
    ET.SubElement(header, _q("a", "RelatesTo")).text = relates_to
    return envelope, ET.SubElement(envelope, _q("s", "Body"))


def _serialise(envelope: ET.Element) -> bytes:
    return ET.tostring(envelope, encoding="utf-8", xml_declaration=True)


def create_reply(request: WsmanRequest, shell_id: str) -> bytes:
    envelope, body = _envelope("Create", request.message_id)
    created = ET.SubElement(body, _q("x", "ResourceCreated"))
    ET.SubElement(created, _q("a", "Address")).text = "http://windows-host:5985/wsman"
    params = ET.SubElement(created, _q("a", "ReferenceParameters"))
    ET.SubElement(params, _q("w", "ResourceURI")).text = f"{SHELL_URI}/cmd"
    selectors = ET.SubElement(params, _q("w", "SelectorSet"))
    ET.SubElement(selectors, _q("w", "Selector"), Name="ShellId").text = shell_id
    return _serialise(envelope)


def command_reply(request: WsmanRequest, command_id: str) -> bytes:
    envelope, body = _envelope("Command", request.message_id)
    response = ET.SubElement(body, _q("rsp", "CommandResponse"))
    ET.SubElement(response, _q("rsp", "CommandId")).text = command_id
    return _serialise(envelope)


def empty_reply(request: WsmanRequest) -> bytes:
    """Send, Signal and Delete: the client only reads RelatesTo."""
    envelope, body = _envelope(request.op, request.message_id)
    if request.op in ("Send", "Signal"):
        ET.SubElement(body, _q("rsp", f"{request.op}Response"))
    return _serialise(envelope)


def receive_reply(request: WsmanRequest, stdout: bytes, stderr: bytes, exit_code: int) -> bytes:
    """Everything in one reply, state Done: pywinrm stops receiving there."""
    envelope, body = _envelope("Receive", request.message_id)
    response = ET.SubElement(body, _q("rsp", "ReceiveResponse"))
    command_id = request.command_id or ""
    for name, data in (("stdout", stdout), ("stderr", stderr)):
        stream = ET.SubElement(response, _q("rsp", "Stream"), Name=name, CommandId=command_id, End="true")
        stream.text = base64.b64encode(data).decode("ascii") if data else None
    state = ET.SubElement(response, _q("rsp", "CommandState"), CommandId=command_id, State=COMMAND_DONE)
    ET.SubElement(state, _q("rsp", "ExitCode")).text = str(exit_code)
    return _serialise(envelope)


def fault_reply(message_id: str, error: WsmanError) -> bytes:
    envelope, body = _envelope("Fault", message_id)
    fault = ET.SubElement(body, _q("s", "Fault"))
    code = ET.SubElement(fault, _q("s", "Code"))
    ET.SubElement(code, _q("s", "Value")).text = "s:Receiver"
    reason = ET.SubElement(fault, _q("s", "Reason"))
    ET.SubElement(reason, _q("s", "Text"), {"xml:lang": "en-US"}).text = error.reason
    detail = ET.SubElement(fault, _q("s", "Detail"))
    wsman_fault = ET.SubElement(detail, _q("f", "WSManFault"), Code=error.code)
    ET.SubElement(wsman_fault, _q("f", "Message")).text = error.reason
    return _serialise(envelope)


# ---- shells and commands -----------------------------------------------------------------
@dataclass
class RemoteCommand:
    command_id: str
    command_line: str
    stdin: bytearray = field(default_factory=bytearray)
    stdin_closed: bool = False
    outcome: object | None = None       # what the server's runner returned, once it ran


@dataclass
class Shell:
    shell_id: str
    commands: dict[str, RemoteCommand] = field(default_factory=dict)


class ShellTable:
    """The shells of one host and the commands inside them; safe to use from several threads."""

    def __init__(self) -> None:
        self._shells: dict[str, Shell] = {}
        self._lock = threading.Lock()

    def create(self) -> str:
        shell_id = str(uuid.uuid4()).upper()
        with self._lock:
            self._shells[shell_id] = Shell(shell_id)
        return shell_id

    def delete(self, shell_id: str | None) -> None:
        with self._lock:
            self._shell(shell_id)
            del self._shells[shell_id]

    def start_command(self, shell_id: str | None, command_line: str) -> RemoteCommand:
        command = RemoteCommand(command_id=str(uuid.uuid4()).upper(), command_line=command_line)
        with self._lock:
            self._shell(shell_id).commands[command.command_id] = command
        return command

    def append_stdin(self, shell_id: str | None, command_id: str | None, chunk: StdinChunk) -> None:
        with self._lock:
            command = self._command(shell_id, command_id)
            if command.stdin_closed:
                raise WsmanError("stdin already closed for this command", code="2150858817")
            command.stdin.extend(chunk.data)
            command.stdin_closed = chunk.end

    def command(self, shell_id: str | None, command_id: str | None) -> RemoteCommand:
        with self._lock:
            return self._command(shell_id, command_id)

    def finish_command(self, shell_id: str | None, command_id: str | None) -> None:
        """Signal terminate: the command is forgotten (its output was already received)."""
        with self._lock:
            self._shell(shell_id).commands.pop(command_id or "", None)

    def _shell(self, shell_id: str | None) -> Shell:
        shell = self._shells.get(shell_id or "")
        if shell is None:
            raise WsmanError(f"The request for the Windows Remote Shell with ShellId {shell_id} failed "
                             "because the shell was not found on the server.")
        return shell

    def _command(self, shell_id: str | None, command_id: str | None) -> RemoteCommand:
        command = self._shell(shell_id).commands.get(command_id or "")
        if command is None:
            raise WsmanError(f"unknown CommandId {command_id} in shell {shell_id}")
        return command
