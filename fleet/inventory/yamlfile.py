"""Inventory YAML, read within bounds, remembering where each value came from.

The inventory is written by people, so every error points at a line; and every process that runs a
stack (the CLI, each worker) parses it, so no file may cost more than a small, fixed amount of time
and memory, whatever it holds. :func:`parse_text` therefore builds plain Python data straight from
libyaml's event stream instead of composing a node graph:

- **no anchors or aliases** (``&x``, ``*x``), hence no merge keys (``<<:``) either: an alias is
  where a "billion laughs" file multiplies a few kilobytes into gigabytes, and inventory files are
  short enough to write every value out (say so, with the line, rather than expand it);
- **no tags** (``!!python/object``, ``!!str``): a value's type is what its text says (YAML 1.2's
  core schema), so nothing but strings, numbers, booleans, nulls, mappings and lists come out;
- at most :data:`MAX_DEPTH` levels of nesting, :data:`MAX_VALUES` values and numbers of at most
  :data:`MAX_NUMBER_CHARS` characters; duplicate keys are errors.

Building from events needs no recursion (an explicit stack), so depth is a counted limit, never a
``RecursionError``. :func:`read_text` holds the byte-level rules: at most :data:`MAX_FILE_BYTES`,
UTF-8 text (no UTF-16, no NUL bytes).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import yaml
from yaml.events import (
    AliasEvent,
    CollectionStartEvent,
    DocumentEndEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    NodeEvent,
    ScalarEvent,
    SequenceEndEvent,
    StreamEndEvent,
    StreamStartEvent,
)

Path_ = tuple[str | int, ...]

MAX_FILE_BYTES = 1024 * 1024
"""An inventory file is a few kilobytes; a megabyte is generous and keeps every parse cheap."""
_CHUNK = 64 * 1024
MAX_DEPTH = 32
"""Nesting levels of mappings and lists; the deepest inventory field is under ten."""
MAX_VALUES = 100_000
"""Scalars, mappings and lists in one file."""
MAX_NUMBER_CHARS = 32
"""Characters of a number; fleet's largest meaningful number has far fewer."""
MAX_ECHO = 80
"""Characters of a user's value an error message repeats before it cuts it short."""

