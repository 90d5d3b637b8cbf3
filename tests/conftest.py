"""Make ``ansible_collections.sms.remediation`` importable for every test, through Ansible's collection finder.

It sits at the top of ``tests/`` so that it runs before any test module is imported: a test module that imports the
collection at its top (after putting the collection root on sys.path) would otherwise import ``ansible_collections``
without the finder, and every later import of a plugin fails with "collection metadata was not loaded" (seen when
``pytest tests`` collected tests/integration before tests/unit).

Creates ``<repo>/tests/output/.collection_root/ansible_collections/sms/remediation`` as a
symlink to the repository root and puts ``<repo>/tests/output/.collection_root`` on sys.path.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

_REPO = Path(__file__).resolve().parents[1]
_ROOT = _REPO / "tests" / "output" / ".collection_root"
_LINK = _ROOT / "ansible_collections" / "sms" / "remediation"

if not _LINK.exists():
    _LINK.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.symlink(_REPO, _LINK, target_is_directory=True)
    except FileExistsError:  # another process created it meanwhile
        pass
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

# Ansible's collection finder must own ``ansible_collections`` before any test imports from it,
# or the action plugins (which need collection metadata) fail when module_utils tests ran first.
from ansible.plugins.loader import init_plugin_loader  # noqa: E402

init_plugin_loader([str(_ROOT)])
