r"""Scenario generator: turns a scenario (YAML file or dict) into the lab's state folder.

``build_state_dir(scenario, state_dir, seed=None)`` writes, for every site server::

    state_dir/hosts/<name>/host.json      registry, services, processes, wmi, environment, faults
    state_dir/hosts/<name>/fs/<drive>/... the host's files (Windows path C:\A\B -> fs/C/A/B)
    state_dir/hotfix/i386/Distmgr.dll     controller-side copy of the Q244405 DLLs (manual method)
    state_dir/hotfix/alpha/Distmgr.dll
    state_dir/scenario.json               the normalised scenario (what was built, with the seed)

``generate_fleet(n_sites, seed, log_bytes=0)`` returns a scenario dict for a large hierarchy.

With ``log_shared: true`` a site's Distmgr.log is its own small log (every entry about its packages)
followed by ``log_bytes`` of Distribution Manager noise generated once per (seed, size) into
``state_dir/shared/logs/<seed>-<size>.log`` and shared by every such host (``generated_files`` in
host.json, read through HostState). 200 hosts with a 200 MB log cost 200 MB of disk, not 40 GB.

Everything is deterministic for a seed: the same scenario and seed give the same bytes.

Scenario schema (YAML; see also lab/scenarios/README.md)
---------------------------------------------------------
Top level:

``seed``         int/str, default 0 (the ``seed`` argument of build_state_dir wins)
``credentials``  {user, password}, optional; carried into scenario.json for the server
``hotfix``       optional {host_path: 'C:\SMSHOTFIX\Q244405', version: '2.00.1380.1083'}, or
                 ``false`` to put no installer on the hosts. The controller copy is always written.
``pck_size``     [min, max] bytes of generated .PCK files, default [2048, 65536]
``sites``        list of sites (below)

Per site (only ``name`` and ``site_code`` are required):

``name``                inventory name, e.g. ``sms610`` (COMPUTERNAME is its upper case)
``site_code``           3 letters/digits, unique (write codes with a leading 0 in quotes)
``parent``              site code of the parent site, or null for a central site
``type``                primary (default) | secondary (must have a parent, cannot be a parent)
``build``               rtm | sp1 | sp1_hotfixed | sp2 (default) | sp3 | sp4
``platform``            i386 (default) | alpha
``profile``             the OS the host imitates on the wire (``smslab.profiles``): nt4 (default: NT 4.0
                        SP6a, SMB1 without large read/write), w2k (Windows 2000 SP4), modern (SMB3)
``install_dir``         default ``C:\SMS``
``logging``             on | off (default off, as in SMS 2.0): Tracing\SMS_DISTRIBUTION_MANAGER Enabled
``log_max_size``        Tracing MaxFileSize, default 1048576
``log_rollover``        true: older entries are in Distmgr.lo_ (implied by a ``log_claim: rollover``)
``log_wrapped_entry``   true: one "Start deleting" entry is wrapped over two lines as in the KB
``log_bytes``           pad Distmgr.log to this size (streamed, deterministic)
``log_shared``          true: the padding is not written per host but shared (see below)
``log_encoding``        ascii (default) | utf-16 (with BOM)
``drives``              list of drive letters holding an SMSPKG folder, default [D]
``console_open``        true: an mmc.exe with sms.msc runs
``services``            {service name: running|stopped|paused|start_pending|stop_pending|absent}
``packages``:
    ``active``          IDs known to the site (SMS_Package, ActionInProgress 0), .PCK present
    ``deleting``        IDs with ActionInProgress 3 (deletion under way), .PCK present
    ``leftovers``       IDs present as .PCK but not active here; an entry is an ID (the log claims
                        the deletion when logging is on) or {id, log_claim: true|false|rollover}
    ``deleted``         IDs cleanly deleted: the log records the deletion, no .PCK (noise)
    ``odd_files``       file names put in SMSPKG as they are ("READ ME.PCK", "CON.PCK", ...)
    ``reparse_points``  IDs whose <ID>.PCK is a symlink to C:\SMSDATA\<ID>.DAT (outside the
                        package folder); not active, the log claims their deletion
``sender_files``        names put in the SMS_SITE share (C:\SMS\inboxes\despoolr.box\receive),
                        e.g. 2_4O7PRI.PCK: Sender files that must never be touched
``full_version_missing`` true: no Setup\Full Version value (secondary sites installed from console)
``distmgr_no_version``  true: Distmgr.dll has no version resource
``distmgr_corrupt_version`` true: Distmgr.dll's version resource is damaged (unreadable)
``hotfix_log``          true: C:\SMS\Logs\Q244405.log exists (the hotfix installer ran)
``faults``              {slow_seconds: float, drop_connection_after: [names], copy_fails: bool,
                        service_wont_stop: [names], service_wont_start: [names], fail_step: str,
                        wmi_unavailable: bool, wmi_down: bool, corrupt_log: bool, unreachable: bool,
                        cut_after_step: str (the hotfix script is killed after that step; fires once),
                        service_stop_seconds / service_start_seconds / process_exit_seconds:
                        {service: seconds} (StopPending, StartPending, a stopped service's process)}
``inventory_vars``      extra Ansible host variables, copied as they are

Package IDs are the 3-character site code of the creating site plus 5 hex digits (61000012 was
created at site 610). YAML reads 60000012 as an integer; that is accepted. An ID with a leading 0
must be quoted (YAML would read it as octal).

SMS 2.0 facts used here come from ../shared/notes/sms20-facts.md; each table below names its
source. The ones marked "assumption" are not documented for SMS 2.0.

Package layout (one file per job): ``facts`` (the SMS 2.0 tables), ``schema`` (validation,
``load_scenario``), ``determinism`` (seeded random, times), ``logs`` (Distmgr.log synthesis,
``shared_log``), ``hosts`` (one host's state folder, ``build_state_dir``), ``fleet``
(``generate_fleet``).
"""

