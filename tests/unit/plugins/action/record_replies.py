"""Record what the remote modules answer the action plugins, from the lab, into recorded_replies.json.

    .venv/bin/python tests/unit/plugins/action/record_replies.py

Runs remediate.yml against lab scenarios (a --check run, a real run and a second run of the demo hierarchy, and a
quarantine run) with every action plugin of the collection wrapped so that each ``_execute_module`` call is
written down as it happened: the host, the plugin, the module, the collection script (its marker), whether it
ran in check mode, the parameters and the reply exactly as the plugin received it (the real
``ansible.windows.win_powershell`` module result, as the lab's WinRM endpoint and Ansible's module wrapper
produced it). The script text itself is left out of the record (it is the collection's own file).

The unit tests read the file through recorded_replies.py. Run this again after changing a script, the lab's
answers or what a plugin sends; the tests that replay the recording (test_recorded_replies.py) fail until then.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[3]
OUTPUT = HERE / "recorded_replies.json"
sys.path.insert(0, str(ROOT / "tests" / "integration"))

# pylint: disable=wrong-import-position
from collection_overlay import overlay_collection  # noqa: E402
from lab_harness import SCENARIOS, make_lab  # noqa: E402

RECORD_ENV = "SMS_RECORD_REPLIES"
PLUGINS = ("site_facts", "remediate")        # the plugins remediate.yml runs on the hosts

WRAPPER = '''\
"""Written by tests/unit/plugins/action/record_replies.py: the real plugin, each remote module call recorded."""
import json
import os

from ansible_collections.sms.remediation.plugins.action._real_{name} import ActionModule as RealPlugin


class ActionModule(RealPlugin):
    def _execute_module(self, *args, **kwargs):
        reply = super()._execute_module(*args, **kwargs)
        module_name = kwargs.get("module_name", args[0] if args else None)
        module_args = dict(kwargs.get("module_args", args[1] if len(args) > 1 else None) or {{}})
        script = module_args.pop("script", None)
        record = {{
            "host": (kwargs.get("task_vars") or {{}}).get("inventory_hostname"),
            "plugin": "{name}",
            "module": module_name,
            "script": script.splitlines()[0] if script else None,
            "check_mode": bool(self._task.check_mode),
            "module_args": {{k: v for k, v in module_args.items() if not k.startswith("_ansible_")}},
            "reply": reply,
        }}
        with open(os.environ["{env}"], "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, sort_keys=True, default=str) + "\\n")
        return reply
'''

# (recording name, scenario, playbook arguments, extra variables); runs of one scenario share its lab.
RUNS = [
    ("demo_check", "demo.yml", ("--check", "--diff"), {}),
    ("demo_run", "demo.yml", (), {}),
    ("demo_second_run", "demo.yml", (), {}),
    ("quarantine_run", "demo.yml#quarantine", (), {
        "q244405_policy": "workaround", "q244405_workaround_state": "quarantined",
        "q244405_quarantine_dir": "D:\\Q244405-quarantine"}),
]


def record(tmp: Path) -> dict:
    wrappers = {name: WRAPPER.format(name=name, env=RECORD_ENV) for name in PLUGINS}
    overlay = overlay_collection(tmp / "collections", wrappers)
    labs, recordings = {}, {}
    try:
        for name, scenario, arguments, extra_vars in RUNS:
            if scenario not in labs:
                labs[scenario] = make_lab(SCENARIOS / scenario.split("#", maxsplit=1)[0], tmp / scenario.replace("#", "-"))
            lab = labs[scenario]
            log = tmp / f"{name}.jsonl"
            # one fork: the calls are written in the order they were made
            lab.env = dict(lab.env, ANSIBLE_COLLECTIONS_PATH=str(overlay), ANSIBLE_FORKS="1", **{RECORD_ENV: str(log)})
            run = lab.playbook(*arguments, extra_vars=extra_vars)
            calls = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()] if log.exists() else []
            if not calls:
                raise SystemExit(f"record_replies: {name}: nothing recorded (rc={run.rc})\n{run.stdout[-3000:]}")
            recordings[name] = {"scenario": scenario, "playbook_arguments": list(arguments),
                                "extra_vars": extra_vars, "recap": run.recap, "calls": calls}
    finally:
        for lab in labs.values():
            lab.stop()
    return recordings


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="record-replies-") as tmp:
        recordings = record(Path(tmp))
    text = json.dumps({"generator": "tests/unit/plugins/action/record_replies.py", "recordings": recordings},
                      indent=1, sort_keys=True, default=str)
    # the lab's state folder is a temporary one: no machine path may stay in the committed file
    text = text.replace(tmp, "<tmp>")
    OUTPUT.write_text(text + "\n", encoding="utf-8")
    counts = {name: len(recording["calls"]) for name, recording in recordings.items()}
    print(f"record_replies: wrote {OUTPUT.relative_to(ROOT)}: calls per run {counts}")
    return 0


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.exit(main())
