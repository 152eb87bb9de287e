"""The architecture holds: the pure core and the store import neither Scrapy nor Twisted, and no
module of the package imports itself back through others (every import counted, lazy ones too)."""
import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.pure

PACKAGE = Path(__file__).resolve().parents[1] / "newsarchive"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        name = _module_name(path)
        found = graph.setdefault(name, set())
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.add(node.module)
                found.update(f"{node.module}.{a.name}" for a in node.names)
    return graph


def test_core_and_store_import_neither_scrapy_nor_twisted():
    offenders = {name: sorted(i for i in imports if i.split(".")[0] in ("scrapy", "twisted", "itemadapter"))
                 for name, imports in _imports().items()
                 if name.startswith(("newsarchive.core", "newsarchive.store"))}
    assert {k: v for k, v in offenders.items() if v} == {}
    assert len(offenders) >= 15          # the layers are really there


def test_no_import_cycle_in_the_package():
    graph = _imports()
    modules = set(graph)
    edges = {m: {i for i in graph[m] if i in modules and i != m} for m in modules}
    # a package's __init__ is imported with any of its modules: importing newsarchive.x.y runs x's
    # __init__ first, which is no edge of y's own
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(v: str) -> None:      # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for m in sorted(modules):
        if m not in index:
            visit(m)
    assert cycles == []


def test_only_the_crawl_layers_import_scrapy():
    allowed = ("newsarchive.crawl", "newsarchive.spiders", "newsarchive.distributed", "newsarchive.settings",
               "newsarchive.commands")
    users = {name for name, imports in _imports().items() if any(i.split(".")[0] == "scrapy" for i in imports)}
    assert users and all(u.startswith(allowed) for u in users), sorted(users)
