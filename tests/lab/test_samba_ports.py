"""The lab's Samba hosts cannot take each other's ports, and a host that does not serve stops the start.

In a 245-host run one host's samba-dcerpcd took another host's smbd port (both came from
32768-65535), that smbd exited, ``SambaLab.start()`` did not notice (a connect to the port reached
samba-dcerpcd) and the controller waited 120 s for the host. ``smslab.samba.ports`` keeps
samba-dcerpcd out of the kernel's ephemeral range; ``start()`` checks that each smbd itself listens
on its port. Every server here listens on 127.0.0.1 and is stopped by the test that started it.
"""

from __future__ import annotations

import os
import signal
import socket

import pytest

from smslab.samba import SambaError, SambaLab, config, host as samba_host, ports
from smslab.samba.testing import require_samba
from smslab.scenario import build_state_dir

SCENARIO = {
    "seed": 11,
    "credentials": {"user": "Administrator", "password": "Lab-Pass-1999"},
    "sites": [
        {"name": "sms600", "site_code": "600", "build": "sp2", "logging": "on"},
        {"name": "sms620", "site_code": "620", "parent": "600", "build": "rtm"},
    ],
}


@pytest.fixture
def state_dir(tmp_path):
    require_samba()
    folder = tmp_path / "state"
    build_state_dir(SCENARIO, folder)
    return folder


@pytest.fixture
def occupied_port():
    """A port someone else listens on (as another host's samba-dcerpcd did), on 127.0.0.1."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def assert_nothing_left(lab: SambaLab) -> None:
    assert lab.pids() == []
    for host in lab.hosts.values():
        assert host.pids() == [], host.name
        assert not host.groups or not samba_host.live_pids_in_groups(host.groups), host.name


# ---- which ports -----------------------------------------------------------------------------------

@pytest.mark.parametrize("ephemeral, expected", [
    ((32768, 60999), (61000, 65535)),       # Linux's default: the ports above it
    ((32768, 65400), (1024, 32767)),        # too few above: the ports below it
])
def test_rpc_range_lies_outside_the_ephemeral_range(ephemeral, expected):
    assert ports.rpc_port_range(ephemeral) == expected


def test_an_ephemeral_range_of_every_port_is_refused_with_its_cause():
    with pytest.raises(ValueError, match=r"1024-65535 .*ip_local_port_range"):
        ports.rpc_port_range((1024, 65535))


def test_smb_conf_sets_samba_dcerpcd_range(tmp_path):
    text = config.render_smb_conf(tmp_path, tmp_path, "SMS600", "SMSLAB", 40000, "127.0.0.1",
                                  config.HostOptions(), rpc_ports=(61000, 65535))
    assert "  rpc server dynamic port range = 61000-65535\n" in text


def test_samba_dcerpcd_listens_outside_the_range_smbd_ports_come_from(state_dir):
    low, high = ports.ephemeral_range()
    with SambaLab(state_dir) as lab:
        for host in lab.hosts.values():
            assert low <= host.port <= high, (host.name, host.port)
            rpc = [port for port in ports.tcp_ports_of(host.pids()) if port != host.port]
            assert rpc, (host.name, "samba-dcerpcd listens on no TCP port")
            assert all(not low <= port <= high for port in rpc), (host.name, rpc, (low, high))
    assert_nothing_left(lab)


# ---- a host that does not serve stops the start --------------------------------------------------

def test_a_taken_port_fails_the_start_naming_host_port_and_log(state_dir, occupied_port):
    lab = SambaLab(state_dir, ports={"sms620": occupied_port}, parallel=1)
    with pytest.raises(SambaError) as raised:
        lab.start()
    message = str(raised.value)
    assert message.startswith("sms620: smbd exited"), message
    assert f"127.0.0.1:{occupied_port}" in message
    assert "open_socket_in failed: Address already in use" in message      # from the instance's log
    assert "#0 /" not in message                                            # no backtrace frames
    assert lab.hosts["sms600"].groups, "sms600 should have started before sms620 failed"
    assert_nothing_left(lab)


def test_a_port_taken_after_the_lab_chose_it_is_chosen_again(state_dir, occupied_port, monkeypatch):
    choices = iter([occupied_port])
    real_free_port = samba_host.free_port
    monkeypatch.setattr(samba_host, "free_port", lambda address: next(choices, None) or real_free_port(address))
    with SambaLab(state_dir, ["sms600"]) as lab:
        host = lab.hosts["sms600"]
        assert host.port != occupied_port
        host.check_running()
        first_try = host.instance / "log" / f"samba-port{occupied_port}.log"
        assert "Address already in use" in first_try.read_text(encoding="utf-8")
    assert_nothing_left(lab)


def test_an_smbd_that_dies_while_others_start_fails_the_start(state_dir, monkeypatch):
    real_start = samba_host.SambaHost.start
    started = {}

    def start_and_kill_the_first(host):
        if started:                              # the second host: the first one's smbd dies now
            first = next(iter(started.values()))
            os.kill(first._smbd.pid, signal.SIGKILL)       # pylint: disable=protected-access
            first._smbd.wait()                             # pylint: disable=protected-access
        started[host.name] = host
        return real_start(host)

    monkeypatch.setattr(samba_host.SambaHost, "start", start_and_kill_the_first)
    lab = SambaLab(state_dir, ["sms600", "sms620"], parallel=1)
    with pytest.raises(SambaError, match=r"^sms600: smbd exited with -9 \(port 127\.0\.0\.1:\d+\)"):
        lab.start()
    assert_nothing_left(lab)


def test_check_running_names_a_host_whose_samba_dcerpcd_died(state_dir):
    with SambaLab(state_dir, ["sms620"]) as lab:
        host = lab.hosts["sms620"]
        host.check_running()
        os.killpg(host._dcerpcd.pid, signal.SIGKILL)        # pylint: disable=protected-access
        host._dcerpcd.wait()                                 # pylint: disable=protected-access
        with pytest.raises(SambaError, match=rf"^sms620: samba-dcerpcd exited with -9 .*port 127\.0\.0\.1:{host.port}"):
            host.check_running()
    assert_nothing_left(lab)
