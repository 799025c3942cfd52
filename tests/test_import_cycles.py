"""No import cycles between modules of scraper, ops and healthchecks (lint-imports: packages)."""

from __future__ import annotations

import grimp
import pytest

PACKAGES = ("scraper", "ops", "healthchecks")


def find_cycle(graph: grimp.ImportGraph) -> list[str] | None:
    """One cycle of modules (the first module repeated at the end), or None."""
    done: set[str] = set()
    for start in sorted(graph.modules - done):
        path, on_path = [start], {start}
        stack = [(start, iter(sorted(graph.find_modules_directly_imported_by(start))))]
        while stack:
            module, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                path.pop()
                on_path.discard(module)
                done.add(module)
            elif child in on_path:
                return path[path.index(child) :] + [child]
            elif child not in done:
                stack.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                path.append(child)
                on_path.add(child)
    return None


@pytest.mark.slow
def test_no_module_imports_itself_through_others() -> None:
    graph = grimp.build_graph(*PACKAGES, include_external_packages=False, cache_dir=None)
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


@pytest.mark.slow
def test_find_cycle_names_a_cycle() -> None:
    graph = grimp.ImportGraph()
    for module in ("a", "a.b", "a.c"):
        graph.add_module(module)
    graph.add_import(importer="a.b", imported="a.c")
    assert find_cycle(graph) is None
    graph.add_import(importer="a.c", imported="a.b")
    assert find_cycle(graph) == ["a.b", "a.c", "a.b"]
