"""A host transport over an in-memory SMS 2.0 site, for the unit tests: proves the seam
(plugin_utils/_transport/base.py) is complete. It answers every operation of the contract of
docs/internals.md (probe, compressed_package, stage, transaction, installer, registry, service)
from a small model of one site server, and changes nothing in check mode."""

from __future__ import annotations

import copy
import hashlib
import ntpath
import re
from pathlib import Path

import probe_builders as pb

from ansible_collections.sms.remediation.plugins.module_utils.dll_version import fixed_file_version
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.base import HostTransport


def dll_bytes(version: str) -> bytes:
    """A Distmgr.dll body whose version resource (VS_FIXEDFILEINFO) says ``version``."""
    import struct
    major, minor, build, revision = (int(x) for x in version.split("."))
    fixed = struct.pack("<IIII", 0xFEEF04BD, 0x00010000, (major << 16) | minor, (build << 16) | revision)
    return b"MZ" + b"\0" * 62 + fixed + version.encode() + b"\0" * 32


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class FakeSite:
    """One site server: files (Windows path, case-insensitive -> bytes), services, registry, WMI."""

    def __init__(self, site_code="610", parent="600", distmgr="2.00.1380.1000", leftovers=("60000012",),
                 active=("61000001",), tracing_enabled=0):
        self.site_code, self.parent = site_code, parent
        self.full_version = "2.00.1380.1000"
        self.files = {}
        self.put("C:\\SMS\\bin\\i386\\Distmgr.dll", dll_bytes(distmgr))
        for package_id in list(leftovers) + list(active):
            self.put(f"D:\\SMSPKG\\{package_id}.PCK", f"package {package_id}".encode())
        self.active = set(active)
        self.services = {"SMS_SITE_COMPONENT_MANAGER": "running", "SMS_EXECUTIVE": "running",
                         "SMS_SITE_BACKUP": "stopped", "SMS_SQL_MONITOR": "running"}
        self.tracing_enabled = tracing_enabled
        self.restarts = []

    # ---- files ----------------------------------------------------------------------------------
    def put(self, path: str, data: bytes):
        self.files[path.lower()] = (path, data)

    def get(self, path: str):
        found = self.files.get(path.lower())
        return found[1] if found else None

    def remove(self, path: str):
        self.files.pop(path.lower(), None)

    def listing(self, folder: str):
        prefix = folder.rstrip("\\").lower() + "\\"
        return sorted(original for key, (original, _data) in self.files.items()
                      if key.startswith(prefix) and "\\" not in key[len(prefix):])

    def snapshot(self):
        return copy.deepcopy((self.files, self.services, self.tracing_enabled, self.active))

    # ---- what the probe reads -------------------------------------------------------------------
    def probe_answer(self) -> dict:
        dll = self.get("C:\\SMS\\bin\\i386\\Distmgr.dll")
        files = [pb.pck(ntpath.basename(path), size=len(self.get(path))) for path in self.listing("D:\\SMSPKG")]
        answer = pb.site_probe(self.site_code, self.parent, files=files, active_ids=sorted(self.active),
                               full_version=self.full_version)
        answer["registry"]["tracing"]["Enabled"] = self.tracing_enabled
        answer["platforms"]["i386"].update(file_version=fixed_file_version(dll), size=len(dll), sha256=sha256(dll))
        answer["hotfix_log"]["exists"] = self.get("C:\\SMS\\Logs\\Q244405.log") is not None
        answer["services"] = pb.services(**self.services)
        return answer


