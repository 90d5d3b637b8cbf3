"""The unit tests of a plugin file sit under ``tests/unit/plugins/`` in the folder that mirrors the plugin's
own folder (``plugins/plugin_utils/_steps/recover.py`` -> ``tests/unit/plugins/plugin_utils/_steps/``), as
ansible-test's layout for collections expects: a reader finds a module's tests by its path."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
UNIT_PLUGINS = REPO / "tests" / "unit" / "plugins"


def test_every_unit_test_folder_mirrors_a_plugins_folder():
    astray = []
    for path in sorted(UNIT_PLUGINS.rglob("*.py")):
        folder = path.parent.relative_to(UNIT_PLUGINS)
        if folder == Path(".") or not (REPO / "plugins" / folder).is_dir():
            astray.append(str(path.relative_to(REPO)))
    assert astray == []
