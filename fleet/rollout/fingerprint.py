"""What a stack's deploy depends on, as a fingerprint: one digest per input field.

A stack's desired state is its program input (the inventory's fields for that stack, the version
set with its pins: the chart versions) and the program itself (the source of ``controlroom``,
``workloads`` and ``kit``). The fingerprint maps every leaf field of the input
(``workload.spec.mimir.replicas``, ``versions.loki``) and ``program`` to a short digest of its
value, so two fingerprints tell *which* fields changed without keeping a single value: the
journal stores fingerprints with each attempt, and a value never leaves the inventory.

A rollout compares each stack's fingerprint with the one of its last successful deploy
(:func:`compare`) and skips the stacks where they match, unless forced.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fleet.inventory.loader import Inventory
from fleet.inventory.models import CONTROLROOM

PROGRAM_FIELD = "program"
"""The fingerprint field of the programs' own source (a change to fleet's programs re-runs stacks)."""

PROGRAM_PACKAGES = ("controlroom", "workloads", "kit")
_DIGEST_CHARS = 16


@dataclass(frozen=True)
class StackChange:
    """Whether a stack changed since its last successful deploy, and in which fields."""

    stack: str
    changed: bool
    fields: tuple[str, ...] = ()
    """The fields whose value differs (empty when never deployed, or unchanged)."""
    reason: str = ""
    """``never deployed``, ``changed: a, b``, ``unchanged`` or another one-line reason."""


def fingerprint(inventory: Inventory, stack: str) -> dict[str, str]:
    """Field path -> digest of its value, for every leaf of ``stack``'s program input, plus
    ``program`` (the digest of the programs' source). Values never appear in it."""
    spec = inventory.controlroom_stack() if stack == CONTROLROOM else inventory.workload_stack(stack)
    fields = {path: _digest(value) for path, value in _leaves(spec.model_dump(mode="json"), "")}
    fields[PROGRAM_FIELD] = program_digest()
    return dict(sorted(fields.items()))


def spec_hash(inventory: Inventory, stack: str) -> str:
    """sha256 over ``stack``'s fingerprint: one value that changes whenever any field does."""
    return fingerprint_hash(fingerprint(inventory, stack))


def fingerprint_hash(fields: Mapping[str, str]) -> str:
    """The sha256 of a fingerprint (its fields in order)."""
    text = json.dumps(dict(sorted(fields.items())), separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def compare(stack: str, current: Mapping[str, str], deployed: Mapping[str, str] | None) -> StackChange:
    """``current`` against the fingerprint of the last successful deploy (None: never deployed)."""
    if deployed is None:
        return StackChange(stack, True, (), "never deployed")
    if not deployed:
        return StackChange(stack, True, (), "its last deploy recorded no fingerprint")
    differing = tuple(
        sorted(path for path in current.keys() | deployed.keys() if current.get(path) != deployed.get(path))
    )
    if not differing:
        return StackChange(stack, False, (), "unchanged")
    return StackChange(stack, True, differing, f"changed: {', '.join(differing)}")


@functools.cache
def program_digest() -> str:
    """A digest of the programs' Python source (``controlroom``, ``workloads``, ``kit``), read once."""
    digest = hashlib.sha256()
    for package in PROGRAM_PACKAGES:
        spec = importlib.util.find_spec(package)  # finds the package without importing Pulumi
        locations = list(spec.submodule_search_locations or []) if spec else []
        for root in sorted(locations):
            for path in sorted(Path(root).rglob("*.py")):
                digest.update(str(path.relative_to(root)).encode() + b"\0")
                digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:_DIGEST_CHARS]


def _leaves(value: Any, prefix: str) -> Iterator[tuple[str, Any]]:
    # Mappings are walked key by key; lists and scalars are leaves (a reordered list is a change).
    if isinstance(value, dict) and value:
        for key in sorted(value, key=str):
            yield from _leaves(value[key], f"{prefix}.{key}" if prefix else str(key))
    else:
        yield prefix or "(input)", value


def _digest(value: Any) -> str:
    # Most leaves are scalars a fleet shares (versions, defaults, the push URL): each distinct one
    # is digested once per process. The type is part of the key: True, 1 and 1.0 differ in JSON.
    if value is None or isinstance(value, str | int | float):
        return _scalar_digest(type(value).__name__, value)
    return _text_digest(value)


@functools.lru_cache(maxsize=4096)
def _scalar_digest(kind: str, value: Any) -> str:
    return _text_digest(value)


def _text_digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:_DIGEST_CHARS]
