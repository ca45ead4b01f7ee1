"""Direction of imports (issue 13): no import cycle in ``bot/`` — counting imports under ``TYPE_CHECKING`` and
inside functions, which hide a cycle at run time but not from a reader — and no library module imports the CLI."""

from __future__ import annotations

import ast
from pathlib import Path

BOT = Path(__file__).resolve().parent.parent / "bot"


def modules() -> dict[str, Path]:
    out = {}
    for p in BOT.rglob("*.py"):
        if "migrations" in p.parts:  # Alembic's scripts are loaded by Alembic, not imported
            continue
        parts = p.relative_to(BOT.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p
    return out


def import_graph() -> dict[str, set[str]]:
    """Module -> the bot modules it imports anywhere in its text (a package import counts as its ``__init__``)."""
    mods = modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for m, path in mods.items():
        pkg = m if path.name == "__init__.py" else m.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                    base = ".".join(up + ([base] if base else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]
            for t in targets:
                while t and t not in mods:
                    t = t.rpartition(".")[0]
                if t and t != m:
                    graph[m].add(t)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_graph_sees_type_checking_and_function_level_imports() -> None:
    g = import_graph()
    assert "bot.governor.engine" in g["bot.governor"]  # a package's __init__
    assert "bot.venues.ccxt_intervals" in g["bot.venues.ccxt_gateway"]  # imported inside a method
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles() -> None:
    assert cycles(import_graph()) == []


def test_library_code_never_imports_the_cli() -> None:
    def is_cli(m: str) -> bool:
        return m == "bot.cli" or m.startswith("bot.cli_")

    wrong = {m: sorted(d for d in deps if is_cli(d)) for m, deps in import_graph().items() if not is_cli(m)}
    assert {m: d for m, d in wrong.items() if d} == {}
