"""Drift: do the stacks still match what the inventory says they should be?

Two ways to look:

- **live** (the Pulumi engine): per stack, refresh the state from the live resources, then preview
  expecting no changes (:func:`fleet.engines.pulumi.preview_expect_no_changes`). Stacks run in
  parallel processes, ``spec.rollout.max_parallel`` at a time, one stack per process as the
  Pulumi runtime requires.
- **render** (``--dry-run``, offline): render every stack and compare its plan with the last
  recorded render in the journal (``renders``). A stack without a recorded render gets the
  current one recorded as its baseline; ``record=True`` re-baselines drifted stacks too.

Differences name resources and property paths, never values: plans are redacted, and even
redacted values are left out of reports.
"""

from __future__ import annotations

import json
import multiprocessing
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from fleet.errors import FleetError, UserError
from fleet.inventory import Inventory, load_inventory
from fleet.journal import Journal

ChangeKind = Literal["added", "removed", "changed"]
_MAX_PATHS = 20


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


def stacks_for(inventory: Inventory, names: Sequence[str], select_all: bool) -> list[str]:
    """The stacks to check: ``names`` (workloads or ``controlroom``) or, with ``select_all``, all."""
    if bool(names) == select_all:
        raise UserError("name the stacks to check, or use --all (not both)")
    if select_all:
        return list(inventory.stacks())
    known = set(inventory.stacks())
    unknown = sorted(set(names) - known)
    if unknown:
        raise UserError(f"unknown stack(s): {', '.join(unknown)}")
    return [stack for stack in inventory.stacks() if stack in names]


def render_drift(
    inventory: Inventory, journal: Journal, stacks: Sequence[str], *, record: bool = False
) -> DriftReport:
    """Render ``stacks`` offline and compare each with its last recorded render (see the module)."""
    from fleet.engines.render import RenderEngine

    plans: dict[str, dict[str, Any]] = {}

    def keep(name: str, plan: Any) -> None:
        plans[name] = json.loads(json.dumps(plan.to_json()))

    # The control room renders first, whatever is asked: its outputs feed the workloads.
    wanted = list(dict.fromkeys(["controlroom", *stacks])) if stacks else []
    RenderEngine().render_many(inventory, wanted, on_rendered=keep)
    results = []
    for stack in stacks:
        previous = journal.last_render(stack)
        if previous is None:
            journal.record_render(stack, plans[stack])
            results.append(StackDrift(stack, baseline=True))
            continue
        changes = diff_plans(json.loads(previous.plan), plans[stack])
        if changes and record:
            journal.record_render(stack, plans[stack])
        results.append(StackDrift(stack, changes))
    return DriftReport(tuple(results))


def live_drift(inventory: Inventory, stacks: Sequence[str], *, parallel: int) -> DriftReport:
    """Refresh and preview ``stacks`` with Pulumi, ``parallel`` processes at a time."""
    from fleet.engines.pulumi import require_pulumi_cli

    require_pulumi_cli()  # fail once, before starting any process
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max(1, min(parallel, len(stacks) or 1)), mp_context=context) as pool:
        futures = [pool.submit(_live_one, str(inventory.root), stack) for stack in stacks]
        return DriftReport(tuple(StackDrift(**future.result()) for future in futures))


def _live_one(root: str, stack: str) -> dict[str, Any]:
    # Runs in a worker process: returns plain data (never an exception across processes).
    from fleet.engines.pulumi import preview_expect_no_changes

    try:
        drifted = preview_expect_no_changes(load_inventory(Path(root)), stack)
    except FleetError as error:
        return {"stack": stack, "error": error.message}
    op_kinds: dict[str, ChangeKind] = {"create": "added", "delete": "removed"}
    changes = tuple(
        ResourceChange(op_kinds.get(d.op, "changed"), d.type, d.name, tuple(d.properties)) for d in drifted
    )
    return {"stack": stack, "changes": changes}
