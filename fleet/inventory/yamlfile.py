"""YAML documents that remember where each value came from.

The inventory is written by people, so every error must point at a line. ruamel.yaml's
round-trip loader keeps line numbers on mappings and sequences; :func:`load_document` turns a
file into plain Python data plus a map from each value's path to its (1-based) line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

Path_ = tuple[str | int, ...]


class YamlSyntaxError(ValueError):
    """A file that is not valid YAML; ``line`` is 1-based."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


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


def _plain(node: Any, path: Path_, lines: dict[Path_, int]) -> Any:
    if isinstance(node, CommentedMap):
        out: dict[Any, Any] = {}
        for key, value in node.items():
            child = (*path, str(key))
            line, _col = node.lc.key(key)
            lines[child] = line + 1
            out[key] = _plain(value, child, lines)
        return out
    if isinstance(node, CommentedSeq):
        items = []
        for index, value in enumerate(node):
            child = (*path, index)
            line, _col = node.lc.item(index)
            lines[child] = line + 1
            items.append(_plain(value, child, lines))
        return items
    if isinstance(node, str):
        return str(node)
    return node


def parse_text(text: str) -> Document:
    """Parse YAML text; raises :class:`YamlSyntaxError` with the line of the problem."""
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    try:
        root = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        what = " ".join(part for part in (exc.context, exc.problem) if part)
        raise YamlSyntaxError(line, f"invalid YAML: {what}") from None
    except YAMLError as exc:
        raise YamlSyntaxError(1, f"invalid YAML: {str(exc).splitlines()[0]}") from None
    lines: dict[Path_, int] = {}
    return Document(_plain(root, (), lines), lines)


def load_document(path: Path) -> Document:
    """Read and parse ``path`` (see :func:`parse_text`)."""
    return parse_text(path.read_text(encoding="utf-8"))
