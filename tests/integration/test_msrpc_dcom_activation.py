"""The msrpc transport's DCOM activation (``_transport/msrpc/activation.py``) against the lab's responder per
host profile: IActivation on ``nt4`` (COM 5.4, where impacket's CoCreateInstanceEx fails:
tests/lab/test_dcom_profiles.py), IRemoteSCMActivator on ``w2k``, the choice remembered per host, the
authentication level used exactly as asked (never lowered), and the OXID resolver call of the host's version.
Root only (port 135)."""

from __future__ import annotations

import os
import sys
import threading
from types import SimpleNamespace

import pytest

from lab_harness import COLLECTION_ROOT, ansible_env
from msrpc_harness import hierarchy_wmi

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: DCOM starts at port 135 (binding it needs root)")

NT4, W2K = "sms711", "sms712"


@pytest.fixture(scope="module")
def msrpc(tmp_path_factory):
    ansible_env(tmp_path_factory.mktemp("env"))            # makes the collection root
    if str(COLLECTION_ROOT) not in sys.path:
        sys.path.insert(0, str(COLLECTION_ROOT))
    from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc import activation, settings, wmi
    return SimpleNamespace(activation=activation, wmi=wmi, settings=settings)


@pytest.fixture
def lab(tmp_path, msrpc):
    with hierarchy_wmi(tmp_path, {NT4: "nt4", W2K: "w2k"}) as held:
        msrpc.activation.forget()

        def session(name, **extra):
            return SimpleNamespace(settings=SimpleNamespace(host=name, address=held.addresses[name], user=held.user,
                                                            password=held.password, domain="", timeout=10, **extra))
        yield SimpleNamespace(session=session, addresses=held.addresses, state_dir=held.state_dir)
        msrpc.activation.forget()


def _packages(msrpc, lab, name, code, **extra):
    answer = msrpc.wmi.active_packages(lab.session(name, **extra), code, 10)
    assert answer["available"], answer["error"]
    return sorted(row["PackageID"] for row in answer["packages"])


def test_nt4_activates_through_iactivation_and_w2k_through_the_scm(msrpc, lab):
    assert _packages(msrpc, lab, NT4, "711") == ["70000001"]
    assert msrpc.activation.remembered(lab.addresses[NT4]) == msrpc.activation.ACTIVATION
    assert _packages(msrpc, lab, W2K, "712") == ["70000001", "70000002", "71200001"]
    assert msrpc.activation.remembered(lab.addresses[W2K]) == msrpc.activation.SCM
    # remembered: the second connection to the NT 4.0 host goes straight to IActivation
    assert _packages(msrpc, lab, NT4, "711") == ["70000001"]


def test_the_server_version_and_the_matching_oxid_resolver_call(msrpc, lab):
    from impacket.dcerpc.v5.dcom import wmi
    for name, version in ((NT4, (5, 4)), (W2K, (5, 6))):
        connection = msrpc.wmi.WmiConnection(msrpc.wmi.target_of(lab.session(name)))
        try:
            connection.open()
            msrpc.activation.forget()
            opened = []

            def resolver(address=lab.addresses[name], target=connection.target):
                from impacket.dcerpc.v5.dcomrt import DCOMConnection
                opened.append(DCOMConnection(address, target.user, target.password, ""))
                return opened[-1]
            interface, dcom, used, reported = msrpc.activation.activate(
                resolver, wmi.CLSID_WbemLevel1Login, wmi.IID_IWbemLevel1Login, lab.addresses[name], "pkt_privacy")
            if name == NT4:
                assert (used, reported) == (msrpc.activation.ACTIVATION, version)
            else:
                assert used == msrpc.activation.SCM
            bindings = msrpc.activation.resolve_oxid(dcom.get_dce_rpc(), interface.get_oxid(), version)
            assert [b["aNetworkAddr"].rstrip("\x00") for b in bindings] == [f"{lab.addresses[name]}[135]"]
            dcom.get_dce_rpc().get_rpc_transport().disconnect()
        finally:
            connection.close()


@pytest.mark.parametrize("level, number", [("connect", 2), ("pkt_integrity", 5), ("pkt_privacy", 6)])
def test_the_authentication_level_is_used_as_asked(msrpc, lab, level, number):
    connection = msrpc.wmi.WmiConnection(msrpc.wmi.target_of(lab.session(NT4, dcom_auth_level=level)))
    try:
        connection.open()
        assert connection._login.get_cinstance().get_auth_level() == number       # the object calls
        assert connection.query("root\\SMS\\site_711", "select PackageID from SMS_Package") == [
            {"PackageID": "70000001"}]
        from impacket.dcerpc.v5.dcomrt import INTERFACE
        [entry] = INTERFACE.CONNECTIONS[lab.addresses[NT4]][threading.current_thread().name].values()
        assert entry["dce"]._DCERPC_v5__auth_level == number
    finally:
        connection.close()


def test_the_level_is_a_checked_host_variable(msrpc):
    base = {"q244405_msrpc_user": "u", "q244405_msrpc_password": "p"}
    assert msrpc.settings.settings_from_vars("h", base).dcom_auth_level == "pkt_privacy"
    assert msrpc.settings.settings_from_vars("h", {**base, "q244405_msrpc_dcom_auth_level": "CONNECT"}) \
        .dcom_auth_level == "connect"
    with pytest.raises(msrpc.settings.SettingsError, match="q244405_msrpc_dcom_auth_level='none'"):
        msrpc.settings.settings_from_vars("h", {**base, "q244405_msrpc_dcom_auth_level": "none"})
