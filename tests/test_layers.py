"""Structure checks on bot/ that are cheap to keep true and costly to find broken later.

No import cycles: two modules importing each other only work through function-level
imports and import order, and make it unclear which one is the lower layer. The graph
is read statically (ast), so it counts imports inside functions and under
`TYPE_CHECKING` too: hiding an import there does not remove the dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

BOT = Path(__file__).resolve().parent.parent / "bot"


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_graph(root: Path = BOT) -> dict[str, set[str]]:
    """Each module of the package at `root` -> the modules of that package it imports.

    `from a.b import c` counts as importing `a.b.c` when that is a module, else `a.b`.
    A module does not depend on its own parent packages through this edge: importing
    `a.b.c` runs `a/b/__init__.py` first, but that is Python's package machinery, not
    a dependency the code chose.
    """
    files = {_module_name(p, root): p for p in root.rglob("*.py")}
    package = root.name
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = name.split(".")
                    drop = node.level - 1 if is_package else node.level
                    anchor = anchor[: len(anchor) - drop] if drop else anchor
                    base = ".".join([*anchor, base] if base else anchor)
                targets = [
                    f"{base}.{alias.name}" if f"{base}.{alias.name}" in files else base
                    for alias in node.names
                ]
            for target in targets:
                if target != package and not target.startswith(package + "."):
                    continue
                # `import a.b.c.d` where d is a name: walk up to the nearest module.
                while target not in files and "." in target:
                    target = target.rsplit(".", 1)[0]
                if target in files and target != name:
                    graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def test_the_cycle_finder_sees_a_function_level_import_cycle(tmp_path: Path) -> None:
    # The shape bot/telegram/auth.py and deps.py had: a top-level import one way, a
    # function-level import back.
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "a.py").write_text("from pkg.sub.b import thing\n")
    (pkg / "sub" / "b.py").write_text("def thing():\n    from pkg.sub import a\n")
    (pkg / "sub" / "c.py").write_text("from . import a\n")
    graph = import_graph(pkg)
    assert graph["pkg.sub.c"] == {"pkg.sub.a"}
    assert cycles(graph) == [["pkg.sub.a", "pkg.sub.b"]]


def test_bot_has_no_import_cycles() -> None:
    graph = import_graph()
    assert "bot.telegram.deps" in graph and graph["bot.telegram.auth"]
    assert cycles(graph) == []


# The pure alert core: no database, HTTP or Telegram, so it runs (and is tested) as plain
# functions, and bot.storage may import its types without pulling in the DB hook.
PURE_PACKAGES = ("bot.scoring", "bot.alerts")
IO_PACKAGES = ("sqlalchemy", "aiohttp", "telegram", "aiosqlite", "asyncpg", "httpx")


def external_imports(root: Path = BOT) -> dict[str, set[str]]:
    """Each module of the package at `root` -> the top-level packages outside it that it
    imports (anywhere in the file, as for the cycle check)."""
    files = {_module_name(p, root): p for p in root.rglob("*.py")}
    found: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found[name].update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found[name].add(node.module.split(".")[0])
    return found


def _closure(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        for nxt in graph[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def test_storage_imports_only_the_pure_alert_types() -> None:
    graph = import_graph()
    storage = [name for name in graph if name.startswith("bot.storage")]
    assert storage
    wrong = {
        f"{name} -> {target}"
        for name in storage
        for target in graph[name]
        if target.startswith("bot.alerts") and target != "bot.alerts.types"
    }
    assert not wrong, wrong
    # Nor through another module: the alert hook (bot.cycle.alert_hook) sits above storage.
    reached = {name: _closure(graph, name) for name in storage}
    assert not {n for n, seen in reached.items() if "bot.cycle.alert_hook" in seen}


def test_pure_core_imports_no_io() -> None:
    graph = import_graph()
    external = external_imports()
    pure = [n for n in graph if any(n == p or n.startswith(p + ".") for p in PURE_PACKAGES)]
    assert len(pure) > 8, pure
    for name in pure:
        for module in {name} | _closure(graph, name):
            io = external[module] & set(IO_PACKAGES)
            assert not io, f"{name} reaches {module}, which imports {sorted(io)}"


# The layers, lowest first (docs/design-notes.md, "The package map"). A module imports
# from its own package or from a strictly lower layer, never sideways or up: that is what
# lets each layer be read, and tested, without the ones above it.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("scoring", "config_sections", "zones", "health"),  # pure leaves
    ("alerts", "config"),  # pure alert core; settings (which embed ScoringParams)
    ("logging_setup", "replica", "metrics"),
    ("markets",),  # exchange I/O
    ("storage",),  # the database
    # One scoring cycle: markets -> scoring -> storage, with the alert hook; the
    # liquidation streams: WebSocket -> buckets -> storage, beside it.
    # Discord and HTTPS webhooks (the outbox's other sinks) beside them.
    ("cycle", "liquidations", "destinations"),
    ("views",),  # use-cases and read models, no transport
    ("telegram", "web", "replay"),  # transports and tools, each on the views below
    ("service",),  # the wiring
    ("cli",),
    ("__main__",),
)


def _unit(module: str) -> str:
    """bot.cycle.run -> "cycle"; bot.service -> "service"."""
    return module.split(".")[1] if "." in module else ""


def test_every_top_level_unit_has_a_layer() -> None:
    units = {_unit(name) for name in import_graph()} - {""}
    placed = {unit for layer in LAYERS for unit in layer}
    assert units == placed, f"missing: {sorted(units - placed)}, gone: {sorted(placed - units)}"


def test_no_import_runs_up_or_sideways() -> None:
    rank = {unit: i for i, layer in enumerate(LAYERS) for unit in layer}
    wrong = sorted(
        f"{name} -> {target}"
        for name, targets in import_graph().items()
        for target in targets
        if _unit(name) and _unit(target) != _unit(name) and rank[_unit(target)] >= rank[_unit(name)]
    )
    assert not wrong, wrong


def test_bench_does_not_import_tests() -> None:
    bench = BOT.parent / "bench"
    offenders = [
        f"{path.name}:{node.lineno}"
        for path in sorted(bench.glob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
        if isinstance(node, ast.ImportFrom | ast.Import)
        and any(
            n == "tests" or n.startswith("tests.")
            for n in (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else [a.name for a in node.names]
            )
        )
    ]
    assert not offenders, offenders
