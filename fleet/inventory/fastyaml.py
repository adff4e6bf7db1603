"""The fast path for reading inventory files: libyaml's C parser, no line numbers.

The full loader (:mod:`fleet.inventory.yamlfile`, ruamel.yaml's round-trip loader) keeps the line
of every key so errors can point at them, and costs about 10 ms per small file: 10 s for a fleet
of 1000 workloads. Almost every file is valid, so the inventory is read here first, at libyaml's
speed, and only the files that have a problem are read again by the full loader, which then
reports it with its line.

This reader must never accept a file the full loader would read differently. It reads the common
subset of YAML the same way ruamel.yaml reads it (YAML 1.2's core schema: ``yes``, ``on`` and
``010`` are not YAML 1.1's booleans and octals) and declines everything else by raising
:class:`Unsupported`: anchors and aliases, explicit tags, merge keys, duplicate keys, complex
keys, ``%YAML`` directives, and any plain scalar that YAML 1.2 would read as a number, timestamp
or special value in a form other than the plain decimal ones. The caller then uses the full
loader, which also applies its limits to such files.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

_PLAIN = "!fleet/plain"
_QUOTED = "!fleet/quoted"
_MAP = "!fleet/map"
_SEQ = "!fleet/seq"

_CONSTANTS: dict[str, Any] = {
    **dict.fromkeys(("", "~", "null", "Null", "NULL")),
    **dict.fromkeys(("true", "True", "TRUE"), True),
    **dict.fromkeys(("false", "False", "FALSE"), False),
}
_NUMERIC_START = frozenset("-+0123456789.<=!&*")
_DECIMAL = re.compile(r"[-+]?(?:0|[1-9][0-9]*)")
_FLOAT = re.compile(r"[-+]?(?:0|[1-9][0-9]*)\.[0-9]+")
# Plain scalars YAML 1.2 (as ruamel.yaml implements it) reads as something other than a string,
# in forms the decimal patterns above do not cover: left to the full loader.
_SPECIAL = re.compile(
    r"""[-+]?[0-9_]*\.?[0-9_]+(?:[eE][-+]?[0-9]+)?   # other numbers: 1_000, 010, 1.5e3, .5
    |[-+]?[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?  # 1. 1.5_0
    |[-+]?(?:0b[01_]+|0o[0-7_]+|0x[0-9a-fA-F_]+)     # binary, octal, hexadecimal
    |[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)
    |[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt \t].*)?     # timestamps
    |<<|=|[!&*]                                       # merge keys, value keys, yaml tags
    """,
    re.X,
)


class Unsupported(Exception):
    """The text is outside what the fast reader reads exactly like the full loader."""


class _Loader(yaml.CSafeLoader):
    """libyaml's parser and composer; scalars are resolved by :func:`_scalar`, not here."""

    def resolve(self, kind: type[Node], value: str, implicit: tuple[bool, bool]) -> str:
        if kind is ScalarNode:
            return _PLAIN if implicit[0] else _QUOTED
        return _MAP if kind is MappingNode else _SEQ


def _scalar(node: ScalarNode) -> Any:
    value: str = node.value
    tag = node.tag
    if tag == _QUOTED:
        return value
    if tag != _PLAIN:
        raise Unsupported(f"explicit tag {tag}")
    if value in _CONSTANTS:
        return _CONSTANTS[value]
    if value[0] not in _NUMERIC_START:
        return value
    if len(value) > 64:  # e.g. a 5000-digit number: the full loader says what is wrong with it
        raise Unsupported("a long number")
    if _DECIMAL.fullmatch(value):
        return int(value)
    if _FLOAT.fullmatch(value):
        return float(value)
    if _SPECIAL.fullmatch(value):
        raise Unsupported(f"scalar {value!r}")
    return value


def _convert(node: Node) -> Any:
    kind = node.__class__
    if kind is ScalarNode:
        return _scalar(node)
    if kind is MappingNode and node.tag == _MAP:
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.__class__ is not ScalarNode:
                raise Unsupported("a complex key")
            if key_node.tag not in (_PLAIN, _QUOTED):
                raise Unsupported(f"explicit tag {key_node.tag}")
            key = key_node.value  # keys are text, as the full loader reads them
            if key == "<<" and key_node.tag == _PLAIN:
                raise Unsupported("a merge key")
            if key in out:
                raise Unsupported(f"duplicate key {key!r}")
            out[key] = _scalar(value_node) if value_node.__class__ is ScalarNode else _convert(value_node)
        return out
    if kind is SequenceNode and node.tag == _SEQ:
        return [_convert(item) for item in node.value]
    raise Unsupported(f"explicit tag {node.tag}")


def fast_load(text: str) -> Any:
    """The plain data of one YAML document, as the full loader would return it.

    Raises :class:`Unsupported` for anything this reader does not read exactly like the full
    loader, including text that is not valid YAML: the full loader then says where and why.
    """
    if "%YAML" in text or "&" in text:  # a directive; an anchor, which any alias needs
        raise Unsupported("a %YAML directive or an anchor")
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
    except yaml.YAMLError as error:
        raise Unsupported(str(error)) from None
    finally:
        loader.dispose()
    if node is None:
        return None
    return _convert(node)
