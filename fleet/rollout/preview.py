"""``fleet rollout --preview``: per changed stack, the resources an update would create, update,
replace or delete, before anything is recorded or deployed.

Two ways to look, like drift:

- **live** (the Pulumi engine): ``pulumi preview`` per stack
  (:func:`fleet.engines.pulumi.preview_changes`), ``max_parallel`` processes at a time, one stack
  per process as the Pulumi runtime requires;
- **render** (offline): render the stacks and compare each plan with the stack's last recorded
  render (:func:`fleet.drift.diff.diff_plans`). A render cannot know which changes Pulumi would
  make by replacing a resource, so offline every changed resource is an update; a stack without
  a recorded render shows all its resources as created.

Resources are named by type and name, never by value.
"""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fleet.errors import FleetError
from fleet.inventory.loader import Inventory, load_inventory
from fleet.inventory.models import CredentialGeneration
from fleet.journal import Journal
from fleet.journal.credentials import with_recorded_credentials

OPERATIONS = ("create", "update", "replace", "delete")
"""The operations a preview reports, in the order they are shown."""

_LIVE_OPS = {"create": "create", "update": "update", "replace": "replace", "delete": "delete"}
_RENDER_OPS = {"added": "create", "changed": "update", "removed": "delete"}


@dataclass(frozen=True)
class StackPreview:
    """What an update of ``stack`` would do: resources (``type name``) per operation."""

    stack: str
    resources: dict[str, tuple[str, ...]] = field(default_factory=dict)
    error: str | None = None

    def counts(self) -> dict[str, int]:
        return {op: len(self.resources.get(op, ())) for op in OPERATIONS}

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "error": self.error,
            **{op: list(self.resources.get(op, ())) for op in OPERATIONS},
        }


def _grouped(stack: str, changes: Iterable[tuple[str, str]]) -> StackPreview:
    resources: dict[str, list[str]] = {}
    for op, resource in changes:
        resources.setdefault(op, []).append(resource)
    return StackPreview(stack, {op: tuple(sorted(names)) for op, names in resources.items()})


def render_preview(inventory: Inventory, journal: Journal, stacks: Sequence[str]) -> list[StackPreview]:
    """Render ``stacks`` offline and compare each with its last recorded render (nothing recorded)."""
    from fleet.drift.diff import diff_plans
    from fleet.engines.render import RenderEngine

    inventory = with_recorded_credentials(inventory, journal)
    # The control room renders first, whatever is asked: its outputs feed the workloads. The
    # plans stay in memory: a preview writes nothing into the inventory (no .fleet/render).
    rendered = RenderEngine().render_plans(inventory, list(dict.fromkeys(["controlroom", *stacks])))
    previews = []
    for stack in stacks:
        previous = journal.last_render(stack)
        before = json.loads(previous.plan) if previous is not None else {"resources": []}
        changes = diff_plans(before, rendered[stack].document())
        previews.append(_grouped(stack, ((_RENDER_OPS[c.kind], f"{c.type} {c.name}") for c in changes)))
    return previews


def live_preview(inventory: Inventory, stacks: Sequence[str], *, parallel: int) -> list[StackPreview]:
    """``pulumi preview`` of ``stacks``, ``parallel`` processes at a time (each with the
    inventory's password generations: pass it through ``with_recorded_credentials``)."""
    from fleet.engines.pulumi import require_pulumi_cli

    require_pulumi_cli()  # fail once, before starting any process
    if not stacks:
        return []
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max(1, min(parallel, len(stacks))), mp_context=context) as pool:
        generations = dict(inventory.credentials)
        futures = [pool.submit(_live_one, str(inventory.root), stack, generations) for stack in stacks]
        return [future.result() for future in futures]


def _live_one(root: str, stack: str, generations: Mapping[str, CredentialGeneration]) -> StackPreview:
    # Runs in a worker process: returns plain data (never an exception across processes).
    from fleet.engines.pulumi import preview_changes

    try:
        inventory = dataclasses.replace(load_inventory(Path(root)), credentials=generations)
        found = preview_changes(inventory, stack)
    except FleetError as error:
        return StackPreview(stack, error=error.message)
    wanted = [change for change in found if change.op in _LIVE_OPS]
    return _grouped(stack, ((_LIVE_OPS[change.op], f"{change.type} {change.name}") for change in wanted))


def preview_lines(previews: Sequence[StackPreview]) -> list[str]:
    """Per stack a count line, then one line per resource: ``  + create type name``."""
    marks = {"create": "+", "update": "~", "replace": "+-", "delete": "-"}
    lines = []
    for preview in previews:
        if preview.error is not None:
            lines.append(f"{preview.stack}: could not preview: {preview.error}")
            continue
        counts = preview.counts()
        summary = ", ".join(f"{counts[op]} to {op}" for op in OPERATIONS if counts[op]) or "no changes"
        lines.append(f"{preview.stack}: {summary}")
        for op in OPERATIONS:
            lines.extend(f"  {marks[op]} {op} {name}" for name in preview.resources.get(op, ()))
    return lines
