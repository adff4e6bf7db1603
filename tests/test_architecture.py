"""The shape of the code, checked: no import cycles, and the programs stay plain programs.

The import graph is read from the source (every ``import`` outside ``if TYPE_CHECKING:``, at
module level or inside a function), so a cycle cannot hide behind a lazy import.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("fleet", "kit", "controlroom", "workloads")
PROGRAMS = ("controlroom", "workloads", "kit")
"""The Pulumi programs and their building blocks: run by fleet, never running it."""
PROGRAM_MAY_IMPORT = ("fleet.inventory.models", "fleet.inventory.durations")
"""What of fleet the programs may use: the inventory models and their helpers (plain data)."""


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            found[module_name(path)] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, module: str, is_package: bool, known: set[str]) -> Iterator[str]:
    """Every module ``tree`` imports at run time: ``from a import b`` is module ``a.b`` when there
    is one, else the names ``b`` of module ``a``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            node.body = []  # only for the type checker
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                yield submodule if submodule in known else base


def import_graph() -> dict[str, set[str]]:
    """Each of our modules and the modules of ours it imports."""
    known = modules()
    graph: dict[str, set[str]] = {}
    for name, path in known.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        found = _imports(tree, name, path.name == "__init__.py", set(known))
        targets = {target for target in found if target in known}
        targets.discard(name)
        graph[name] = targets
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, as the list of modules around it, or None."""
    WHITE, GREY, BLACK = 0, 1, 2
    colour = dict.fromkeys(graph, WHITE)
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        colour[node] = GREY
        stack.append(node)
        for target in sorted(graph[node]):
            if colour[target] == GREY:
                return [*stack[stack.index(target) :], target]
            if colour[target] == WHITE and (cycle := visit(target)) is not None:
                return cycle
        stack.pop()
        colour[node] = BLACK
        return None

    for node in sorted(graph):
        if colour[node] == WHITE and (cycle := visit(node)) is not None:
            return cycle
    return None


def test_no_module_imports_one_that_imports_it_back() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_cycle_finder_finds_cycles() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("program", PROGRAMS)
def test_the_programs_import_only_the_inventory_models_of_fleet(program: str) -> None:
    graph = import_graph()
    wrong = {
        f"{source} imports {target}"
        for source, targets in graph.items()
        if source == program or source.startswith(f"{program}.")
        for target in targets
        if target.startswith("fleet") and target not in ("fleet", *PROGRAM_MAY_IMPORT)
    }
    assert not wrong, sorted(wrong)


def test_the_workload_program_does_not_import_the_control_room() -> None:
    graph = import_graph()
    assert not {
        target
        for source, targets in graph.items()
        if source.startswith(("workloads", "kit"))
        for target in targets
        if target.startswith("controlroom")
    }
    assert not {
        target
        for source, targets in graph.items()
        if source.startswith(("controlroom", "kit"))
        for target in targets
        if target.startswith("workloads")
    }


def test_the_graph_sees_lazy_imports() -> None:
    graph = import_graph()
    # fleet.cli.verify imports the report inside its command function.
    assert "fleet.verify.report" in graph["fleet.cli.verify"]
