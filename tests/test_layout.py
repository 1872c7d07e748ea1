"""Size limits on bot/: no function over 60 lines, no module over 400.

A function that long does several jobs and a module that long mixes several; both are
where bugs hide and reviews stall. Cheap (a parse of bot/, no imports), so the limits
hold as the code grows: split by job rather than raise a limit.
"""

from __future__ import annotations

import ast
from pathlib import Path

BOT = Path(__file__).resolve().parent.parent / "bot"
MAX_FUNCTION_LINES = 60
MAX_FILE_LINES = 400


def _sources() -> list[Path]:
    files = sorted(BOT.rglob("*.py"))
    assert files, f"no sources under {BOT}"
    return files


def test_no_function_over_the_limit() -> None:
    long = []
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(BOT.parent)}:{node.lineno} {node.name}")
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines: {long}"


def test_no_module_over_the_limit() -> None:
    long = [
        f"{path.relative_to(BOT.parent)} ({n} lines)"
        for path in _sources()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_FILE_LINES
    ]
    assert not long, f"modules over {MAX_FILE_LINES} lines: {long}"
