"""No import cycle anywhere in ringfence, including the imports made through ``importlib``: the
CLI loads each module of ``entrypoints/cli/commands`` when one of its words runs and
``ringfence bench NAME`` loads ``bench/NAME``, so those modules must not import back what loads
them.

Imports under ``TYPE_CHECKING`` are left out: they are never executed."""

from __future__ import annotations

import pkgutil

import grimp

from ringfence import bench
from ringfence.entrypoints.cli import commands


def _dynamic_edges() -> dict[str, set[str]]:
    """The imports the two loaders make at run time, by module name."""
    found = pkgutil.iter_modules(commands.__path__)
    loaded_commands = {f"{commands.__name__}.{module.name}" for module in found}
    benchmarks = {f"{bench.__name__}.{name}" for name in bench.names()}
    return {"ringfence.entrypoints.cli.app": loaded_commands, bench.__name__: benchmarks}


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
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
    return found


def test_no_module_imports_itself_back() -> None:
    graph = grimp.build_graph("ringfence", exclude_type_checking_imports=True)
    edges = {module: graph.find_modules_directly_imported_by(module) for module in graph.modules}
    for module, loaded in _dynamic_edges().items():
        edges[module] |= loaded
    assert _cycles(edges) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []
