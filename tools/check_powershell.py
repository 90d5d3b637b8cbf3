"""Syntax check for the collection's PowerShell scripts (there is no PowerShell in CI).

Parses each ``.ps1`` with tree-sitter's PowerShell grammar and prints ``file:line:col`` for every
ERROR or MISSING node. Exit status 1 when any file has one (or cannot be read), 0 otherwise.
A collection script (``plugins/plugin_utils/powershell/<name>.ps1``) is checked as it is sent to a host,
with the shared prelude in place (``plugins/plugin_utils/_scripts.py``); positions inside the prelude
are reported in ``_prelude.ps1``.

    python tools/check_powershell.py                 # every .ps1 under plugins/
    python tools/check_powershell.py a.ps1 b.ps1     # just these
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Callable

import tree_sitter_powershell
from tree_sitter import Language, Parser

REPO_ROOT = Path(__file__).resolve().parent.parent
PARSER = Parser(Language(tree_sitter_powershell.language()))


def _load_scripts_module():
    """plugins/plugin_utils/_scripts.py, loaded by path (it needs nothing from Ansible)."""
    spec = importlib.util.spec_from_file_location("_sms_scripts", REPO_ROOT / "plugins" / "plugin_utils" / "_scripts.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SCRIPTS = _load_scripts_module()


def syntax_errors(source: bytes) -> list[tuple[int, int, str]]:
    """(line, column, description) of every ERROR / MISSING node, 1-based, in source order."""
    found: list[tuple[int, int, str]] = []
    tree = PARSER.parse(source)
    if not tree.root_node.has_error:
        return found
    cursor = tree.walk()
    visited_children = False
    while True:
        node = cursor.node
        if not visited_children:
            if node.is_error or node.is_missing:
                row, col = node.start_point
                kind = f"missing {node.type}" if node.is_missing else "syntax error"
                snippet = source[node.start_byte:node.end_byte].decode("utf-8", "replace")
                snippet = snippet.splitlines()[0][:60] if snippet.strip() else ""
                found.append((row + 1, col + 1, f"{kind} {snippet!r}" if snippet else kind))
            if node.has_error and cursor.goto_first_child():
                continue
        if cursor.goto_next_sibling():
            visited_children = False
            continue
        if not cursor.goto_parent():
            break
        visited_children = True
    return found


def source_as_sent(path: Path) -> tuple[bytes, Callable[[int], tuple[Path, int]]]:
    """The bytes to parse for ``path`` and a function mapping a parsed line to (file, line).

    A file with a prelude line is parsed with the prelude in place; a collection script must have one."""
    source = path.read_bytes()
    text = source.decode("utf-8")
    lines = text.splitlines(keepends=True)
    spot = next((i for i, line in enumerate(lines) if line.startswith(SCRIPTS.PRELUDE_LINE)), None)
    collection_script = path.resolve().parent == Path(SCRIPTS.SCRIPT_DIR).resolve() and not path.name.startswith("_")
    if spot is None and not collection_script:
        return source, lambda line: (path, line)
    sent = SCRIPTS.with_prelude(text, str(path))        # raises when the prelude line is missing
    prelude_lines = len(sent.splitlines()) - len(lines) + 1
    prelude = Path(SCRIPTS.SCRIPT_DIR) / f"{SCRIPTS.PRELUDE_NAME}.ps1"

    def where(line: int) -> tuple[Path, int]:
        if line <= spot:
            return path, line
        if line <= spot + prelude_lines:
            return prelude, line - spot
        return path, line - prelude_lines + 1
    return sent.encode("utf-8"), where


def default_files() -> list[Path]:
    return sorted((REPO_ROOT / "plugins").rglob("*.ps1"))


def main(argv: list[str]) -> int:
    files = [Path(arg) for arg in argv] if argv else default_files()
    failed = 0
    for path in files:
        try:
            source, where = source_as_sent(path)
        except (OSError, ValueError) as exc:
            print(f"{path}:0:0: cannot read: {exc}")
            failed += 1
            continue
        errors = syntax_errors(source)
        for line, col, what in errors:
            file, line = where(line)
            print(f"{file}:{line}:{col}: {what}")
        failed += bool(errors)
    if failed:
        print(f"{len(files)} PowerShell files parsed, {failed} with errors")
        return 1
    print(f"{len(files)} PowerShell files parsed, 0 errors")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
