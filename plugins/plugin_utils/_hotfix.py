# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The hotfix steps (pre-checks, installer or staged transaction, verification probe), shared by the
distmgr_hotfix and remediate action plugins. A mixin for SmsActionBase."""

from __future__ import annotations

import hashlib
import ntpath
import os

from ansible.errors import AnsibleActionFail, AnsibleError

from ansible_collections.sms.remediation.plugins.plugin_utils._action import PROBE_FACT, SITE_FACT


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class HotfixSteps:
    """KB Q244405 hotfix on one site. ``args``: method, installer_path, src, sha256, staging_dir,
    allow_console_open, wait_seconds (the distmgr_hotfix options)."""

    # True once the hotfix has sent something to the host that can change it (staging, installer).
    hotfix_started = False

    def apply_hotfix(self, site, args, task_vars):
        """Result of the hotfix on ``site`` (the facts it was decided from); raises AnsibleActionFail."""
        host = self.host_name(task_vars)
        before = (site.platforms.get(site.platform) or {}).get("file_version")
        state = site.q244405
        if state.fixed_by:
            return {"changed": False, "outcome": "already_fixed", "fixed_by": state.fixed_by,
                    "distmgr_version": {"before": before, "after": before}, "msg": state.reason}
        if not state.affected:
            raise AnsibleActionFail(f"{host}: cannot tell whether the site is affected, so the hotfix is not applied: {state.reason}")
        self.precheck(site, args, host)
        if args["method"] == "installer":
            return self.run_installer(site, args, task_vars, before)
        return self.run_manual(site, args, task_vars, before)

    # ---- pre-checks ----------------------------------------------------------------------
    def precheck(self, site, args, host):
        services = self.table["services"]
        for role in ("component_manager", "executive"):
            if not site.services.get(services[role]):
                raise AnsibleActionFail(f"{host}: service {services[role]} not found; is this an SMS 2.0 site server?")
        if site.console_open and not args["allow_console_open"]:
            raise AnsibleActionFail(
                f"{host}: the SMS Administrator console is open ({self.table['console']['process']} with "
                f"{self.table['console']['snapin']}); close it as KB Q244405 asks, or set allow_console_open")
        if args["method"] == "installer":
            if site.platform not in self.table["installer_platforms"]:
                raise AnsibleActionFail(
                    f"{host}: {self.table['hotfix_installer_name']} runs on I386 only and this site server is "
                    f"{site.platform}; use method=manual with the {site.platform} Distmgr.dll")
            if not args["installer_path"]:
                raise AnsibleActionFail(f"{host}: method=installer needs installer_path")
        elif not args["src"]:
            raise AnsibleActionFail(f"{host}: method=manual needs src (the fixed Distmgr.dll for {site.platform})")

    # ---- method 1: the installer ---------------------------------------------------------
    def run_installer(self, site, args, task_vars, before):
        if self._task.check_mode:
            return self.would("would_install", before, f"would run {args['installer_path']} /s")
        self.hotfix_started = True
        reply = self._execute_module(
            module_name="ansible.windows.win_command",
            module_args={"cmd": f'"{args["installer_path"]}" {self.table["hotfix_installer_args"]}'},
            task_vars=task_vars,
        )
        if reply.get("failed") or reply.get("rc", 1) != 0:
            detail = (reply.get("stderr") or reply.get("stdout") or reply.get("msg") or "").strip()
            raise AnsibleActionFail(f"{self.host_name(task_vars)}: {args['installer_path']} /s failed (rc={reply.get('rc')}): {detail}")
        return self.verified("installed", before, task_vars, {})

    # ---- method 2: stage, then one transaction ---------------------------------------------
    def run_manual(self, site, args, task_vars, before):
        host = self.host_name(task_vars)
        source = self._find_needle("files", args["src"])
        digest = sha256_of(source)
        if args["sha256"] and args["sha256"].lower() != digest:
            raise AnsibleActionFail(f"{host}: {args['src']} has sha256 {digest}, expected {args['sha256'].lower()}; nothing was copied")
        if self._task.check_mode:
            return self.would("would_replace", before, f"would replace Distmgr.dll with {args['src']} (sha256 {digest})")
        staging_dir = args["staging_dir"] or ntpath.join(site.install_dir, "hotfix", "Q244405", site.platform)
        staged = ntpath.join(staging_dir, os.path.basename(source))
        self.hotfix_started = True
        self.stage(source, staging_dir, task_vars)
        reply = self.run_script("sms_hotfix_transaction", {
            "InstallDir": site.install_dir,
            "Platform": site.platform,
            "StagedPath": staged,
            "ExpectedSha256": digest,
            "MinimumVersion": self.table["hotfix_min_distmgr_version"],
            "StopOrder": [self.table["services"][role] for role in self.table["hotfix_stop_order"]],
            "WaitSeconds": args["wait_seconds"],
            "BackupSuffix": self.table["backup_suffix"],
            "HotfixLogName": self.table["hotfix_log_name"],
        }, task_vars)
        outcome = reply.get("result") or {}
        details = {"services": {"before": outcome.get("services_before"), "after": outcome.get("services_after")},
                   "steps": outcome.get("steps", [])}
        # "unchanged": the staged DLL was already in place (an earlier run swapped it); verify below.
        if outcome.get("outcome") not in ("replaced", "unchanged"):
            rolled_back = "the original Distmgr.dll was restored" if outcome.get("restored") else "Distmgr.dll was not changed"
            raise AnsibleActionFail(
                f"{host}: hotfix failed at step {outcome.get('failed_step')}: {outcome.get('error')}; {rolled_back}; "
                f"services now {outcome.get('services_after')}", result=details)
        return self.verified("replaced", before, task_vars, details)

    def stage(self, source, staging_dir, task_vars):
        """Copy the new Distmgr.dll to the host with win_copy (sha1-checked, unchanged when already there)."""
        task = self._task.copy()
        task.args.clear()
        task.args.update({"src": source, "dest": staging_dir.rstrip("\\") + "\\"})
        copy_action = self._shared_loader_obj.action_loader.get(
            "ansible.windows.win_copy", task=task, connection=self._connection, play_context=self._play_context,
            loader=self._loader, templar=self._templar, shared_loader_obj=self._shared_loader_obj)
        try:
            reply = copy_action.run(task_vars=task_vars)
        except AnsibleError as exc:  # a transfer error is raised, not returned
            reply = {"failed": True, "msg": str(exc)}
        if reply.get("failed"):
            raise AnsibleActionFail(f"{self.host_name(task_vars)}: staging the new Distmgr.dll in {staging_dir} failed, "
                                    f"services untouched: {reply.get('msg')}")

    # ---- results -------------------------------------------------------------------------
    def would(self, outcome, before, message):
        return {"changed": True, "outcome": outcome, "fixed_by": None, "msg": message,
                "distmgr_version": {"before": before, "after": None},
                "diff": {"before": f"Distmgr.dll {before}\n", "after": f"Distmgr.dll fixed (>= {self.table['hotfix_min_distmgr_version']})\n"}}

    def verified(self, outcome, before, task_vars, details):
        """Measure the host again: the fix counts only when the new probe says so."""
        answer = self.probe(task_vars, refresh=True)
        site = self.site(task_vars, answer)
        after = (site.platforms.get(site.platform) or {}).get("file_version")
        if site.q244405.fixed_by != "hotfix":
            raise AnsibleActionFail(f"{site.host}: after the hotfix the host still reads as not fixed: {site.q244405.reason}",
                                    result=details)
        stopped = [name for name, state in (details.get("services", {}).get("before") or {}).items()
                   if state == "running" and site.services.get(name) != "running"]
        if stopped:
            raise AnsibleActionFail(f"{site.host}: services not running after the hotfix: {', '.join(stopped)}", result=details)
        return dict(details, changed=True, outcome=outcome, fixed_by="hotfix", msg=site.q244405.reason,
                    distmgr_version={"before": before, "after": after},
                    diff={"before": f"Distmgr.dll {before}\n", "after": f"Distmgr.dll {after}\n"},
                    ansible_facts={PROBE_FACT: answer, SITE_FACT: site.to_facts()})
