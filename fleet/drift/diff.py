"""Comparing two renders of a stack: which resources were added, removed or changed, and in which
input paths. Pure; differences name resources and property paths, never values."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

ChangeKind = Literal["added", "removed", "changed"]
_MAX_PATHS = 20
_MAX_SUMMARY_CHANGES = 5


@dataclass(frozen=True)
class ResourceChange:
    """A resource that differs: added, removed, or changed in the named input paths."""

    kind: ChangeKind
    type: str
    name: str
    paths: tuple[str, ...] = ()

    def __str__(self) -> str:
        shown = ", ".join(self.paths[:_MAX_PATHS]) + (", ..." if len(self.paths) > _MAX_PATHS else "")
        return f"{self.kind} {self.type} {self.name}" + (f" ({shown})" if shown else "")


@dataclass(frozen=True)
class StackDrift:
    stack: str
    changes: tuple[ResourceChange, ...] = ()
    error: str | None = None
    baseline: bool = False
    """True when no earlier render was recorded: the current one became the baseline."""

    @property
    def drifted(self) -> bool:
        return bool(self.changes)

    def summary(self) -> str | None:
        """One line naming what differs (resources and property paths, never values); None when
        nothing does. This is the error a failed stack of a drift record carries."""
        if self.error is not None:
            return f"could not check: {self.error}"
        if not self.changes:
            return None
        noun = "resource differs" if len(self.changes) == 1 else "resources differ"
        shown = "; ".join(str(change) for change in self.changes[:_MAX_SUMMARY_CHANGES])
        more = (
            f"; and {len(self.changes) - _MAX_SUMMARY_CHANGES} more"
            if len(self.changes) > _MAX_SUMMARY_CHANGES
            else ""
        )
        return f"{len(self.changes)} {noun}: {shown}{more}"

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "drifted": self.drifted,
            "error": self.error,
            "baseline_recorded": self.baseline,
            "changes": [
                {"kind": c.kind, "type": c.type, "name": c.name, "paths": list(c.paths)} for c in self.changes
            ],
        }


@dataclass(frozen=True)
class DriftReport:
    stacks: tuple[StackDrift, ...] = field(default_factory=tuple)

    @property
    def drifted(self) -> tuple[str, ...]:
        return tuple(s.stack for s in self.stacks if s.drifted)

    @property
    def failed(self) -> tuple[str, ...]:
        return tuple(s.stack for s in self.stacks if s.error is not None)


def diff_plans(before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[ResourceChange, ...]:
    """The resources that differ between two render plans, keyed by type and name. Pure."""
    old = {(r["type"], r["name"]): r for r in before.get("resources", [])}
    new = {(r["type"], r["name"]): r for r in after.get("resources", [])}
    changes: list[ResourceChange] = []
    for key in sorted(old.keys() | new.keys()):
        if key not in old:
            changes.append(ResourceChange("added", *key))
        elif key not in new:
            changes.append(ResourceChange("removed", *key))
        else:
            paths = tuple(_changed_paths(old[key].get("inputs"), new[key].get("inputs"), ""))
            if old[key].get("parent") != new[key].get("parent"):
                paths = ("(parent)", *paths)
            if paths:
                changes.append(ResourceChange("changed", *key, paths=paths))
    return tuple(changes)


def _changed_paths(old: Any, new: Any, prefix: str) -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for key in sorted(old.keys() | new.keys(), key=str):
            child = f"{prefix}.{key}" if prefix else str(key)
            if key not in old or key not in new:
                out.append(child)
            else:
                out.extend(_changed_paths(old[key], new[key], child))
        return out
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        out = []
        for index, (a, b) in enumerate(zip(old, new, strict=True)):
            out.extend(_changed_paths(a, b, f"{prefix}[{index}]"))
        return out
    return [] if old == new else [prefix or "(inputs)"]
