"""The Alloy configuration syntax as one immutable tree, shared by the writer (the programs build
configurations with it) and the parser (``fleet verify`` reads configurations back into it).

A document is a body of attributes (``name = value``) and blocks (``name "label" { body }``);
values are expressions: literals, references (``a.b.c`` is nested :class:`Access` over an
:class:`Identifier`), indexing, calls, arrays, objects, and unary and binary operators.
:func:`components` lists a document's labelled top-level blocks under the ids other components
reference them by; :func:`references` finds the references inside an expression.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from kit.alloy.tokens import AlloySyntaxError

__all__ = [
    "Access",
    "AlloySyntaxError",
    "Array",
    "Attribute",
    "Binary",
    "Block",
    "Call",
    "Document",
    "Expr",
    "Identifier",
    "Index",
    "Item",
    "Literal",
    "Object",
    "Unary",
    "components",
    "reference_chain",
    "references",
]


@dataclass(frozen=True)
class Literal:
    """A string, number, bool or null."""

    value: str | int | float | bool | None


@dataclass(frozen=True)
class Identifier:
    name: str


@dataclass(frozen=True)
class Access:
    """``value.name``."""

    value: Expr
    name: str


@dataclass(frozen=True)
class Index:
    """``value[index]``."""

    value: Expr
    index: Expr


@dataclass(frozen=True)
class Call:
    """``function(args...)``; ``function`` is usually an identifier or a dotted access."""

    function: Expr
    args: tuple[Expr, ...]


@dataclass(frozen=True)
class Array:
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Object:
    """``{ key = value, "quoted key" = value }``, keys in source order."""

    fields: tuple[tuple[str, Expr], ...]

    def get(self, key: str) -> Expr | None:
        """The value of ``key``, or None."""
        for name, value in self.fields:
            if name == key:
                return value
        return None


@dataclass(frozen=True)
class Unary:
    op: str
    operand: Expr


@dataclass(frozen=True)
class Binary:
    op: str
    left: Expr
    right: Expr


Expr = Literal | Identifier | Access | Index | Call | Array | Object | Unary | Binary


@dataclass(frozen=True)
class Attribute:
    """``name = value``; ``line`` and ``column`` (1-based, 0 when built in code) are where the
    parser found it, and take no part in comparisons."""

    name: str
    value: Expr
    line: int = field(default=0, compare=False)
    column: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Block:
    """``name "label" { body }``; ``name`` may be dotted, ``label`` is optional."""

    name: str
    label: str | None
    body: tuple[Attribute | Block, ...]
    line: int = field(default=0, compare=False)
    column: int = field(default=0, compare=False)

    def attribute(self, name: str) -> Expr | None:
        """The value of the attribute ``name`` in this block's body, or None."""
        for item in self.body:
            if isinstance(item, Attribute) and item.name == name:
                return item.value
        return None

    def blocks(self, name: str) -> list[Block]:
        """The nested blocks called ``name``, in source order."""
        return [item for item in self.body if isinstance(item, Block) and item.name == name]

    def walk(self) -> Iterator[Block]:
        """This block and every block nested in it, depth first."""
        yield self
        for item in self.body:
            if isinstance(item, Block):
                yield from item.walk()


@dataclass(frozen=True)
class Document:
    body: tuple[Attribute | Block, ...]


Item = Attribute | Block
"""What a body holds."""


def components(document: Document) -> list[tuple[str, Block]]:
    """Every labelled top-level block as ``(component id, block)``, in source order.

    The id is how other components reference it: ``prometheus.remote_write "central"`` has the
    id ``prometheus.remote_write.central``. Two components with the same id are an error, as they
    are for Alloy.
    """
    found: list[tuple[str, Block]] = []
    seen: set[str] = set()
    for item in document.body:
        if isinstance(item, Block) and item.label is not None:
            component_id = f"{item.name}.{item.label}"
            if component_id in seen:
                raise AlloySyntaxError(
                    f"component {component_id} is defined more than once", item.line, item.column
                )
            seen.add(component_id)
            found.append((component_id, item))
    return found


def reference_chain(expr: Expr) -> tuple[str, ...] | None:
    """The dotted name of a pure reference (``a.b.c`` -> ``("a", "b", "c")``), else None."""
    names: list[str] = []
    while isinstance(expr, Access):
        names.append(expr.name)
        expr = expr.value
    if not isinstance(expr, Identifier):
        return None
    names.append(expr.name)
    return tuple(reversed(names))


def references(expr: Expr) -> Iterator[tuple[str, ...]]:
    """Every maximal dotted reference inside ``expr``.

    ``[prometheus.relabel.x.receiver]`` yields ``("prometheus", "relabel", "x", "receiver")``;
    ``remote.kubernetes.secret.a.data["k"]`` yields the chain up to ``data``; a call such as
    ``sys.env("X")`` yields ``("sys", "env")``.
    """
    chain = reference_chain(expr)
    if chain is not None:
        yield chain
        return
    if isinstance(expr, Access):
        yield from references(expr.value)
    elif isinstance(expr, Index):
        yield from references(expr.value)
        yield from references(expr.index)
    elif isinstance(expr, Call):
        yield from references(expr.function)
        for arg in expr.args:
            yield from references(arg)
    elif isinstance(expr, Array):
        for item in expr.items:
            yield from references(item)
    elif isinstance(expr, Object):
        for _, value in expr.fields:
            yield from references(value)
    elif isinstance(expr, Unary):
        yield from references(expr.operand)
    elif isinstance(expr, Binary):
        yield from references(expr.left)
        yield from references(expr.right)
