"""Read-side queries of the journal: plain functions over a connection, returning records."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any, Literal

from sqlalchemy import Connection, Row, func, select

from fleet.errors import UserError
from fleet.journal.records import (
    Attempt,
    AttemptOutput,
    GateRecord,
    Outcome,
    RenderRecord,
    Rollout,
    RolloutKind,
    RolloutStatus,
    StackDeployment,
    StackDryRun,
    StackState,
    StackStatus,
    WaveRecord,
    WaveStatus,
)
from fleet.journal.schema import attempt_outputs, attempts, renders, rollouts, stacks, waves

StatusCounts = dict[StackStatus, int]


class RolloutNotFound(UserError):
    """No rollout with the id a user gave."""

    def __init__(self, rollout_id: str) -> None:
        super().__init__(f"no rollout {rollout_id!r} in the journal (see `fleet history`)")
        self.rollout_id = rollout_id


def rollout_row(
    conn: Connection, rollout_id: str, *, lock: Literal["share", "update"] | None = None
) -> Row[Any]:
    """The rollout's row; RolloutNotFound when missing. ``lock`` takes a row lock (PostgreSQL)."""
    query = select(rollouts).where(rollouts.c.id == rollout_id)
    if lock is not None:
        query = query.with_for_update(read=lock == "share")
    row = conn.execute(query).one_or_none()
    if row is None:
        raise RolloutNotFound(rollout_id)
    return row


def to_rollout(row: Row[Any]) -> Rollout:
    return Rollout(
        id=row.id,
        kind=RolloutKind(row.kind),
        dry_run=row.dry_run,
        status=RolloutStatus(row.status),
        started_by=row.started_by,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        policy=row.policy,
        versions=row.versions,
        halt_reason=row.halt_reason,
        cancel_requested=row.cancel_requested,
    )


def to_attempt(row: Row[Any]) -> Attempt:
    return Attempt(
        rollout_id=row.rollout_id,
        stack=row.stack,
        number=row.number,
        worker=row.worker,
        started_at=row.started_at,
        heartbeat_at=row.heartbeat_at,
        finished_at=row.finished_at,
        outcome=None if row.outcome is None else Outcome(row.outcome),
        error=row.error,
        versions=row.versions,
        summary=row.summary,
    )


def wave_records(conn: Connection, rollout_ids: Sequence[str]) -> dict[str, list[WaveRecord]]:
    """Every wave of each rollout, in order, with per-status stack counts."""
    counts: dict[tuple[str, int], StatusCounts] = defaultdict(dict)
    count_query = (
        select(stacks.c.rollout_id, stacks.c.wave_index, stacks.c.status, func.count())
        .where(stacks.c.rollout_id.in_(rollout_ids))
        .group_by(stacks.c.rollout_id, stacks.c.wave_index, stacks.c.status)
    )
    for rollout_id, wave_index, status, count in conn.execute(count_query):
        counts[(rollout_id, wave_index)][StackStatus(status)] = count
    by_rollout: dict[str, list[WaveRecord]] = defaultdict(list)
    wave_query = (
        select(waves)
        .where(waves.c.rollout_id.in_(rollout_ids))
        .order_by(waves.c.rollout_id, waves.c.wave_index)
    )
    for row in conn.execute(wave_query):
        gate = None if row.gate_passed is None else GateRecord(row.gate_passed, row.gate_reason or "")
        by_rollout[row.rollout_id].append(
            WaveRecord(
                rollout_id=row.rollout_id,
                index=row.wave_index,
                name=row.name,
                stacks=tuple(row.stacks),
                status=WaveStatus(row.status),
                started_at=row.started_at,
                finished_at=row.finished_at,
                gate=gate,
                counts=counts[(row.rollout_id, row.wave_index)],
            )
        )
    return by_rollout


def total_counts(wave_list: Iterable[WaveRecord]) -> StatusCounts:
    total: StatusCounts = {}
    for wave in wave_list:
        for status, count in wave.counts.items():
            total[status] = total.get(status, 0) + count
    return total


def stack_states(conn: Connection, rollout_id: str, names: Sequence[str] | None = None) -> list[StackState]:
    """The stacks of a rollout (all, or those in ``names``) in wave order, with their attempts."""
    stack_query = select(stacks).where(stacks.c.rollout_id == rollout_id)
    attempt_query = select(attempts).where(attempts.c.rollout_id == rollout_id)
    if names is not None:
        stack_query = stack_query.where(stacks.c.stack.in_(names))
        attempt_query = attempt_query.where(attempts.c.stack.in_(names))
    by_stack: dict[str, list[Attempt]] = defaultdict(list)
    for row in conn.execute(attempt_query.order_by(attempts.c.stack, attempts.c.number)):
        by_stack[row.stack].append(to_attempt(row))
    return [
        StackState(
            rollout_id=row.rollout_id,
            stack=row.stack,
            wave_index=row.wave_index,
            status=StackStatus(row.status),
            updated_at=row.updated_at,
            attempts=tuple(by_stack[row.stack]),
        )
        for row in conn.execute(stack_query.order_by(stacks.c.wave_index, stacks.c.position))
    ]


def _latest_real_attempts(*, succeeded_only: bool) -> Any:
    """Per stack, the newest attempt in a real rollout (newest rollout, then attempt).

    Dry runs deploy nothing, and drift checks only look: neither says what is deployed.
    """
    rank = (
        func.row_number()
        .over(partition_by=attempts.c.stack, order_by=(rollouts.c.seq.desc(), attempts.c.number.desc()))
        .label("rank")
    )
    query = (
        select(
            attempts.c.stack,
            attempts.c.rollout_id,
            attempts.c.started_at,
            attempts.c.finished_at,
            attempts.c.error,
            attempts.c.versions,
            attempts.c.summary,
            rollouts.c.kind,
            rank,
        )
        .join(rollouts, rollouts.c.id == attempts.c.rollout_id)
        .where(rollouts.c.dry_run.is_(False), rollouts.c.kind != RolloutKind.DRIFT.value)
    )
    if succeeded_only:
        query = query.where(attempts.c.outcome == Outcome.SUCCEEDED.value)
    return query.subquery()


