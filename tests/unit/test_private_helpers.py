"""Helpers private to the collection have ``_`` names (a module, or the package that holds them) and say so
in their docstring, as community.general's ``_cmd_runner`` does: other collections must not import them."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def private_modules():
    """Every module whose own name starts with ``_`` (not ``__init__``), and every module of a ``_`` package,
    at any depth (``_transport/msrpc/wmi.py`` is as private as ``_transport/base.py``)."""
    plugins = REPO / "plugins"
    for path in sorted(plugins.rglob("*.py")):
        folders = path.parent.relative_to(plugins).parts
        if any(folder.startswith("_") for folder in folders if folder != "__pycache__"):
            yield path
        elif path.name != "__init__.py" and path.name.startswith("_"):
            yield path


def test_the_msrpc_package_is_covered():
    covered = {path.name for path in private_modules() if path.parent.name == "msrpc"}
    assert {"__init__.py", "wmi.py", "probe.py"} <= covered


def test_each_private_module_says_so():
    silent = [str(path.relative_to(REPO)) for path in private_modules()
              if "private to this collection" not in " ".join((ast.get_docstring(ast.parse(path.read_text(
                  encoding="utf-8"))) or "").split())]
    assert silent == []


def test_the_private_helpers_of_the_spine_are_private():
    plugin_utils = REPO / "plugins" / "plugin_utils"
    python = [path.name for path in plugin_utils.iterdir()
              if path.suffix == ".py" or (path.is_dir() and path.name not in ("powershell", "__pycache__"))]
    assert [name for name in python if not name.startswith("_")] == []
