"""The WinRM wire: raw pywinrm against the lab, the payload decoder, HTTP extras and faults."""

from __future__ import annotations

import base64
import json
import urllib.request

import pytest
from winrm.exceptions import InvalidCredentialsError, WSManFaultError

from smslab import payload

HOST = "sms01"
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:winrm.transport")


def _encoded(script: str) -> str:
    return base64.b64encode(script.encode("utf-16-le")).decode("ascii")


def test_raw_command_fails_loudly(winrm_protocol):
    protocol = winrm_protocol()
    shell_id = protocol.open_shell()
    command_id = protocol.run_command(shell_id, "ipconfig", ["/all"])
    stdout, stderr, rc = protocol.get_command_output(shell_id, command_id)
    protocol.cleanup_command(shell_id, command_id)
    protocol.close_shell(shell_id)
    assert rc == 1
    assert stdout == b""
    assert b"lab: raw command not simulated: ipconfig /all" in stderr


def test_encoded_raw_script_is_named_in_the_error(winrm_protocol):
    protocol = winrm_protocol()
    shell_id = protocol.open_shell()
    command_id = protocol.run_command(shell_id, "powershell", ["-NoProfile", "-EncodedCommand", _encoded("Get-Date")])
    _unused, stderr, rc = protocol.get_command_output(shell_id, command_id)
    protocol.close_shell(shell_id)
    assert (rc, stderr.strip()) == (1, b"lab: raw command not simulated: Get-Date")


def test_wrong_password_is_rejected(winrm_protocol):
    with pytest.raises(InvalidCredentialsError):
        winrm_protocol(password="wrong").open_shell()


def test_unknown_shell_is_a_wsman_fault(winrm_protocol):
    with pytest.raises(WSManFaultError):
        winrm_protocol().run_command("NO-SUCH-SHELL", "ipconfig")


def test_unknown_host_path_is_404(lab, winrm_protocol):
    with pytest.raises(Exception, match="404|Bad HTTP response"):
        winrm_protocol(host="nosuchhost").open_shell()


def test_requests_are_logged_and_counted(lab, winrm_protocol, state_dir):
    protocol = winrm_protocol()
    shell_id = protocol.open_shell()
    command_id = protocol.run_command(shell_id, "ipconfig")
    protocol.get_command_output(shell_id, command_id)
    protocol.cleanup_command(shell_id, command_id)
    protocol.close_shell(shell_id)

    stats = lab.stats(HOST)
    assert stats["requests"] == 5 and stats["commands"] == 1
    assert stats["by_op"] == {"Create": 1, "Command": 1, "Receive": 1, "Signal": 1, "Delete": 1}
    lines = [json.loads(line) for line in (state_dir / "requests" / f"{HOST}.jsonl").read_text().splitlines()]
    assert [line["op"] for line in lines] == ["Create", "Command", "Receive", "Signal", "Delete"]
    assert lines[2]["name"] == "raw" and all(line["bytes_in"] > 0 and line["bytes_out"] > 0 for line in lines)

    over_http = json.load(urllib.request.urlopen(f"http://127.0.0.1:{lab.port}/stats"))
    assert over_http[HOST]["requests"] == 5
    urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{lab.port}/stats/reset", data=b"", method="POST"))
    assert lab.stats(HOST)["requests"] == 0


def test_unreachable_fault_closes_the_connection_on_create(lab, winrm_protocol):
    lab.state(HOST).data["faults"] = {"unreachable": True}
    with pytest.raises(Exception, match="Connection aborted|RemoteDisconnected"):
        winrm_protocol().open_shell()


# ---- payload decoding ---------------------------------------------------------------------
def _exec_stdin(action: dict, extra: bytes | None = None) -> bytes:
    manifest = {"scripts": {}, "actions": [{"name": "exec_wrapper-ish", "params": {}}, action], "signed_hashlist": []}
    data = json.dumps({"name": "exec_wrapper"}).encode() + payload.PAYLOAD_SEPARATOR + json.dumps(manifest).encode()
    return data + (payload.PAYLOAD_SEPARATOR + extra if extra is not None else b"")


def test_module_payload_yields_fqcn_options_and_flags():
    action = {"name": "module_wrapper.ps1", "params": {
        "Script": "ansible_collections.ansible.windows.plugins.modules.win_stat.ps1",
        "Variables": [{"Name": "complex_args", "Scope": "Global", "Value": {
            "path": "C:\\x", "_ansible_check_mode": True, "_ansible_diff": False, "_ansible_no_log": False}}]}}
    request = payload.parse_exec_payload(_exec_stdin(action))
    assert request.module_fqcn == "ansible.windows.win_stat"
    assert request.module_args == {"path": "C:\\x"}
    assert request.check_mode is True and request.diff is False
    assert request.ansible_flags["no_log"] is False


def test_put_file_data_is_crlf_separated_base64():
    pieces = [b"first piece ", b"second piece"]
    extra = b"".join(base64.b64encode(piece) + b"\r\n" for piece in pieces)
    request = payload.parse_exec_payload(_exec_stdin({"name": "winrm_put_file.ps1", "params": {"Path": "C:\\f"}}, extra))
    assert request.action == "winrm_put_file.ps1"
    assert payload.decode_put_file_data(request.extra) == b"first piece second piece"


def test_stdin_without_manifest_is_refused():
    with pytest.raises(payload.PayloadError):
        payload.parse_exec_payload(b"{}")


def test_encoded_command_is_utf16_decoded():
    line = f"powershell -NoProfile -NonInteractive -ExecutionPolicy Unrestricted -EncodedCommand {_encoded('Remove-Item x')}"
    assert payload.encoded_script(line) == "Remove-Item x"
    assert payload.encoded_script("ipconfig /all") is None
