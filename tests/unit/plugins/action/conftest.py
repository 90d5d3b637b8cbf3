"""Build the collection's action plugins with a mocked task and recorded remote replies
(the pattern of ansible.windows' tests/unit/plugins/action)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "module_utils"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from mocked_action import mocked_action  # noqa: E402


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
        return mocked_action(module, args, Recorder(replies), check_mode)
    return build
