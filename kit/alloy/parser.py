"""A parser for the Alloy configuration syntax (the HCL-like language formerly called River).

`fleet verify` proves the fleet's invariants from the Alloy text a workload will actually run, so
it needs the real structure of that text, not a regex over it: blocks (``prometheus.scrape
"pods" { ... }``), attributes (``forward_to = [...]``) and expressions. :func:`parse` turns text
into the tree of :mod:`kit.alloy.syntax`, the same tree the programs' writer writes out.

The grammar follows Alloy's: statements in a body are separated by newlines; inside brackets,
parentheses and object literals newlines are insignificant; strings use Go's escapes; raw strings
use backticks; ``//`` and ``/* */`` are comments. The parser is a little more lenient than Alloy
about trailing commas before a closing bracket on its own line, which never changes what a
configuration means.
"""

from __future__ import annotations

from typing import NoReturn

from kit.alloy.syntax import (
    Access,
    Array,
    Attribute,
    Binary,
    Block,
    Call,
    Document,
    Expr,
    Identifier,
    Index,
    Literal,
    Object,
    Unary,
)
from kit.alloy.tokens import EOF, IDENT, NEWLINE, NUMBER, PUNCT, STRING, AlloySyntaxError, Token, tokenize

__all__ = ["AlloySyntaxError", "parse"]


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
