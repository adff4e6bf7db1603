"""A small typed writer for the Alloy configuration syntax: blocks, attributes and values.

A configuration is built as a tree of :class:`Block` and :class:`Attr` and then written out with
:func:`write_block`. Every ``str`` value is written as an escaped string literal (:func:`quote`),
so text from the inventory cannot close a block or inject a component; block names, labels,
attribute names, references (:class:`Ref`) and function names (:class:`Call`) are checked against
Alloy's identifier grammar, and are only ever built from constants.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Union

__all__ = ["Attr", "Block", "Call", "Index", "Item", "Ref", "Value", "quote", "write_block"]

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_REFERENCE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_NAMED_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


@dataclass(frozen=True)
class Ref:
    """A reference to another component's export; only ever built from constants."""

    path: str

    def __post_init__(self) -> None:
        if not _REFERENCE.fullmatch(self.path):
            raise ValueError(f"{self.path!r} is not a reference")


@dataclass(frozen=True)
class Index:
    """``ref["key"]``."""

    ref: Ref
    key: str


@dataclass(frozen=True)
class Call:
    """``function("arg", ...)`` of a standard-library function; only ever built from constants."""

    function: str
    args: tuple[str, ...]

    def __post_init__(self) -> None:
        if not _REFERENCE.fullmatch(self.function):
            raise ValueError(f"{self.function!r} is not a function name")


Value = Union[str, int, bool, Ref, Index, Call, Sequence["Value"], dict[str, "Value"]]  # noqa: UP007


@dataclass(frozen=True)
class Attr:
    """``name = value``."""

    name: str
    value: Value


@dataclass(frozen=True)
class Block:
    """``name "label" { body }`` (no label: a nested block such as ``endpoint { ... }``)."""

    name: str
    label: str | None
    body: tuple[Item, ...]

    def __post_init__(self) -> None:
        if not _REFERENCE.fullmatch(self.name):
            raise ValueError(f"{self.name!r} is not a block name")
        if self.label is not None and not _IDENTIFIER.fullmatch(self.label):
            raise ValueError(f"{self.label!r} is not a component label")


Item = Union[Attr, Block]  # noqa: UP007


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


def _write_value(value: Value, indent: int) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return quote(value)
    if isinstance(value, Ref):
        return value.path
    if isinstance(value, Index):
        return f"{value.ref.path}[{quote(value.key)}]"
    if isinstance(value, Call):
        return f"{value.function}({', '.join(quote(arg) for arg in value.args)})"
    if isinstance(value, dict):
        if not value:
            return "{}"
        pad = "  " * (indent + 1)
        keys = {key: key if _IDENTIFIER.fullmatch(key) else quote(key) for key in value}
        width = max(len(key) for key in keys.values())
        lines = [
            f"{pad}{keys[key].ljust(width)} = {_write_value(item, indent + 1)},\n"
            for key, item in value.items()
        ]
        return "{\n" + "".join(lines) + "  " * indent + "}"
    return "[" + ", ".join(_write_value(item, indent) for item in value) + "]"


def write_block(block: Block, indent: int = 0) -> str:
    """``block`` as Alloy text at ``indent`` levels, attributes aligned on ``=`` as `alloy fmt` does.

    Raises ValueError for an attribute name that is not an identifier.
    """
    pad = "  " * indent
    head = block.name if block.label is None else f"{block.name} {quote(block.label)}"
    chunks: list[str] = []
    # Align the '=' of consecutive attributes, as `alloy fmt` does; blank lines between blocks.
    run: list[Attr] = []

    def flush() -> None:
        if run:
            width = max(len(attr.name) for attr in run)
            chunks.append(
                "".join(
                    f"{pad}  {attr.name.ljust(width)} = {_write_value(attr.value, indent + 1)}\n"
                    for attr in run
                )
            )
            run.clear()

    for item in block.body:
        if isinstance(item, Attr):
            if not _IDENTIFIER.fullmatch(item.name):
                raise ValueError(f"{item.name!r} is not an attribute name")
            run.append(item)
        else:
            flush()
            chunks.append(write_block(item, indent + 1))
    flush()
    lines = [f"{pad}{head} {{\n", "\n".join(chunks)]
    lines.append(f"{pad}}}\n")
    return "".join(lines)
