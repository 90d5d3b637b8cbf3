"""Syntax check for the collection's PowerShell scripts (there is no PowerShell in CI).

Parses each ``.ps1`` with tree-sitter's PowerShell grammar and prints ``file:line:col`` for every
ERROR or MISSING node. Exit status 1 when any file has one (or cannot be read), 0 otherwise.

    python tools/check_powershell.py                 # every .ps1 under plugins/
    python tools/check_powershell.py a.ps1 b.ps1     # just these
"""

from __future__ import annotations

import sys
from pathlib import Path

import tree_sitter_powershell
from tree_sitter import Language, Parser

REPO_ROOT = Path(__file__).resolve().parent.parent
PARSER = Parser(Language(tree_sitter_powershell.language()))


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


def default_files() -> list[Path]:
    return sorted((REPO_ROOT / "plugins").rglob("*.ps1"))


def main(argv: list[str]) -> int:
    files = [Path(arg) for arg in argv] if argv else default_files()
    failed = 0
    for path in files:
        try:
            source = path.read_bytes()
        except OSError as exc:
            print(f"{path}:0:0: cannot read: {exc}")
            failed += 1
            continue
        errors = syntax_errors(source)
        for line, col, what in errors:
            print(f"{path}:{line}:{col}: {what}")
        failed += bool(errors)
    if failed:
        print(f"{len(files)} PowerShell files parsed, {failed} with errors")
        return 1
    print(f"{len(files)} PowerShell files parsed, 0 errors")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
