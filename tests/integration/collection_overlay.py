"""This collection with some action plugins wrapped, for runs that must see or alter what the real controller
does: a broken controller for test_check_mode_request_log.py, a recording one for
tests/unit/plugins/action/record_replies.py.

``overlay_collection(root, wrappers)`` builds ``<root>/ansible_collections/sms/remediation`` out of symlinks to
the repository, except that each action plugin ``name`` in ``wrappers`` is the given text, with the real plugin
importable as ``ansible_collections.sms.remediation.plugins.action._real_<name>``. Put ``root`` first on
ANSIBLE_COLLECTIONS_PATH and remediate.yml runs with the wrapped plugins.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_SKIPPED = {".git", ".venv", "tests", "plugins"}     # tests/output holds a symlink loop to the repository


def overlay_collection(root: Path, wrappers: dict[str, str]) -> Path:
    """``root`` (a new folder) as a collections path; see the module docstring."""
    collection = Path(root) / "ansible_collections" / "sms" / "remediation"
    action = collection / "plugins" / "action"
    action.mkdir(parents=True)
    for entry in ROOT.iterdir():
        if entry.name not in _SKIPPED:
            (collection / entry.name).symlink_to(entry)
    for entry in (ROOT / "plugins").iterdir():
        if entry.name != "action":
            (collection / "plugins" / entry.name).symlink_to(entry)
    for entry in (ROOT / "plugins" / "action").glob("*.py"):
        name = entry.name[:-3]
        if name in wrappers:
            (action / f"_real_{name}.py").symlink_to(entry)
            (action / entry.name).write_text(wrappers[name], encoding="utf-8")
        else:
            (action / entry.name).symlink_to(entry)
    unknown = set(wrappers) - {p.name[:-3] for p in (ROOT / "plugins" / "action").glob("*.py")}
    assert not unknown, f"no action plugin {sorted(unknown)} to wrap"
    return Path(root)