_NULL = re.compile(r"~|null|Null|NULL|")
_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INT = re.compile(r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+")
_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_SPECIAL_FLOATS = {".inf": float("inf"), "+.inf": float("inf"), "-.inf": float("-inf"), ".nan": float("nan")}
_LOOKS_NUMERIC = re.compile(r"[-+]?[.0-9]")


class DocumentError(ValueError):
    """A file that is not an acceptable inventory document; ``line`` is 1-based, or None when the
    problem is the file as a whole (too large, unreadable, not text)."""

    def __init__(self, line: int | None, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message

    def at(self, where: str) -> str:
        """The one-line report: ``where:line: message`` (or ``where: message``)."""
        return f"{where}:{self.line}: {self.message}" if self.line is not None else f"{where}: {self.message}"


def shorten(text: str, limit: int = MAX_ECHO) -> str:
    """``text`` cut to ``limit`` characters (with how much was cut), for echoing user input."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text)} characters)"


@dataclass
class Document:
    """A parsed YAML file: its data and the line of every mapping key and sequence item."""

    data: Any
    lines: dict[Path_, int] = field(default_factory=dict)

    def line_of(self, path: Path_) -> int:
        """The line of ``path``, or of its nearest ancestor that has one (1 for the root)."""
        for end in range(len(path), 0, -1):
            line = self.lines.get(tuple(path[:end]))
            if line is not None:
                return line
        return 1


def read_text(path: Path) -> str:
    """The text of the inventory file ``path``; :class:`DocumentError` when it is too large,
    unreadable, or not UTF-8 text."""
    try:
        with path.open("rb") as handle:
            return read_stream(handle)
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise DocumentError(
            None, f"cannot be read ({reason.lower()}); fix its permissions or remove it"
        ) from None


def read_stream(stream: BinaryIO) -> str:
    """The text of an inventory document read from ``stream`` (a file, or stdin for ``fleet
    workload add -``), under the same rules as :func:`read_text`: at most
    :data:`MAX_FILE_BYTES` are read, however much the stream holds."""
    # In chunks: one read(1 MiB) allocates (and the kernel maps) a megabyte for each small file,
    # a quarter of a second of CPU over 10,000 workload files.
    chunks: list[bytes] = []
    size = 0
    while size <= MAX_FILE_BYTES:
        chunk = stream.read(min(_CHUNK, MAX_FILE_BYTES + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    data = b"".join(chunks)
    if len(data) > MAX_FILE_BYTES:
        raise DocumentError(
            None, f"larger than {MAX_FILE_BYTES // 1024} KiB; an inventory file is a few kilobytes of YAML"
        )
    return decode(data)


def decode(data: bytes) -> str:
    """``data`` as text: UTF-8 (a leading byte-order mark is dropped), never UTF-16 or binary."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise DocumentError(None, "is UTF-16 (it starts with a UTF-16 byte-order mark); save it as UTF-8")
    nul = data.find(b"\x00")
    if nul >= 0:
        line = data.count(b"\n", 0, nul) + 1
        raise DocumentError(line, "a NUL byte: this is a binary file, not YAML text")
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        byte = data[error.start : error.start + 1].hex()
        raise DocumentError(line, f"not UTF-8 (byte 0x{byte}); save the file as UTF-8") from None


def load_document(path: Path) -> Document:
    """Read and parse ``path`` (see :func:`read_text` and :func:`parse_text`)."""
    return parse_text(read_text(path))


def parse_text(text: str) -> Document:
    """Parse one YAML document within the limits above; :class:`DocumentError` with the line of
    the first problem."""
    builder = _Builder()
    try:
        for event in yaml.parse(text, Loader=yaml.CSafeLoader):
            builder.feed(event)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        what = " ".join(part for part in (error.context, error.problem) if part)
        raise DocumentError(mark.line + 1 if mark else None, f"invalid YAML: {shorten(what)}") from None
    except yaml.YAMLError as error:
        raise DocumentError(None, f"invalid YAML: {shorten(str(error).splitlines()[0])}") from None
    return Document(builder.root, builder.lines)


@dataclass
class _Open:
    """A mapping or list being built: where it goes, and (for a mapping) the key awaiting a value."""

    value: dict[str, Any] | list[Any]
    path: Path_
    key: str | None = None
    key_lines: dict[str, int] = field(default_factory=dict)


class _Builder:
    """Plain data from a stream of parser events, with the limits enforced as events arrive."""

    def __init__(self) -> None:
        self.root: Any = None
        self.lines: dict[Path_, int] = {}
        self.stack: list[_Open] = []
        self.values = 0
        self.documents = 0

    def feed(self, event: yaml.Event) -> None:
        line = event.start_mark.line + 1
        if isinstance(event, StreamStartEvent | StreamEndEvent | DocumentEndEvent):
            return
        if isinstance(event, DocumentStartEvent):
            self.documents += 1
            if self.documents > 1:
                raise DocumentError(line, "a second YAML document (---); an inventory file holds one")
            return
        if isinstance(event, AliasEvent):
            raise DocumentError(line, f"alias *{shorten(str(event.anchor))}: {_NO_ANCHORS}")
        if isinstance(event, MappingEndEvent | SequenceEndEvent):
            done = self.stack.pop()
            self._place(done.value, line, done=True)
            return
        assert isinstance(event, NodeEvent)
        self._check_node(event, line)
        if isinstance(event, CollectionStartEvent):
            if len(self.stack) >= MAX_DEPTH:
                raise DocumentError(line, f"nested deeper than {MAX_DEPTH} levels; flatten the file")
            container: dict[str, Any] | list[Any] = {} if isinstance(event, MappingStartEvent) else []
            self.stack.append(_Open(container, self._child_path(line)))
            return
        assert isinstance(event, ScalarEvent)
        top = self.stack[-1] if self.stack else None
        if top is not None and isinstance(top.value, dict) and top.key is None:
            self._key(top, event, line)
            return
        self._place(_scalar(event, line), line, done=False)

    def _check_node(self, event: NodeEvent, line: int) -> None:
        if event.anchor is not None:
            raise DocumentError(line, f"anchor &{shorten(str(event.anchor))}: {_NO_ANCHORS}")
        tag = getattr(event, "tag", None)
        if tag is not None and tag != "!":
            raise DocumentError(
                line,
                f"tag {shorten(str(tag))}: {_NO_TAGS}",
            )
        self.values += 1
        if self.values > MAX_VALUES:
            raise DocumentError(line, f"more than {MAX_VALUES:,} values; an inventory file is small")
        top = self.stack[-1] if self.stack else None
        in_key = top is not None and isinstance(top.value, dict) and top.key is None
        if in_key and not isinstance(event, ScalarEvent):
            raise DocumentError(line, "a mapping key must be a plain value, not a list or mapping")

    def _key(self, top: _Open, event: ScalarEvent, line: int) -> None:
        key = event.value
        if key == "<<" and event.implicit[0]:
            raise DocumentError(line, f"merge key <<: {_NO_ANCHORS}")
        if key in top.key_lines:
            raise DocumentError(
                line, f"duplicate key {shorten(key)!r} (first at line {top.key_lines[key]}); keep one"
            )
        top.key_lines[key] = line
        top.key = key

    def _child_path(self, line: int) -> Path_:
        """The path of the value that starts now (and record its line)."""
        if not self.stack:
            return ()
        top = self.stack[-1]
        if isinstance(top.value, dict):
            assert top.key is not None
            path = (*top.path, top.key)
            self.lines[path] = top.key_lines[top.key]
        else:
            path = (*top.path, len(top.value))
            self.lines[path] = line
        return path

    def _place(self, value: Any, line: int, *, done: bool) -> None:
        """Put a finished value into its parent (or make it the root)."""
        if not self.stack:
            self.root = value
            return
        top = self.stack[-1]
        if not done:
            self._child_path(line)  # records the line of a scalar's key or item
        if isinstance(top.value, dict):
            assert top.key is not None
            top.value[top.key] = value
            top.key = None
        else:
            top.value.append(value)


_NO_TAGS = "tags are not allowed in the inventory; quote a value to make it a string"
_NO_ANCHORS = "anchors, aliases and merge keys are not allowed in the inventory; write the value out"


def _scalar(event: ScalarEvent, line: int) -> Any:
    """A scalar's value by YAML 1.2's core schema; quoted scalars are always strings."""
    text = event.value
    if not event.implicit[0]:
        return text
    if _NULL.fullmatch(text):
        return None
    if text in _BOOL:
        return _BOOL[text]
    if text in _SPECIAL_FLOATS:
        return _SPECIAL_FLOATS[text]
    if not _LOOKS_NUMERIC.match(text):
        return text
    is_int, is_float = bool(_INT.fullmatch(text)), bool(_FLOAT.fullmatch(text))
    if (is_int or is_float) and len(text) > MAX_NUMBER_CHARS:
        raise DocumentError(
            line, f"a number of {len(text)} characters; at most {MAX_NUMBER_CHARS} (quote it if it is text)"
        )
    if is_int:
        return int(text, 0) if text[:2] in ("0o", "0x") else int(text)
    if is_float:
        return float(text)
    return text


__all__ = [
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "MAX_VALUES",
    "Document",
    "DocumentError",
    "load_document",
    "parse_text",
    "read_text",
    "shorten",
]
