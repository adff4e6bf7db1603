"""Read-side queries of the journal: plain functions over a connection, returning records."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any, Literal

from sqlalchemy import JSON, Connection, Row, bindparam, case, cast, func, literal, select, type_coerce
from sqlalchemy.dialects.postgresql import JSONB

from fleet.errors import UserError
from fleet.journal.db import UTCDateTime
from fleet.journal.records import (
    Attempt,
    AttemptOutput,
    GateRecord,
    Outcome,
    RenderRecord,
    Rollout,
    RolloutKind,
    RolloutStatus,
    StackChanges,
    StackDeployment,
    StackDryRun,
    StackState,
    StackStatus,
    WaveRecord,
    WaveStatus,
)
from fleet.journal.schema import attempt_outputs, attempts, renders, rollouts, stack_deploys, stacks, waves

StatusCounts = dict[StackStatus, int]


class RolloutNotFound(UserError):
    """No rollout with the id a user gave."""

    def __init__(self, rollout_id: str) -> None:
        super().__init__(f"no rollout {rollout_id!r} in the journal (see `fleet history`)")
        self.rollout_id = rollout_id


_ROLLOUT_ROW = select(rollouts).where(rollouts.c.id == bindparam("k_rollout_id"))
_ROLLOUT_ROWS = {
    None: _ROLLOUT_ROW,
    "share": _ROLLOUT_ROW.with_for_update(read=True),
    "update": _ROLLOUT_ROW.with_for_update(),
}
"""Built once: a claim and a finish each read the rollout's row, and building the statement cost
more than running it."""


def rollout_row(
    conn: Connection, rollout_id: str, *, lock: Literal["share", "update"] | None = None
) -> Row[Any]:
    """The rollout's row; RolloutNotFound when missing. ``lock`` takes a row lock (PostgreSQL)."""
    row = conn.execute(_ROLLOUT_ROWS[lock], {"k_rollout_id": rollout_id}).one_or_none()
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


def _view_columns(dialect: str) -> list[Any]:
    # An attempt's summary holds its fingerprint (a digest per input field: most of its size),
    # which only the planner reads; the database drops it before a view decodes every attempt.
    summary: Any
    if dialect == "postgresql":
        data = cast(attempts.c.summary, JSONB)
        stripped = data.op("-")(literal("fingerprint"))
        summary = case((func.jsonb_typeof(data) == "object", stripped), else_=data)
    else:
        summary = func.json_remove(attempts.c.summary, "$.fingerprint")
    columns = [column for column in attempts.c if column.name != "summary"]
    return [*columns, type_coerce(summary, JSON).label("summary")]


_VIEW_COLUMNS = {dialect: _view_columns(dialect) for dialect in ("sqlite", "postgresql")}


def stack_states(conn: Connection, rollout_id: str, names: Sequence[str] | None = None) -> list[StackState]:
    """The stacks of a rollout (all, or those in ``names``) in wave order, with their attempts."""
    stack_query = select(stacks).where(stacks.c.rollout_id == rollout_id)
    attempt_query = select(*_VIEW_COLUMNS[conn.dialect.name]).where(attempts.c.rollout_id == rollout_id)
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


def latest_real_attempts(*, succeeded_only: bool) -> Any:
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
            attempts.c.number,
            attempts.c.summary,
            rollouts.c.kind,
            rollouts.c.seq,
            rank,
        )
        .join(rollouts, rollouts.c.id == attempts.c.rollout_id)
        .where(rollouts.c.dry_run.is_(False), rollouts.c.kind != RolloutKind.DRIFT.value)
    )
    if succeeded_only:
        query = query.where(attempts.c.outcome == Outcome.SUCCEEDED.value)
    return query.subquery()


