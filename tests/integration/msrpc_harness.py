"""Helpers of the msrpc integration tests: a Samba lab of a scenario (C1's ``smslab.samba``), the lab's
WMI responder beside it (root: DCOM listens on port 135), and the msrpc transport to one of its hosts."""

from __future__ import annotations

import hashlib
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace


from lab_harness import COLLECTION_ROOT, SCENARIOS, ansible_env
from smslab.samba import HostOptions, SambaLab
from smslab.samba.testing import require_root, require_samba
from smslab.scenario import build_state_dir
from smslab.state import HostState


def collection(tmp_path: Path):
    """Make ``ansible_collections.sms.remediation`` importable (the collection root of the tests)."""
    ansible_env(tmp_path)
    if str(COLLECTION_ROOT) not in sys.path:
        sys.path.insert(0, str(COLLECTION_ROOT))


collection(Path(tempfile.gettempdir()))


@contextmanager
def samba_site(tmp_path: Path, scenario="demo.yml", hosts=None, options=None, wmi=False, faults=None):
    """(state_dir, SambaLab, wmi address per host or {}) for ``scenario``; every process stopped after."""
    require_samba()
    collection(tmp_path / "env")
    state_dir = tmp_path / "state"
    names = build_state_dir(SCENARIOS / scenario if isinstance(scenario, str) else scenario, state_dir)
    for name, host_faults in (faults or {}).items():
        state = HostState.load(state_dir / "hosts" / name)
        state.faults.update(host_faults)
        state.save()
    lab = SambaLab(state_dir, hosts, options={k: HostOptions(**v) for k, v in (options or {}).items()})
    responder, addresses = None, {}
    try:
        lab.start()
        if wmi:
            require_root("the WMI responder listens on port 135 of 127.0.0.x")
            from smslab.dcom import WmiResponder, free_loopback_addresses
            addresses = free_loopback_addresses(lab.names)
            responder = WmiResponder(state_dir, lab.names, addresses.__getitem__).start()
        yield state_dir, lab, addresses
    finally:
        if responder is not None:
            responder.stop()
        lab.stop()
    assert not lab.pids(), f"Samba processes left after stop: {lab.pids()}"


def transport(lab, name: str, tmp_path: Path, check_mode=False, wmi_addresses=None, **overrides):
    """The msrpc transport to ``name``, built from the lab's inventory variables as ``transport_for`` would."""
    from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.settings import settings_from_vars
    from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.transport import MsrpcTransport

    variables = dict(lab.inventory_vars(name), q244405_msrpc_cache_dir=str(tmp_path / "msrpc-cache"),
                     q244405_msrpc_timeout=15)
    if wmi_addresses:
        variables["q244405_msrpc_wmi_address"] = wmi_addresses[name]
    variables.update({f"q244405_msrpc_{k}": v for k, v in overrides.items()})
    warnings = []
    result = MsrpcTransport(settings_from_vars(name, variables), check_mode, warnings.append)
    result.warnings = warnings
    return result


def probed(lab, name: str, tmp_path: Path, **overrides) -> dict:
    """One facts probe of ``name`` on a new transport, closed afterwards (a new Ansible task's probe)."""
    host = transport(lab, name, tmp_path, **overrides)
    try:
        return host.probe(probe_parameters())
    finally:
        host.close()


def probe_parameters() -> dict:
    from ansible_collections.sms.remediation.plugins.module_utils import sms20
    return sms20.probe_parameters(sms20.merge_overrides(None))


def folder_digest(root: Path) -> dict:
    """Every file under ``root`` (a host's state folder) -> sha256; the lab's own lock file left out."""
    digest = {}
    for path in sorted(Path(root).rglob("*")):
        if path.is_file() and not path.name.endswith(".lock"):
            digest[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digest


@contextmanager
def hierarchy_wmi(tmp_path: Path, profiles: dict):
    """The hierarchy scenario's WMI responder alone (no Samba), the hosts in ``profiles`` ({name: profile}) held to
    them: ``state_dir``, ``addresses`` (name -> 127.0.0.x), ``user`` and ``password``. Root: port 135."""
    from smslab.dcom import WmiResponder, free_loopback_addresses, lab_credentials
    state_dir = tmp_path / "state"
    names = build_state_dir(SCENARIOS / "hierarchy.yml", state_dir)
    for name, profile in profiles.items():
        state = HostState.load(state_dir / "hosts" / name)
        state.data["profile"] = profile
        state.save()
    addresses = free_loopback_addresses(names)
    user, password = lab_credentials(state_dir)
    responder = WmiResponder(state_dir, names, addresses.__getitem__).start()
    try:
        yield SimpleNamespace(state_dir=state_dir, addresses=addresses, user=user, password=password)
    finally:
        responder.stop()
