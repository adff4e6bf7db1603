"""Label selectors with kubectl's syntax, over a workload's labels and three of its fields.

``--selector`` takes requirements separated by commas; a workload is selected when it meets all
of them::

    ring=canary   ring==canary   ring!=canary           equality (!= also matches no such label)
    ring in (canary,early)       ring notin (canary)    sets (notin also matches no such label)
    ring          !ring                                  the label exists / does not exist

The keys ``environment``, ``cloud`` and ``region`` name the workload's fields of that name (a
label with one of those names is not consulted), so ``environment!=production,cloud=aws`` works.
Parsing is pure; :func:`parse_selector` raises UserError naming the bad requirement.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from fleet.errors import UserError, did_you_mean
from fleet.inventory.models import SELECTOR_FIELDS

__all__ = ["FIELDS", "Requirement", "Selector", "did_you_mean", "parse_selector"]

FIELDS = SELECTOR_FIELDS
"""Workload fields a selector may use as keys, besides the labels."""

_KEY = r"[A-Za-z0-9]([A-Za-z0-9._/-]*[A-Za-z0-9])?"
_VALUE = r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?"
_EQUALITY = re.compile(rf"\s*(?P<key>{_KEY})\s*(?P<op>==|!=|=)\s*(?P<value>{_VALUE})\s*")
_SET = re.compile(rf"\s*(?P<key>{_KEY})\s+(?P<op>in|notin)\s*\((?P<values>[^()]*)\)\s*")
_EXISTS = re.compile(rf"\s*(?P<neg>!)?\s*(?P<key>{_KEY})\s*")
_VALUE_RE = re.compile(_VALUE)
HELP = "key=value, key!=value, 'key in (a,b)', 'key notin (a,b)', key, !key; comma means and"


@dataclass(frozen=True)
class Requirement:
    """One requirement: ``key`` ``op`` ``values`` (op: in, notin, exists, !exists)."""

    key: str
    op: str
    values: frozenset[str] = frozenset()

    def matches(self, value: str | None) -> bool:
        """Whether a workload whose ``key`` is ``value`` (None: no such label) meets it."""
        if self.op == "in":
            return value in self.values
        if self.op == "notin":
            return value not in self.values
        if self.op == "exists":
            return value is not None
        return value is None  # !exists


@dataclass(frozen=True)
class Selector:
    """Requirements that must all hold (see the module docstring)."""

    requirements: tuple[Requirement, ...]

    def matches(self, labels: Mapping[str, str], fields: Mapping[str, str]) -> bool:
        """Whether a workload with these labels and fields is selected."""
        return all(
            req.matches(fields.get(req.key) if req.key in FIELDS else labels.get(req.key))
            for req in self.requirements
        )

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(req.key for req in self.requirements))

    @classmethod
    def equal(cls, labels: Mapping[str, str]) -> Selector:
        """The selector ``k1=v1,k2=v2`` of ``labels``."""
        return cls(tuple(Requirement(k, "in", frozenset({v})) for k, v in labels.items()))


def _split(text: str) -> list[str]:
    """``text`` split at the commas outside parentheses."""
    parts, depth, current = [], 0, ""
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return parts


def _requirement(part: str, text: str) -> Requirement:
    if match := _EQUALITY.fullmatch(part):
        op = "notin" if match["op"] == "!=" else "in"
        return Requirement(match["key"], op, frozenset({match["value"]}))
    if match := _SET.fullmatch(part):
        values = [value.strip() for value in match["values"].split(",")]
        if not all(_VALUE_RE.fullmatch(value) for value in values):
            raise UserError(f"bad label selector {text!r}: {part.strip()!r}: list values like (a,b)")
        return Requirement(match["key"], match["op"], frozenset(values))
    if match := _EXISTS.fullmatch(part):
        return Requirement(match["key"], "!exists" if match["neg"] else "exists")
    raise UserError(f"bad label selector {text!r}: {part.strip()!r} is not a requirement; use {HELP}")


def parse_selector(text: str) -> Selector:
    """The selector ``text`` means; UserError on bad syntax or an empty selector."""
    if not text.strip():
        raise UserError(f"empty label selector; use {HELP}")
    if text.count("(") != text.count(")"):
        raise UserError(f"bad label selector {text!r}: unbalanced parentheses")
    return Selector(tuple(_requirement(part, text) for part in _split(text)))