def deployments(conn: Connection, names: Sequence[str] | None) -> list[StackDeployment]:
    """``fleet status``: per stack, its last real rollout and its last successful deploy."""
    latest = _latest_real_attempts(succeeded_only=False)
    deployed = _latest_real_attempts(succeeded_only=True)
    latest_query = (
        select(latest, stacks.c.status)
        .join(stacks, (stacks.c.rollout_id == latest.c.rollout_id) & (stacks.c.stack == latest.c.stack))
        .where(latest.c.rank == 1)
    )
    deployed_query = select(deployed).where(deployed.c.rank == 1)
    if names is not None:
        latest_query = latest_query.where(latest.c.stack.in_(names))
        deployed_query = deployed_query.where(deployed.c.stack.in_(names))
    successes = {row.stack: row for row in conn.execute(deployed_query)}
    result = []
    for row in conn.execute(latest_query.order_by(latest.c.stack)):
        if row.status == StackStatus.SUCCEEDED.value and _destroyed(row.summary):
            continue  # offboarded: its stack is gone (the history keeps the record)
        success = successes.get(row.stack)
        result.append(
            StackDeployment(
                stack=row.stack,
                rollout_id=row.rollout_id,
                rollout_kind=RolloutKind(row.kind),
                status=StackStatus(row.status),
                when=row.finished_at or row.started_at,
                error=row.error,
                deployed_versions=None if success is None else success.versions,
                deployed_at=None if success is None else success.finished_at,
                deployed_rollout_id=None if success is None else success.rollout_id,
            )
        )
    return result


def last_dry_runs(conn: Connection, names: Sequence[str] | None) -> list[StackDryRun]:
    """Per stack, its state in the newest dry-run rollout (not drift check) that included it."""
    rank = func.row_number().over(partition_by=stacks.c.stack, order_by=rollouts.c.seq.desc()).label("rank")
    ranked = (
        select(stacks.c.stack, stacks.c.rollout_id, stacks.c.status, stacks.c.updated_at, rank)
        .join(rollouts, rollouts.c.id == stacks.c.rollout_id)
        .where(rollouts.c.dry_run.is_(True), rollouts.c.kind != RolloutKind.DRIFT.value)
    )
    if names is not None:
        ranked = ranked.where(stacks.c.stack.in_(names))
    latest = ranked.subquery()
    query = select(latest).where(latest.c.rank == 1).order_by(latest.c.stack)
    return [
        StackDryRun(row.stack, row.rollout_id, StackStatus(row.status), row.updated_at)
        for row in conn.execute(query)
    ]


def deployed_versions(conn: Connection) -> dict[str, Any]:
    """Per stack, the version set of its last successful non-dry-run attempt."""
    deployed = _latest_real_attempts(succeeded_only=True)
    query = select(deployed.c.stack, deployed.c.versions).where(deployed.c.rank == 1)
    return {row.stack: row.versions for row in conn.execute(query) if row.versions is not None}


def deployed_summaries(conn: Connection, names: Sequence[str] | None) -> dict[str, Any]:
    """Per stack (all, or ``names``), the summary of its last successful non-dry-run attempt;
    a stack whose last success destroyed it (offboarded) is not deployed."""
    deployed = _latest_real_attempts(succeeded_only=True)
    query = select(deployed.c.stack, deployed.c.summary).where(deployed.c.rank == 1)
    if names is not None:
        query = query.where(deployed.c.stack.in_(list(names)))
    return {
        row.stack: row.summary
        for row in conn.execute(query)
        if row.summary is not None and not _destroyed(row.summary)
    }


def destroyed_stacks(conn: Connection) -> set[str]:
    """The stacks whose last successful real attempt destroyed them (offboarded workloads)."""
    deployed = _latest_real_attempts(succeeded_only=True)
    query = select(deployed.c.stack, deployed.c.summary).where(deployed.c.rank == 1)
    return {row.stack for row in conn.execute(query) if _destroyed(row.summary)}


def _destroyed(summary: Any) -> bool:
    return isinstance(summary, dict) and summary.get("action") == "destroy"


def attempt_outputs_of(conn: Connection, rollout_id: str, stack: str) -> list[AttemptOutput]:
    """Every attempt of ``stack`` in the rollout, oldest first, with its recorded output."""
    query = (
        select(attempts, attempt_outputs.c.output, attempt_outputs.c.truncated)
        .outerjoin(
            attempt_outputs,
            (attempt_outputs.c.rollout_id == attempts.c.rollout_id)
            & (attempt_outputs.c.stack == attempts.c.stack)
            & (attempt_outputs.c.number == attempts.c.number),
        )
        .where((attempts.c.rollout_id == rollout_id) & (attempts.c.stack == stack))
        .order_by(attempts.c.number)
    )
    rows = conn.execute(query)
    return [AttemptOutput(to_attempt(row), row.output or "", row.truncated or 0) for row in rows]


def render_record(conn: Connection, stack: str) -> RenderRecord | None:
    row = conn.execute(select(renders).where(renders.c.stack == stack)).one_or_none()
    if row is None:
        return None
    return RenderRecord(
        stack=row.stack,
        plan_hash=row.plan_hash,
        plan=row.plan,
        rollout_id=row.rollout_id,
        recorded_at=row.recorded_at,
    )