from smslab.scenario.facts import (  # noqa: F401  (public names of the former scenario.py)
    BUILDS, COMPONENT, DEFAULT_HOTFIX_HOST_PATH, DEFAULT_INSTALL_DIR, DEFAULT_MAX_FILE_SIZE, EPOCH_1999,
    FIXED_MTIME, HOST_NAME, HOTFIX_DLL_SIZES, HOTFIX_VERSION, INSTALLED_DLL_SIZES, KNOWN_FAULTS, PACKAGE_FIELDS, PACKAGE_ID,
    PLATFORMS, SERVICE_STATES, SERVICES, SETUP_TYPES, SITE_CODE, SITE_FIELDS, SITE_TYPES, SMS_SITE_FOLDER,
    TOP_FIELDS,
)
from smslab.scenario.schema import load_scenario  # noqa: F401
from smslab.scenario.logs import SHARED_LOG_START, shared_log  # noqa: F401
from smslab.scenario.hosts import build_state_dir, scenario_hotfix_version  # noqa: F401
from smslab.scenario.fleet import generate_fleet  # noqa: F401

__all__ = [
    "BUILDS", "COMPONENT", "DEFAULT_HOTFIX_HOST_PATH", "DEFAULT_INSTALL_DIR", "DEFAULT_MAX_FILE_SIZE",
    "EPOCH_1999", "FIXED_MTIME", "HOST_NAME", "HOTFIX_DLL_SIZES", "HOTFIX_VERSION", "INSTALLED_DLL_SIZES", "KNOWN_FAULTS",
    "PACKAGE_FIELDS", "PACKAGE_ID", "PLATFORMS", "SERVICE_STATES", "SERVICES", "SETUP_TYPES", "SITE_CODE",
    "SITE_FIELDS", "SITE_TYPES", "SMS_SITE_FOLDER", "TOP_FIELDS", "SHARED_LOG_START",
    "build_state_dir", "generate_fleet", "load_scenario", "scenario_hotfix_version", "shared_log",
]
