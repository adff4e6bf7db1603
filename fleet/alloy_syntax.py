"""A parser for the Alloy configuration syntax (the HCL-like language formerly called River).

`fleet verify` proves the fleet's invariants from the Alloy text a workload will actually run, so
it needs the real structure of that text, not a regex over it: blocks (``prometheus.scrape
"pods" { ... }``), attributes (``forward_to = [...]``) and expressions. :func:`parse` turns text
into a small immutable tree; :func:`components` lists the labelled top-level blocks under the ids
other components use to reference them (``prometheus.remote_write.central``).

The grammar follows Alloy's: statements in a body are separated by newlines; inside brackets,
parentheses and object literals newlines are insignificant; strings use Go's escapes; raw strings
use backticks; ``//`` and ``/* */`` are comments. The parser is a little more lenient than Alloy
about trailing commas before a closing bracket on its own line, which never changes what a
configuration means.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import NoReturn

from fleet.alloy_tokens import EOF, IDENT, NEWLINE, NUMBER, PUNCT, STRING, AlloySyntaxError, Token, tokenize

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
    "Literal",
    "Object",
    "Unary",
    "components",
    "parse",
    "reference_chain",
    "references",
]


# --- the tree ---------------------------------------------------------------------------------


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
    name: str
    value: Expr
    line: int
    column: int


@dataclass(frozen=True)
class Block:
    """``name "label" { body }``; ``name`` may be dotted, ``label`` is optional."""

    name: str
    label: str | None
    body: tuple[Attribute | Block, ...]
    line: int
    column: int

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


# --- parser -----------------------------------------------------------------------------------

_BINARY_PRECEDENCE: dict[str, int] = {
    "||": 1,
    "&&": 2,
    "==": 3,
    "!=": 3,
    "<": 3,
    "<=": 3,
    ">": 3,
    ">=": 3,
    "+": 4,
    "-": 4,
    "*": 5,
    "/": 5,
    "%": 5,
    "^": 6,
}
_RIGHT_ASSOCIATIVE = {"^"}
_KEYWORDS: dict[str, str | int | float | bool | None] = {"true": True, "false": False, "null": None}


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.pos = 0
        # Inside (), [] and object literals newlines carry no meaning.
        self.nesting = 0

    # token access

    def peek(self) -> Token:
        if self.nesting:
            while self.tokens[self.pos].kind == NEWLINE:
                self.pos += 1
        return self.tokens[self.pos]

    def next(self) -> Token:
        token = self.peek()
        if token.kind != EOF:
            self.pos += 1
        return token

    def at(self, kind: str, value: str | None = None) -> bool:
        token = self.peek()
        return token.kind == kind and (value is None or token.value == value)

    def expect(self, kind: str, value: str | None = None, what: str = "") -> Token:
        if not self.at(kind, value):
            self.fail(f"expected {what or value or kind}")
        return self.next()

    def fail(self, message: str, token: Token | None = None) -> NoReturn:
        token = token or self.peek()
        found = {EOF: "end of file", NEWLINE: "newline"}.get(token.kind, repr(token.value))
        raise AlloySyntaxError(f"{message}, found {found}", token.line, token.column)

    # statements

    def document(self) -> Document:
        body = self.body(closing=None)
        self.expect(EOF, what="end of file")
        return Document(body)

    def body(self, closing: str | None) -> tuple[Attribute | Block, ...]:
        items: list[Attribute | Block] = []
        attribute_names: set[str] = set()
        while True:
            while self.at(NEWLINE):
                self.next()
            if self.at(EOF) or (closing and self.at(PUNCT, closing)):
                return tuple(items)
            item = self.statement()
            if isinstance(item, Attribute):
                if item.name in attribute_names:
                    raise AlloySyntaxError(
                        f"attribute {item.name!r} is set more than once", item.line, item.column
                    )
                attribute_names.add(item.name)
            items.append(item)
            if not (self.at(NEWLINE) or self.at(EOF) or (closing and self.at(PUNCT, closing))):
                self.fail("expected a newline after the statement")

    def statement(self) -> Attribute | Block:
        first = self.expect(IDENT, what="an attribute or block name")
        if self.at(PUNCT, "="):
            self.next()
            return Attribute(first.value, self.expression(), first.line, first.column)
        name = [first.value]
        while self.at(PUNCT, "."):
            self.next()
            name.append(self.expect(IDENT, what="a name after '.'").value)
        label = self.next().value if self.at(STRING) else None
        self.expect(PUNCT, "{", what="'{' or '='")
        body = self.body(closing="}")
        self.expect(PUNCT, "}", what="'}'")
        return Block(".".join(name), label, body, first.line, first.column)

    # expressions

    def expression(self, min_precedence: int = 1) -> Expr:
        left = self.unary()
        while True:
            token = self.peek()
            precedence = _BINARY_PRECEDENCE.get(token.value) if token.kind == PUNCT else None
            if precedence is None or precedence < min_precedence:
                return left
            self.next()
            next_min = precedence if token.value in _RIGHT_ASSOCIATIVE else precedence + 1
            left = Binary(token.value, left, self.expression(next_min))

    def unary(self) -> Expr:
        if self.at(PUNCT, "!") or self.at(PUNCT, "-"):
            op = self.next().value
            return Unary(op, self.unary())
        return self.postfix(self.primary())

    def postfix(self, value: Expr) -> Expr:
        while True:
            if self.at(PUNCT, "."):
                self.next()
                value = Access(value, self.expect(IDENT, what="a name after '.'").value)
            elif self.at(PUNCT, "["):
                self.next()
                self.nesting += 1
                index = self.expression()
                self.expect(PUNCT, "]", what="']'")
                self.nesting -= 1
                value = Index(value, index)
            elif self.at(PUNCT, "("):
                self.next()
                value = Call(value, tuple(self.sequence(")")))
            else:
                return value

    def primary(self) -> Expr:
        token = self.peek()
        if token.kind == STRING:
            self.next()
            return Literal(token.value)
        if token.kind == NUMBER:
            self.next()
            is_float = any(c in token.value for c in ".eE")
            return Literal(float(token.value) if is_float else int(token.value))
        if token.kind == IDENT:
            self.next()
            if token.value in _KEYWORDS:
                return Literal(_KEYWORDS[token.value])
            return Identifier(token.value)
        if token.kind == PUNCT and token.value == "[":
            self.next()
            return Array(tuple(self.sequence("]")))
        if token.kind == PUNCT and token.value == "{":
            self.next()
            return self.object()
        if token.kind == PUNCT and token.value == "(":
            self.next()
            self.nesting += 1
            inner = self.expression()
            self.expect(PUNCT, ")", what="')'")
            self.nesting -= 1
            return inner
        self.fail("expected an expression")

    def sequence(self, closing: str) -> list[Expr]:
        """Comma-separated expressions up to ``closing`` (already past the opening bracket)."""
        self.nesting += 1
        items: list[Expr] = []
        while not self.at(PUNCT, closing):
            items.append(self.expression())
            if not self.at(PUNCT, closing):
                self.expect(PUNCT, ",", what=f"',' or '{closing}'")
        self.next()
        self.nesting -= 1
        return items

    def object(self) -> Object:
        self.nesting += 1
        fields: list[tuple[str, Expr]] = []
        seen: set[str] = set()
        while not self.at(PUNCT, "}"):
            key_token = self.peek()
            if key_token.kind not in (IDENT, STRING):
                self.fail("expected an object key")
            self.next()
            if key_token.value in seen:
                raise AlloySyntaxError(
                    f"duplicate object key {key_token.value!r}", key_token.line, key_token.column
                )
            seen.add(key_token.value)
            self.expect(PUNCT, "=", what="'=' after the object key")
            fields.append((key_token.value, self.expression()))
            if not self.at(PUNCT, "}"):
                self.expect(PUNCT, ",", what="',' or '}'")
        self.next()
        self.nesting -= 1
        return Object(tuple(fields))


def parse(text: str) -> Document:
    """Parse Alloy configuration text; raises :class:`AlloySyntaxError` with line and column."""
    return _Parser(tokenize(text)).document()


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