def point_lookups(conn: Connection) -> None:
    """Have PostgreSQL plan the rest of this transaction's reads as lookups by primary key.

    The fleet-wide reads join ``stack_deploys`` (one row per stack) to the one row of each
    table it points at, by that table's whole primary key. Nested loops over the keys read
    10,000 rows of each; but the planner prices each lookup as a random read from disk and, at
    10,000 stacks and 1,000,000 attempts, hashed a sequential scan of every ``rollout_stacks``
    row instead (twice the time, and growing with the history); on a young journal it scans
    the attempts instead. So sequential scans, hash and merge joins are off for the transaction
    (``SET LOCAL``: every table is read through its primary key, whatever the statistics), and
    the JIT, which compiled the plan for longer than it ran. SQLite, which reads the outer table
    in the order asked for (``ORDER BY stack``), plans these joins as key lookups by itself.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(
            select(
                func.set_config("enable_seqscan", "off", True),
                func.set_config("enable_hashjoin", "off", True),
                func.set_config("enable_mergejoin", "off", True),
                func.set_config("jit", "off", True),
            )
        )


def deployments(conn: Connection, names: Sequence[str] | None) -> list[StackDeployment]:
    """``fleet status``: per stack, its last real rollout and its last successful deploy.

    One query: ``stack_deploys`` (one row per stack, kept by claim and finish) joined to the
    rows it points at by their primary keys, so the cost follows the number of stacks, never
    the length of the history.
    """
    latest = attempts.alias("latest")
    deployed = attempts.alias("deployed")
    query = (
        select(
            stack_deploys.c.stack,
            stack_deploys.c.latest_rollout_id,
            rollouts.c.kind,
            stacks.c.status,
            func.coalesce(latest.c.finished_at, latest.c.started_at, type_=UTCDateTime),  # when
            latest.c.error,
            latest.c.summary["action"].as_string(),  # is it offboarded? (not the whole summary)
            stack_deploys.c.deployed_rollout_id,
            deployed.c.finished_at,
            deployed.c.versions,
        )
        .select_from(stack_deploys)
        .join(
            latest,
            (latest.c.rollout_id == stack_deploys.c.latest_rollout_id)
            & (latest.c.stack == stack_deploys.c.stack)
            & (latest.c.number == stack_deploys.c.latest_number),
        )
        .join(
            stacks,
            (stacks.c.rollout_id == stack_deploys.c.latest_rollout_id)
            & (stacks.c.stack == stack_deploys.c.stack),
        )
        .join(rollouts, rollouts.c.id == stack_deploys.c.latest_rollout_id)
        .outerjoin(
            deployed,
            (deployed.c.rollout_id == stack_deploys.c.deployed_rollout_id)
            & (deployed.c.stack == stack_deploys.c.stack)
            & (deployed.c.number == stack_deploys.c.deployed_number),
        )
        .where(stack_deploys.c.latest_rollout_id.is_not(None))
        .order_by(stack_deploys.c.stack)
    )
    if names is not None:
        query = query.where(stack_deploys.c.stack.in_(names))
    point_lookups(conn)
    result = []
    kinds = {kind.value: kind for kind in RolloutKind}
    statuses = {status.value: status for status in StackStatus}
    for row in conn.execute(query).all():
        (stack, rollout_id, kind, status_text, when, error, action) = row[:7]
        deployed_rollout_id, deployed_at, deployed_versions = row[7:]
        status = statuses[status_text]
        if status is StackStatus.SUCCEEDED and action == "destroy":
            continue  # offboarded: its stack is gone (the history keeps the record)
        result.append(
            StackDeployment(
                stack=stack,
                rollout_id=rollout_id,
                rollout_kind=kinds[kind],
                status=status,
                when=when,
                error=error,
                deployed_versions=deployed_versions if deployed_rollout_id else None,
                deployed_at=deployed_at if deployed_rollout_id else None,
                deployed_rollout_id=deployed_rollout_id,
            )
        )
    return result


def _deploys_joined(table: Any, rollout_column: Any, *, numbered: bool) -> Any:
    """The join of ``stack_deploys`` to ``table``'s row that ``rollout_column`` (and, for
    attempts, the matching number column) points at, by that row's primary key."""
    condition = (table.c.rollout_id == rollout_column) & (table.c.stack == stack_deploys.c.stack)
    if numbered:
        number = (
            stack_deploys.c.deployed_number
            if rollout_column is stack_deploys.c.deployed_rollout_id
            else stack_deploys.c.latest_number
        )
        condition = condition & (table.c.number == number)
    return stack_deploys.join(table, condition)


