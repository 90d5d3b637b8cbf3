"""Which DCE/RPC calls a facts probe makes (issue 22), against Samba on the NT 4.0 and Windows 2000 profiles (SMB,
\\winreg) with the lab's \\svcctl and the lab's DCOM/WMI responder (a simulation): the service states come from one
REnumServicesStatusW instead of an OpenService and a QueryServiceStatus per service, WMI proposes every interface it
uses in the exporter's one bind instead of an alter-context at every change of interface, each pipe is bound once,
and every WMI object is read by wmi_decode as impacket's own decoder reads it.
The facts are the same as before: every listed service's state and start mode as the host holds them."""

from __future__ import annotations

import pytest
from impacket.dcerpc.v5 import rpcrt

from msrpc_harness import probe_parameters, probed, samba_site
from smslab.state import HostState

SITE = "sms610"


def recorded_probe(lab, tmp_path, wmi, monkeypatch, decoded=None):
    from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc import wmi_decode
    calls, binds = [], []
    request, bind, row = rpcrt.DCERPC_v5.request, rpcrt.DCERPC_v5.bind, wmi_decode.row

    def decoding(objref):
        values = row(objref)
        if decoded is not None:
            decoded.append((objref, values))
        return values
    monkeypatch.setattr(wmi_decode, "row", decoding)

    def requesting(dce, call, *args, **kwargs):
        calls.append(type(call).__name__)
        return request(dce, call, *args, **kwargs)

    def binding(dce, uuid, alter=0, *args, **kwargs):
        binds.append(("alter" if alter else "bind", bytes(uuid)))
        return bind(dce, uuid, alter, *args, **kwargs)
    monkeypatch.setattr(rpcrt.DCERPC_v5, "request", requesting)
    monkeypatch.setattr(rpcrt.DCERPC_v5, "bind", binding)
    answer = probed(lab, SITE, tmp_path, wmi_addresses=wmi)
    return answer, calls, binds


@pytest.mark.parametrize("profile", ["nt4", "w2k"])
def test_a_probe_enumerates_services_once_and_reuses_wmi_contexts(tmp_path, monkeypatch, profile):
    with samba_site(tmp_path, hosts=[SITE], wmi=True, options={SITE: {"profile": profile}}) as (state_dir, lab, wmi):
        decoded = []
        answer, calls, binds = recorded_probe(lab, tmp_path, wmi, monkeypatch, decoded)
        held = HostState.load(state_dir / "hosts" / SITE).services
    listed = probe_parameters()["Services"]
    assert answer["services"] == {
        name: {"exists": name in held, "state": held[name].get("state", "stopped") if name in held else None,
               "start_mode": held[name].get("start_mode", "auto") if name in held else None}
        for name in listed}
    assert sum(entry["exists"] for entry in answer["services"].values()) >= 2
    assert not [e for e in answer["errors"] if e["source"] == "services"]
    # was: ROpenServiceW and RQueryServiceStatus once per installed service
    assert calls.count("REnumServicesStatusW") == 1
    assert "ROpenServiceW" not in calls and "RQueryServiceStatus" not in calls
    # WMI: three queries in two namespaces; was 7 alter-contexts, one at every change of interface, then 2 (one
    # per further interface); now none: the exporter's one bind proposes them all (test_msrpc_wmi_one_bind.py)
    assert answer["active_packages"]["available"] and answer["console_open"] is not None
    assert calls.count("IWbemServices_ExecQuery") >= 2 and calls.count("IWbemLevel1Login_NTLMLogin") == 2
    # SMS_Site by its key: one GetObject (was a query: ExecQuery and Next), the same facts as the query gave
    assert calls.count("IWbemServices_GetObject") == 1
    held_site = HostState.load(state_dir / "hosts" / SITE).wmi["site"]
    assert answer["wmi_site"]["available"] and answer["wmi_site"]["error"] is None
    assert {key: answer["wmi_site"][key] for key in ("SiteCode", "ReportingSiteCode", "Type", "Version", "InstallDir")} \
        == {key: held_site.get(key) for key in ("SiteCode", "ReportingSiteCode", "Type", "Version", "InstallDir")}
    alters = [uuid for kind, uuid in binds if kind == "alter"]
    assert alters == [], alters
    # one bind per interface: \winreg, \svcctl, the activator, the exporter (no \srvsvc: drives are not given,
    # so they are enumerated on this cold probe)
    bound = [uuid for kind, uuid in binds if kind == "bind"]
    assert len(bound) == len(set(bound)), bound
    # every object WMI returned was read by wmi_decode, as impacket's own decoder reads it
    from impacket.dcerpc.v5.dcom import wmi as impacket_wmi
    from impacket.dcerpc.v5.dcomrt import INTERFACE
    assert len(decoded) >= 3 and all(values is not None for _objref, values in decoded)
    for objref, values in decoded:
        obj = impacket_wmi.IWbemClassObject(INTERFACE(None, objref, None, target="lab"), None)
        assert values == {name: prop["value"] for name, prop in obj.getProperties().items()}


def test_a_rerun_in_a_new_process_goes_straight_to_iactivation_on_nt4(tmp_path, monkeypatch):
    from impacket.dcerpc.v5 import dcomrt
    from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc import activation
    scm = bytes(dcomrt.IID_IRemoteSCMActivator)
    with samba_site(tmp_path, hosts=[SITE], wmi=True) as (_state_dir, lab, wmi):
        activation.forget()
        first, _calls, first_binds = recorded_probe(lab, tmp_path, wmi, monkeypatch)
        activation.forget()                 # what a new Ansible fork knows; the host's cache file stays
        monkeypatch.undo()
        second, _calls, second_binds = recorded_probe(lab, tmp_path, wmi, monkeypatch)
    assert first["active_packages"] == second["active_packages"] and second["active_packages"]["available"]
    assert ("bind", scm) in first_binds            # tried, refused by NT 4.0 (COM 5.4)
    assert ("bind", scm) not in second_binds       # was: tried again in every new process
    assert activation.remembered(wmi[SITE]) == activation.ACTIVATION
