"""The msrpc transport's service handles ask for exactly the right each call needs (issue 18, defect 6), against the
lab's \\svcctl behind real Samba, which refuses a call its handle's rights do not allow, as Windows does."""

from __future__ import annotations

import pytest

from msrpc_harness import samba_site, transport
from smslab.state import HostState

USER, PASSWORD = "Administrator", "Lab-Pass-1999"
SCENARIO = {
    "seed": 5,
    "credentials": {"user": USER, "password": PASSWORD},
    "sites": [{"name": "sms600", "site_code": "600", "build": "sp1", "profile": "nt4"}],
}


def services_of(state_dir, name="sms600") -> dict:
    return HostState.load(state_dir / "hosts" / name).services


def test_the_service_configuration_is_read_with_a_handle_that_may_read_it(tmp_path):
    # Before: the one handle held QUERY_STATUS | START | STOP and QueryServiceConfig was refused (ERROR_ACCESS_DENIED).
    with samba_site(tmp_path, SCENARIO) as (state_dir, lab, _wmi):
        host = transport(lab, "sms600", tmp_path)
        try:
            config = host.ops.services.config("SMS_EXECUTIVE")
            assert config == {"start_mode": "auto", "path": services_of(state_dir)["SMS_EXECUTIVE"]["path"]}
            assert host.ops.services.config("NO_SUCH_SERVICE") is None
        finally:
            host.close()


def test_an_account_that_may_only_read_services_reads_them_and_is_refused_a_stop(tmp_path):
    # A plain user gets what NT 4.0's default DACLs give Everyone: reading and interrogating, no start or stop.
    # Before: every service handle asked for START and STOP too, so even reading the state was refused.
    with samba_site(tmp_path, SCENARIO, options={"sms600": {"admin": False}}) as (state_dir, lab, _wmi):
        host = transport(lab, "sms600", tmp_path)
        try:
            services = host.ops.services
            assert services.state("SMS_EXECUTIVE") == "running"
            assert services.config("SMS_EXECUTIVE")["start_mode"] == "auto"
            with pytest.raises(Exception) as refused:
                services.stop("SMS_EXECUTIVE", 5, "hotfix")
            message = str(refused.value)
            assert message.startswith("sms600: hotfix: ") and "SERVICE_STOP" in message
            assert "ERROR_ACCESS_DENIED" in message or "rpc_s_access_denied" in message
            assert services_of(state_dir)["SMS_EXECUTIVE"]["state"] == "running"
        finally:
            host.close()


def test_stop_and_start_use_their_own_rights_and_reach_host_json(tmp_path):
    with samba_site(tmp_path, SCENARIO) as (state_dir, lab, _wmi):
        host = transport(lab, "sms600", tmp_path)
        try:
            host.ops.services.stop("SMS_EXECUTIVE", 10, "hotfix")
            assert services_of(state_dir)["SMS_EXECUTIVE"]["state"] == "stopped"
            host.ops.services.start("SMS_EXECUTIVE", 10, "hotfix")
            assert services_of(state_dir)["SMS_EXECUTIVE"]["state"] == "running"
        finally:
            host.close()
