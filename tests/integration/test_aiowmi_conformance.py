"""Conformance of the lab's DCOM/WMI responder with a client that is not ours: ``aiowmi`` (PyPI, pinned in
requirements.txt, test-only; its own NTLM, NDR and DCOM code, no impacket), unpatched and unshimmed, against a
host on the ``w2k`` profile. The rows must be the scenario's.

What aiowmi cannot do that the real server would allow, and so is not tried here:
- an ``nt4`` host: aiowmi activates only through IRemoteSCMActivator (``Connection.negotiate_ntlm`` binds
  it, no IActivation fallback), which NT 4.0 (COM 5.4) does not offer;
- an authentication level below PKT_PRIVACY for the activation: aiowmi fixes PKT_PRIVACY on port 135 and
  at least PKT_INTEGRITY on the object exporter;
- IWbemFetchSmartEnum: aiowmi asks for it with RemQueryInterface; the lab (like an SMS 2.0-era WMI without
  it) answers E_NOINTERFACE inside the REMQIRESULT array and aiowmi falls back to IEnumWbemClassObject::Next.
Root only (port 135).
"""

from __future__ import annotations

import asyncio
import os

import pytest

from lab_harness import SCENARIOS
from smslab.dcom import WmiResponder, free_loopback_addresses, lab_credentials
from smslab.scenario import build_state_dir
from smslab.state import HostState

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: DCOM starts at port 135 (binding it needs root)")

aiowmi_connection = pytest.importorskip("aiowmi.connection", reason="aiowmi is pinned in requirements.txt")
aiowmi_query = pytest.importorskip("aiowmi.query")

HOST = "sms712"


@pytest.fixture
def w2k(tmp_path):
    state_dir = tmp_path / "state"
    names = build_state_dir(SCENARIOS / "hierarchy.yml", state_dir)
    state = HostState.load(state_dir / "hosts" / HOST)
    state.data["profile"] = "w2k"
    state.data["processes"] = [{"name": "mmc.exe", "command_line": 'C:\\WINNT\\System32\\mmc.exe "C:\\SMS\\bin\\i386\\sms.msc"',
                                "pid": 1204}]
    state.save()
    addresses = free_loopback_addresses(names)
    responder = WmiResponder(state_dir, names, addresses.__getitem__).start()
    yield addresses[HOST], lab_credentials(state_dir), HostState.load(state_dir / "hosts" / HOST)
    responder.stop()


async def _rows(address, user, password, namespace, wql):
    conn = aiowmi_connection.Connection(address, user, password)
    try:
        await conn.connect(timeout=10)
        service = await conn.negotiate_ntlm()
        await conn.login_ntlm(service, namespace=namespace)
        rows = []
        async with aiowmi_query.Query(wql, namespace=namespace).context(conn, service, timeout=10) as context:
            async for props in context.results():
                rows.append({name: prop.value for name, prop in props.items()})
        return rows
    finally:
        conn.close()


def rows(w2k, namespace, wql):
    address, (user, password), _state = w2k
    return asyncio.run(_rows(address, user, password, namespace, wql))


def test_sms_package_rows_match_the_scenario(w2k):
    state = w2k[2]
    found = rows(w2k, "root/SMS/site_712", "SELECT * FROM SMS_Package")
    assert [{key: row[key] for key in ("PackageID", "ActionInProgress", "SourceSite")} for row in found] == [
        {key: package[key] for key in ("PackageID", "ActionInProgress", "SourceSite")} for package in state.wmi["packages"]]


def test_sms_site_row_matches_the_scenario(w2k):
    site = w2k[2].wmi["site"]
    [row] = rows(w2k, "root/SMS/site_712", "SELECT * FROM SMS_Site")
    assert {key: row[key] for key in ("SiteCode", "ReportingSiteCode", "Type", "Version", "BuildNumber", "InstallDir")} \
        == {key: site[key] for key in ("SiteCode", "ReportingSiteCode", "Type", "Version", "BuildNumber", "InstallDir")}


def test_win32_process_query(w2k):
    [row] = rows(w2k, "root/cimv2", "SELECT * FROM Win32_Process WHERE Name = 'mmc.exe'")
    assert (row["Name"], row["ProcessId"], row["ExecutablePath"]) == ("mmc.exe", 1204, "C:\\WINNT\\System32\\mmc.exe")
    assert "CommandLine" not in row                    # Windows 2000's Win32_Process has none (came with XP)
