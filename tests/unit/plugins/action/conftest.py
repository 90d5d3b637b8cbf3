"""Build the collection's action plugins with a mocked task and recorded remote replies
(the pattern of ansible.windows' tests/unit/plugins/action)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from unittest.mock import MagicMock

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "module_utils"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from ansible.playbook.task import Task  # noqa: E402
from ansible.template import Templar  # noqa: E402


class Recorder:
    """Stands in for ``_execute_module``: answers by module name, records every call."""

    def __init__(self, replies: dict):
        self.replies = {name: list(answers) for name, answers in replies.items()}
        self.calls: list[tuple[str, dict]] = []

    def __call__(self, module_name=None, module_args=None, task_vars=None, **_):
        self.calls.append((module_name, module_args))
        answers = self.replies.get(module_name)
        if not answers:
            raise AssertionError(f"unexpected remote call {module_name}")
        return answers.pop(0) if len(answers) > 1 else answers[0]

    def scripts(self) -> list[str]:
        return [args["script"].splitlines()[0] for name, args in self.calls if name == "ansible.windows.win_powershell"]


@pytest.fixture
def make_action():
    def build(module: str, args: dict, replies: dict, check_mode: bool = False):
        plugin_module = importlib.import_module(f"ansible_collections.sms.remediation.plugins.action.{module}")
        task = MagicMock(Task)
        task.args = dict(args)
        task.check_mode = check_mode
        task.diff = False
        task.async_val = 0
        task.action = f"sms.remediation.{module}"
        connection = MagicMock()
        plugin = plugin_module.ActionModule(task, connection, MagicMock(), loader=MagicMock(),
                                            templar=Templar(loader=None), shared_loader_obj=None)
        plugin._execute_module = Recorder(replies)
        return plugin
    return build
