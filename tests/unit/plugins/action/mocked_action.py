"""One of the collection's action plugins built for a mocked task (the pattern of ansible.windows'
tests/unit/plugins/action), its remote module calls answered by a stand-in: shared by this folder's
conftest.py (``make_action``) and tests/unit/test_bad_input_catalogue.py."""

from __future__ import annotations

import importlib
from unittest.mock import MagicMock

from ansible.playbook.task import Task
from ansible.template import Templar


def mocked_action(module: str, args: dict, execute_module, check_mode: bool = False):
    """``sms.remediation.<module>``'s ActionModule for a task with ``args``; ``execute_module`` answers
    every remote module call (it replaces ``_execute_module``)."""
    plugin_module = importlib.import_module(f"ansible_collections.sms.remediation.plugins.action.{module}")
    task = MagicMock(Task)
    task.args = dict(args)
    task.check_mode = check_mode
    task.diff = False
    task.async_val = 0
    task.action = f"sms.remediation.{module}"
    plugin = plugin_module.ActionModule(task, MagicMock(), MagicMock(), loader=MagicMock(),
                                        templar=Templar(loader=None), shared_loader_obj=None)
    plugin._execute_module = execute_module
    return plugin
