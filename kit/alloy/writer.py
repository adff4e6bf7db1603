"""Writing the Alloy syntax tree (:mod:`kit.alloy.syntax`) out as configuration text.

Programs build a configuration from the tree's :class:`~kit.alloy.syntax.Block` and the helpers
here: :func:`attr` takes plain Python values (``str``, ``int``, ``float``, ``bool``, ``None``,
lists, dicts, or tree expressions), :func:`ref`, :func:`index` and :func:`call` build references,
indexing and function calls from constants. :func:`write_block` writes a block as ``alloy fmt``
would. Every string is written as an escaped literal (:func:`quote`), so text from the inventory
cannot close a block or inject a component; names (blocks, labels, attributes, references,
functions) are checked against Alloy's identifier grammar when written.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence

from kit.alloy.syntax import (
    Access,
    Array,
    Attribute,
    Binary,
    Block,
    Call,
    Expr,
    Identifier,
    Index,
    Literal,
    Object,
    Unary,
)

__all__ = ["attr", "call", "expr", "index", "quote", "ref", "write_block", "write_expr"]

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_REFERENCE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_NAMED_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_KEYWORDS = {"true", "false", "null"}

PyValue = str | int | float | bool | None | Expr | Sequence["PyValue"] | Mapping[str, "PyValue"]
"""What :func:`attr` and :func:`expr` accept."""


# --- building -------------------------------------------------------------------------------------


def ref(path: str) -> Expr:
    """The reference ``a.b.c`` (an :class:`Identifier` under nested :class:`Access`)."""
    if not _REFERENCE.fullmatch(path):
        raise ValueError(f"{path!r} is not a reference")
    first, *rest = path.split(".")
    node: Expr = Identifier(first)
    for name in rest:
        node = Access(node, name)
    return node


def index(value: Expr, key: str | int) -> Index:
    """``value["key"]`` (or ``value[3]``)."""
    return Index(value, Literal(key))


def call(function: str, *args: PyValue) -> Call:
    """``function(args...)``, e.g. ``call("sys.env", "HOSTNAME")``."""
    return Call(ref(function), tuple(expr(arg) for arg in args))


def expr(value: PyValue) -> Expr:
    """A plain Python value as an expression (tree nodes are returned as they are)."""
    if isinstance(value, Literal | Identifier | Access | Index | Call | Array | Object | Unary | Binary):
        return value
    if value is None or isinstance(value, bool | int | float | str):
        return Literal(value)
    if isinstance(value, Mapping):
        return Object(tuple((str(key), expr(item)) for key, item in value.items()))
    if isinstance(value, Sequence):
        return Array(tuple(expr(item) for item in value))
    raise TypeError(f"{type(value).__name__} is not an Alloy value")


def attr(name: str, value: PyValue) -> Attribute:
    """``name = value``."""
    return Attribute(name, expr(value))


# --- writing --------------------------------------------------------------------------------------


def quote(value: str) -> str:
    """``value`` as an Alloy string literal, with every special or control character escaped."""
    out = ['"']
    for char in value:
        code = ord(char)
        if char in _NAMED_ESCAPES:
            out.append(_NAMED_ESCAPES[char])
        elif 0xD800 <= code <= 0xDFFF:
            raise ValueError("string contains a lone surrogate, which Alloy cannot represent")
        elif code < 0x20 or 0x7F <= code < 0xA0 or char in "\u2028\u2029":
            out.append(f"\\u{code:04x}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def _name(name: str, what: str) -> str:
    if not _IDENTIFIER.fullmatch(name) or name in _KEYWORDS:
        raise ValueError(f"{name!r} is not {what}")
    return name


def _literal(value: str | int | float | bool | None) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} is not a number Alloy can read")
        return repr(value)
    return quote(value)


def write_expr(node: Expr, indent: int = 0) -> str:
    """``node`` as Alloy text; objects spread over lines at ``indent`` levels, keys aligned."""
    if isinstance(node, Literal):
        return _literal(node.value)
    if isinstance(node, Identifier):
        return _name(node.name, "an identifier")
    if isinstance(node, Access):
        return f"{write_expr(node.value, indent)}.{_name(node.name, 'a field name')}"
    if isinstance(node, Index):
        return f"{write_expr(node.value, indent)}[{write_expr(node.index, indent)}]"
    if isinstance(node, Call):
        return f"{write_expr(node.function, indent)}({', '.join(write_expr(a, indent) for a in node.args)})"
    if isinstance(node, Array):
        return "[" + ", ".join(write_expr(item, indent) for item in node.items) + "]"
    if isinstance(node, Unary):
        return f"{node.op}{_operand(node.operand, indent)}"
    if isinstance(node, Binary):
        return f"{_operand(node.left, indent)} {node.op} {_operand(node.right, indent)}"
    if not node.fields:
        return "{}"
    pad = "  " * (indent + 1)
    keys = [
        (key if _IDENTIFIER.fullmatch(key) and key not in _KEYWORDS else quote(key)) for key, _ in node.fields
    ]
    width = max(len(key) for key in keys)
    lines = [
        f"{pad}{key.ljust(width)} = {write_expr(value, indent + 1)},\n"
        for key, (_, value) in zip(keys, node.fields, strict=True)
    ]
    return "{\n" + "".join(lines) + "  " * indent + "}"


def _operand(node: Expr, indent: int) -> str:
    # Operators nest without precedence surprises: every compound operand is parenthesised.
    text = write_expr(node, indent)
    return f"({text})" if isinstance(node, Unary | Binary) else text


def write_block(block: Block, indent: int = 0) -> str:
    """``block`` as Alloy text at ``indent`` levels, attributes aligned on ``=`` as `alloy fmt` does.

    Raises ValueError for a name that is not an identifier (or a dotted block name, or a label
    that is not an identifier).
    """
    if not _REFERENCE.fullmatch(block.name):
        raise ValueError(f"{block.name!r} is not a block name")
    if block.label is not None and not _IDENTIFIER.fullmatch(block.label):
        raise ValueError(f"{block.label!r} is not a component label")
    pad = "  " * indent
    head = block.name if block.label is None else f"{block.name} {quote(block.label)}"
    chunks: list[str] = []
    # Align the '=' of consecutive attributes, as `alloy fmt` does; blank lines between blocks.
    run: list[Attribute] = []

    def flush() -> None:
        if run:
            width = max(len(item.name) for item in run)
            chunks.append(
                "".join(
                    f"{pad}  {item.name.ljust(width)} = {write_expr(item.value, indent + 1)}\n"
                    for item in run
                )
            )
            run.clear()

    for item in block.body:
        if isinstance(item, Attribute):
            _name(item.name, "an attribute name")
            run.append(item)
        else:
            flush()
            chunks.append(write_block(item, indent + 1))
    flush()
    return f"{pad}{head} {{\n" + "\n".join(chunks) + f"{pad}}}\n"
