"""Drift: do the stacks still match what the inventory says they should be?

Two ways to look:

- **live** (the Pulumi engine): per stack, a preview that refreshes in memory and expects no
  changes (:func:`fleet.engines.pulumi.preview_expect_no_changes`): it writes no state. Stacks
  run in parallel processes, ``spec.rollout.max_parallel`` at a time, one stack per process as
  the Pulumi runtime requires. The check holds fleet's stack locks meanwhile
  (:func:`drift_locks`), so no rollout updates a stack while it is compared, and a check waits
  for no one: a stack locked by a rollout is reported at once.
- **render** (``--dry-run``, offline): render every stack and compare its plan with the last
  recorded render in the journal (``renders``). A stack without a recorded render gets the
  current one recorded as its baseline; ``record=True`` re-baselines drifted stacks too.

Differences name resources and property paths, never values: plans are redacted, and even
redacted values are left out of reports.

Every check, by hand (``fleet drift``) or scheduled (``spec.drift``, run by ``fleet beat``), is
recorded in the journal as a ``drift`` rollout: one wave with the checked stacks, each succeeded
(no drift) or failed (drifted, with a one-line summary of what differs; or could not be checked).
``fleet history`` lists them, and ``spec.notifications.webhook`` hears of every check that fails.
The record is ``dry_run`` when the check rendered offline: a drift check never deploys anything.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import multiprocessing
import os
import secrets
import socket
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

from fleet.drift.diff import ChangeKind, DriftReport, ResourceChange, StackDrift, diff_plans
from fleet.errors import FleetError, UserError
from fleet.inventory.loader import Inventory, load_inventory
from fleet.inventory.models import CredentialGeneration
from fleet.journal import Journal, Outcome, Rollout, RolloutKind, RolloutStatus, WaveStatus
from fleet.journal.credentials import with_recorded_credentials
from fleet.journal.locks import LockKeeper, StackLocks
from fleet.rollout.waves import Wave

log = logging.getLogger(__name__)

DRIFT_WAVE = "drift"


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

    inventory = with_recorded_credentials(inventory, journal)
    # The control room renders first, whatever is asked: its outputs feed the workloads. The
    # plans stay in memory (the journal records what is kept): nothing lands in .fleet/render.
    wanted = list(dict.fromkeys(["controlroom", *stacks])) if stacks else []
    rendered = RenderEngine().render_plans(inventory, wanted)
    plans: dict[str, dict[str, Any]] = {name: plan.document() for name, plan in rendered.items()}
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


@contextlib.contextmanager
def drift_locks(locks: StackLocks, stacks: Sequence[str], owner: str | None = None) -> Iterator[str]:
    """Hold fleet's locks of ``stacks`` for a live check (``owner``: the check's rollout id, or a
    fresh ``drift-...`` id for an unrecorded one), renewed until the block ends, then released.
    Raises StacksLocked at once when a rollout holds any of them."""
    owner = owner or f"drift-{secrets.token_hex(4)}"
    locks.acquire(stacks, owner)
    try:
        every = max(locks.ttl.total_seconds() / 5, 0.1)
        with LockKeeper(locks, owner, len(set(stacks)), every=every):
            yield owner
    finally:
        locks.release(owner)


def live_drift(inventory: Inventory, stacks: Sequence[str], *, parallel: int) -> DriftReport:
    """Refresh and preview ``stacks`` with Pulumi, ``parallel`` processes at a time (each with the
    inventory's password generations: pass it through ``with_recorded_credentials``)."""
    from fleet.engines.pulumi import require_pulumi_cli

    require_pulumi_cli()  # fail once, before starting any process
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max(1, min(parallel, len(stacks) or 1)), mp_context=context) as pool:
        generations = dict(inventory.credentials)
        futures = [pool.submit(_live_one, str(inventory.root), stack, generations) for stack in stacks]
        return DriftReport(tuple(StackDrift(**future.result()) for future in futures))


def _live_one(root: str, stack: str, generations: Mapping[str, CredentialGeneration]) -> dict[str, Any]:
    # Runs in a worker process: returns plain data (never an exception across processes).
    from fleet.engines.pulumi import preview_expect_no_changes

    try:
        inventory = dataclasses.replace(load_inventory(Path(root)), credentials=generations)
        drifted = preview_expect_no_changes(inventory, stack)
    except FleetError as error:
        return {"stack": stack, "error": error.message}
    op_kinds: dict[str, ChangeKind] = {"create": "added", "delete": "removed"}
    changes = tuple(
        ResourceChange(op_kinds.get(d.op, "changed"), d.type, d.name, tuple(d.properties)) for d in drifted
    )
    return {"stack": stack, "changes": changes}


# -- the journal record of a check -----------------------------------------------------------------