def last_dry_runs(conn: Connection, names: Sequence[str] | None) -> list[StackDryRun]:
    """Per stack, its state in the newest dry-run rollout (not drift check) that included it:
    ``stack_deploys.dry_rollout_id`` joined to that stack row by primary key."""
    query = (
        select(stack_deploys.c.stack, stack_deploys.c.dry_rollout_id, stacks.c.status, stacks.c.updated_at)
        .select_from(_deploys_joined(stacks, stack_deploys.c.dry_rollout_id, numbered=False))
        .order_by(stack_deploys.c.stack)
    )
    if names is not None:
        query = query.where(stack_deploys.c.stack.in_(names))
    point_lookups(conn)
    statuses = {status.value: status for status in StackStatus}
    return [
        StackDryRun(stack, rollout_id, statuses[status], updated_at)
        for stack, rollout_id, status, updated_at in conn.execute(query).all()
    ]


def ranked_dry_runs(conn: Connection, names: Sequence[str] | None) -> list[StackDryRun]:
    """:func:`last_dry_runs` from the whole history (for migrating an older journal)."""
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
    query = (
        select(stack_deploys.c.stack, attempts.c.versions)
        .select_from(_deploys_joined(attempts, stack_deploys.c.deployed_rollout_id, numbered=True))
        .order_by(stack_deploys.c.stack)
    )
    point_lookups(conn)
    return {stack: versions for stack, versions in conn.execute(query).all() if versions is not None}


def _deployed_summaries(conn: Connection, names: Sequence[str] | None) -> dict[str, Any]:
    """Per stack (all, or ``names``), the summary of its last successful real attempt, read
    through ``stack_deploys`` by primary key."""
    query = (
        select(stack_deploys.c.stack, attempts.c.summary)
        .select_from(_deploys_joined(attempts, stack_deploys.c.deployed_rollout_id, numbered=True))
        .order_by(stack_deploys.c.stack)
    )
    if names is not None:
        query = query.where(stack_deploys.c.stack.in_(list(names)))
    point_lookups(conn)
    return dict(conn.execute(query).all())


def deployed_summaries(conn: Connection, names: Sequence[str] | None) -> dict[str, Any]:
    """Per stack (all, or ``names``), the summary of its last successful non-dry-run attempt;
    a stack whose last success destroyed it (offboarded) is not deployed."""
    return {
        stack: summary
        for stack, summary in _deployed_summaries(conn, names).items()
        if summary is not None and not _destroyed(summary)
    }


def destroyed_stacks(conn: Connection) -> set[str]:
    """The stacks whose last successful real attempt destroyed them (offboarded workloads)."""
    return {stack for stack, summary in _deployed_summaries(conn, None).items() if _destroyed(summary)}


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


def stack_changes(conn: Connection, rollout_id: str, since: int | None) -> StackChanges:
    """The statuses of the rollout's stacks changed after change ``since`` (all when None).

    The rollout row is read first: under READ COMMITTED a change committed between the two reads
    is returned now and again next time (harmless), never skipped.
    """
    row = rollout_row(conn, rollout_id)
    query = select(stacks.c.stack, stacks.c.status).where(stacks.c.rollout_id == rollout_id)
    if since is not None:
        query = query.where(stacks.c.change_seq > since)
    statuses = {stack: StackStatus(status) for stack, status in conn.execute(query)}
    return StackChanges(to_rollout(row), int(row.change_seq), statuses)
