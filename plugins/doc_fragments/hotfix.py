# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """Options of the hotfix, shared by the modules that apply it or plan it."""

    # distmgr_hotfix, remediate, remediation_plan: when the hotfix may go ahead.
    DOCUMENTATION = r"""
options:
  installer_path:
    description:
      - Path of C(Q244405.exe) on the host (or a UNC path), with its C(I386) folder beside it, for the installer
        method (KB method 1, I386 only).
    type: str
  allow_console_open:
    description:
      - Allow the hotfix although the SMS Administrator console (C(mmc.exe) with C(sms.msc)) is open on the host,
        or although the probe cannot tell whether it is open (its WMI console check failed - WMI down, or the
        C(msrpc) transport without WMI); unknown is refused like open, with the probe's cause.
      - The KB asks to close it first.
    type: bool
    default: false
  allow_cross_build:
    description:
      - Allow the hotfix although its C(Distmgr.dll) belongs to another SMS build than the site's (the KB's
        hotfix DLL, 2.00.1380.1083, is the SP1 bundle's; on an RTM site, build 1239, it mixes component
        builds, which KB Q244405 does not describe; its resolution there is the service pack).
      - Without it such a site is not given the hotfix and the plan says why; M(sms.remediation.distmgr_hotfix),
        which asks for the hotfix on its host, fails the task saying so. Set it for one run, knowingly.
    type: bool
    default: false
"""

    # distmgr_hotfix, remediate: how the manual hotfix runs on the host.
    TRANSACTION = r"""
options:
  staging_dir:
    description:
      - Host folder where the new C(Distmgr.dll) is staged before the swap.
        Default C(<sms_root>\hotfix\Q244405\<platform>).
    type: str
  wait_seconds:
    description: Bounded wait for each service to stop or start during the hotfix.
    type: int
    default: 120
  keep_backups:
    description:
      - The manual method keeps the replaced C(Distmgr.dll) as C(Distmgr.dll.pre-Q244405) beside it (or
        C(Distmgr.dll.pre-Q244405.<transaction>) when that name holds an older file) after success, and names it
        in the result (C(backup)) and the journal; it is the only way back to the old DLL.
      - C(0) (default) keeps every backup. C(N) deletes, after a successful replace, all but the N newest
        backups of that C(Distmgr.dll) (newest by last-write time, this run's always among them).
    type: int
    default: 0
"""