def record_check(
    inventory: Inventory,
    journal: Journal,
    stacks: Sequence[str],
    *,
    dry_run: bool,
    started_by: str | None = None,
    rollout_id: str | None = None,
    scheduled_for: datetime | None = None,
) -> Rollout:
    """Record a pending drift check of ``stacks`` (a ``drift`` rollout with one wave).

    ``rollout_id`` names it (OperationError when that id is taken: how the scheduler runs each
    fire time once); ``scheduled_for`` is the schedule's fire time, kept in the record's policy.
    """
    policy: dict[str, Any] = {"inventory": str(inventory.root.resolve()), "mode": _mode(dry_run)}
    if scheduled_for is not None:
        policy["scheduled_for"] = scheduled_for.isoformat()
    return journal.create_rollout(
        [Wave(0, DRIFT_WAVE, tuple(stacks))],
        kind=RolloutKind.DRIFT,
        dry_run=dry_run,
        policy=policy,
        versions=inventory.fleet.spec.versions.model_dump(),
        started_by=started_by,
        rollout_id=rollout_id,
    )


def run_check(
    inventory: Inventory,
    journal: Journal,
    rollout_id: str,
    *,
    accept: bool = False,
    locks: StackLocks | None = None,
) -> DriftReport:
    """Run the recorded drift check ``rollout_id`` (its stacks, in its mode), record each stack's
    result, and post the webhook when any stack drifted or could not be checked.

    ``accept`` re-baselines drifted renders (offline mode). A live check holds the stacks'
    ``locks`` (default: the journal's, with the default TTL) until its results are recorded. A
    check that cannot run at all (no ``pulumi`` CLI, a stack locked by a rollout) is recorded as
    failed, notified, and its error raised.
    """
    rollout = journal.rollout(rollout_id)
    if rollout.kind is not RolloutKind.DRIFT:
        raise UserError(f"rollout {rollout_id} is a {rollout.kind} rollout, not a drift check")
    if rollout.status is not RolloutStatus.PENDING:
        raise UserError(f"drift check {rollout_id} already ran ({rollout.status})")
    stacks = journal.remaining_stacks(rollout_id)
    inventory = with_recorded_credentials(inventory, journal)
    journal.set_status(rollout_id, RolloutStatus.RUNNING)
    journal.mark_wave(rollout_id, 0, WaveStatus.RUNNING)
    held = contextlib.ExitStack()
    try:
        if rollout.dry_run:
            report = render_drift(inventory, journal, stacks, record=accept)
        else:
            held.enter_context(drift_locks(locks or StackLocks(journal), stacks, rollout_id))
            report = live_drift(inventory, stacks, parallel=inventory.fleet.spec.rollout.max_parallel)
    except FleetError as error:
        held.close()
        journal.mark_wave(rollout_id, 0, WaveStatus.FAILED)
        journal.set_status(rollout_id, RolloutStatus.FAILED, reason=f"could not check: {error.message}")
        _notify(inventory, journal, rollout_id)
        raise
    with held:  # the results are claimed in the check's own rollout: keep its locks until then
        _record_results(inventory, journal, rollout_id, report)
    return report


def _record_results(inventory: Inventory, journal: Journal, rollout_id: str, report: DriftReport) -> None:
    worker = f"{socket.gethostname()}:{os.getpid()}"
    for result in report.stacks:
        claim = journal.claim(rollout_id, result.stack, worker)
        if claim.attempt is None:
            continue
        problem = result.summary()
        journal.finish(
            rollout_id,
            result.stack,
            claim.attempt,
            Outcome.FAILED if problem else Outcome.SUCCEEDED,
            error=problem,
            summary={"changes": len(result.changes), "baseline_recorded": result.baseline},
        )
    bad = [s.stack for s in report.stacks if s.drifted or s.error is not None]
    journal.mark_wave(rollout_id, 0, WaveStatus.FAILED if bad else WaveStatus.SUCCEEDED)
    if not bad:
        journal.set_status(rollout_id, RolloutStatus.SUCCEEDED)
        return
    reasons = []
    if report.drifted:
        reasons.append(f"drift in {', '.join(report.drifted)}")
    if report.failed:
        reasons.append(f"could not check {', '.join(report.failed)}")
    journal.set_status(rollout_id, RolloutStatus.FAILED, reason="; ".join(reasons))
    _notify(inventory, journal, rollout_id)


def _notify(inventory: Inventory, journal: Journal, rollout_id: str) -> None:
    """Post the failed check to ``spec.notifications.webhook`` (logged, never raised, if it fails)."""
    url = inventory.fleet.spec.notifications.webhook
    if url is None:
        return
    from fleet.rollout.hooks import notification_hook

    notification_hook(url, kind=RolloutKind.DRIFT.value)(journal.get_rollout(rollout_id))


def _mode(dry_run: bool) -> str:
    return "render" if dry_run else "live"
