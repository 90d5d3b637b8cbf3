"""SMS 2.0 facts and scenario vocabulary the lab's scenarios are built from.

Sources: ../shared/notes/sms20-facts.md; each table names its source, "assumption" marks the
ones not documented for SMS 2.0.
"""

from __future__ import annotations

import calendar
import datetime as _dt
import re

# build -> (Setup\Full Version, Distmgr.dll file version, SMS_Site.BuildNumber)
# source: Q213410 / Q251070 (RTM, SP1), Q268803 (SP2), Q266130 (SP3/SP4 pattern: likely),
# Q250850 (SP1 hotfix bundle Distmgr.dll 2.00.1380.1083; the hotfix does not change Full Version).
BUILDS = {
    "rtm": ("2.00.1239.0000", "2.00.1239.0000", 1239),
    "sp1": ("2.00.1380.1000", "2.00.1380.1000", 1380),
    "sp1_hotfixed": ("2.00.1380.1000", "2.00.1380.1083", 1380),
    "sp2": ("2.00.1493.2000", "2.00.1493.2000", 1493),
    "sp3": ("2.00.1493.3000", "2.00.1493.3000", 1493),
    "sp4": ("2.00.1493.4000", "2.00.1493.4000", 1493),
}
HOTFIX_VERSION = "2.00.1380.1083"
# source: Q250850 file table: Distmgr.dll I386 228,240 bytes, Alpha 356,624 bytes.
HOTFIX_DLL_SIZES = {"i386": 228240, "alpha": 356624}
# Assumption: the installed (RTM/SP1/SP2) Distmgr.dll is of the same order; no size is documented. Above 256 KiB
# so that reading or backing it up takes many SMB1 reads (~16 KiB each on NT 4.0), as on a real site server.
INSTALLED_DLL_SIZES = {"i386": 266512, "alpha": 372496}
PLATFORMS = {"i386": "x86", "alpha": "ALPHA"}          # platform folder -> PROCESSOR_ARCHITECTURE
SITE_TYPES = {"primary": 2, "secondary": 1}            # SMS_Site.Type (Resource Guide Table B.39)
# Setup\Type: assumption (CM07 diagnostic reads it; value taken from docs/internals.md example).
SETUP_TYPES = {"primary": 1, "secondary": 2}
DEFAULT_INSTALL_DIR = "C:\\SMS"
DEFAULT_MAX_FILE_SIZE = 1048576                        # assumption: no SMS 2.0 default is known
DEFAULT_HOTFIX_HOST_PATH = "C:\\SMSHOTFIX\\Q244405"
# Service -> (executable, default state, start mode). sitecomp/smsexec: Q267889, Q223755.
# smsdbmon.exe, smsbkup.exe: assumptions (logs Smsdbmon.log / smsbkup.log; executables not confirmed).
SERVICES = {
    "SMS_SITE_COMPONENT_MANAGER": ("sitecomp.exe", "running", "auto"),
    "SMS_EXECUTIVE": ("smsexec.exe", "running", "auto"),
    "SMS_SITE_BACKUP": ("smsbkup.exe", "stopped", "manual"),
    "SMS_SQL_MONITOR": ("smsdbmon.exe", "running", "auto"),
}
SERVICE_STATES = {"running", "stopped", "paused", "start_pending", "stop_pending", "absent"}
# The SMS_SITE share: assumption (SMS 2.0 maps it to inboxes\despoolr.box\receive).
SMS_SITE_FOLDER = "inboxes\\despoolr.box\\receive"
COMPONENT = "SMS_DISTRIBUTION_MANAGER"
KNOWN_FAULTS = {
    "slow_seconds", "drop_connection_after", "copy_fails", "service_wont_stop",
    "service_wont_start", "fail_step", "wmi_unavailable", "corrupt_log", "unreachable",
    # the whole WMI service fails (services, processes, drives too), not only the SMS namespaces
    "wmi_down",
    # the hotfix transaction (lab/smslab/handlers/sms_scripts/service_control.py, hotfix.py)
    "cut_after_step", "service_stop_seconds", "service_start_seconds", "process_exit_seconds",
    # the DCOM/WMI responder (lab/smslab/dcom/provider.py, responder.py)
    "wmi_access_denied", "wmi_query_hangs", "rpc_unavailable",
}
SITE_FIELDS = {
    "name", "site_code", "parent", "type", "build", "platform", "install_dir", "logging",
    "log_max_size", "log_rollover", "log_wrapped_entry", "log_bytes", "log_encoding", "drives",
    "console_open", "services", "packages", "sender_files", "full_version_missing",
    "distmgr_no_version", "hotfix_log", "faults", "inventory_vars", "log_shared", "distmgr_corrupt_version",
    "profile",
}
PACKAGE_FIELDS = {"active", "deleting", "leftovers", "deleted", "odd_files", "reparse_points"}
TOP_FIELDS = {"seed", "credentials", "hotfix", "pck_size", "sites", "description"}

PACKAGE_ID = re.compile(r"^[A-Za-z0-9]{3}[0-9A-Fa-f]{5}$")
SITE_CODE = re.compile(r"^[A-Za-z0-9]{3}$")
HOST_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")

EPOCH_1999 = _dt.datetime(1999, 10, 11, 8, 0, 0)       # first log entry (local time)
FIXED_MTIME = calendar.timegm((1999, 11, 23, 20, 34, 0))  # generated files that are not the host's