class FakeTransport(HostTransport):
    """The seam's contract over a FakeSite; ``calls`` lists the operations in order."""

    name = "fake"

    def __init__(self, site: FakeSite, host: str, check_mode: bool):
        super().__init__(host, check_mode)
        self.site = site
        self.calls = []
        self.closed = False

    def probe(self, parameters):
        self.calls.append("probe")
        assert parameters["PackageFilePattern"].startswith("^(?<id>"), "the probe's regex must be .NET"
        return self.site.probe_answer()

    def act_on_packages(self, parameters):
        self.calls.append("act_on_packages")
        assert "(?P<" not in parameters["IdPattern"], "every regex sent to a host is .NET (issue 11 defect 1)"
        pattern = re.compile(parameters["IdPattern"].replace("(?<", "(?P<"), re.IGNORECASE)
        folders = {f.rstrip("\\").lower() for f in parameters["PackageFolders"]}
        items, verb = [], {"absent": "remove", "quarantined": "quarantine", "restored": "restore"}[parameters["Mode"]]
        for item in parameters["Items"]:
            path, name = item["path"], ntpath.basename(item["path"])
            data = self.site.get(path)
            if ntpath.dirname(path).lower() not in folders or not pattern.match(name):
                items.append(dict(item, outcome="refused", reason="outside the package folders or not a package"))
            elif item["id"] in self.site.active:
                items.append(dict(item, outcome="refused", reason="active now"))
            elif data is None:
                items.append(dict(item, outcome="missing", reason=None))
            else:
                done = f"would_{verb}" if self.check_mode else {"remove": "removed", "quarantine": "quarantined"}[verb]
                if not self.check_mode:
                    if verb == "quarantine":
                        self.site.put(ntpath.join(parameters["QuarantineDir"], name), data)
                    self.site.remove(path)
                items.append(dict(item, outcome=done, reason=None, sha256=sha256(data), size=len(data)))
        return {"items": items, "manifest": None}

    def stage_file(self, source, dest_dir):
        self.calls.append("stage_file")
        assert not self.check_mode, "stage_file is only called in a real run"
        data = Path(source).read_bytes()
        dest = ntpath.join(dest_dir, Path(source).name)
        changed = self.site.get(dest) != data
        self.site.put(dest, data)
        return {"changed": changed, "dest": dest, "sha256": sha256(data)}

    def hotfix_transaction(self, parameters):
        self.calls.append("hotfix_transaction")
        target = ntpath.join(parameters["InstallDir"], "bin", parameters["Platform"], "Distmgr.dll")
        staged, current = self.site.get(parameters["StagedPath"]), self.site.get(target)
        before = dict(self.site.services)
        result = {"failed_step": None, "error": None, "restored": False, "services_before": before,
                  "services_after": before, "steps": [], "new_version": fixed_file_version(staged or b""),
                  "new_sha256": parameters["ExpectedSha256"]}
        if staged is None or sha256(staged) != parameters["ExpectedSha256"]:
            return dict(result, outcome="failed", failed_step="precheck", error="staged file missing or altered")
        if sha256(current) == parameters["ExpectedSha256"]:
            return dict(result, outcome="unchanged")
        if self.check_mode:
            return dict(result, outcome="would_replace")
        running = [name for name in parameters["StopOrder"] if self.site.services.get(name) == "running"]
        steps = [{"step": f"stop:{name}", "ok": True, "detail": None} for name in running]
        self.site.put(target + parameters["BackupSuffix"], current)
        self.site.put(target, staged)
        steps += [{"step": s, "ok": True, "detail": None} for s in ("backup", "swap", "verify")]
        steps += [{"step": f"start:{name}", "ok": True, "detail": None} for name in reversed(running)]
        hotfix_log = ntpath.join(parameters["InstallDir"], "Logs", parameters["HotfixLogName"])
        self.site.put(hotfix_log, b"Q244405 applied\r\n")
        return dict(result, outcome="replaced", steps=steps, services_after=dict(self.site.services))

    def run_installer(self, path, arguments, timeout):
        self.calls.append("run_installer")
        assert not self.check_mode, "run_installer is only called in a real run"
        if self.site.get(path) is None:
            return {"rc": 2, "stdout": "", "stderr": f"{path} not found"}
        self.site.put("C:\\SMS\\bin\\i386\\Distmgr.dll", dll_bytes("2.00.1380.1083"))
        self.site.put("C:\\SMS\\Logs\\Q244405.log", b"installed\r\n")
        return {"rc": 0, "stdout": "done", "stderr": ""}

    def set_registry_value(self, key, name, data, value_type):
        self.calls.append("set_registry_value")
        assert key.endswith("\\Tracing\\SMS_DISTRIBUTION_MANAGER") and name == "Enabled" and value_type == "dword"
        changed = self.site.tracing_enabled != data
        if changed and not self.check_mode:
            self.site.tracing_enabled = data
        return {"changed": changed, "diff": {"before": f"Enabled={self.site.tracing_enabled}\n", "after": f"Enabled={data}\n"}}

    def restart_service(self, name):
        self.calls.append("restart_service")
        if not self.check_mode:
            self.site.restarts.append(name)
        return {"changed": True}

    def close(self):
        self.closed = True
