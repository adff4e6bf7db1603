"""Attempts at a stack: the exactly-once claim and the finish, inside a caller's transaction.

Lock order, everywhere: the rollout row, then the stack's lock row (``stack_locks``, when a
rollout holds it: it serialises claims of one stack across rollouts), then the stack row, then its
attempt rows, then the stack's ``stack_deploys`` row. With one order, PostgreSQL never deadlocks
two of these transactions; on SQLite ``BEGIN IMMEDIATE`` serialises them anyway. A claim and a
finish take the rollout row exclusively: each change of a stack's status bumps the rollout's
change counter (:func:`next_change`), so a coordinator can read only what changed, and a change
counted ``n`` is committed before any change counted ``n + 1``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from fleet.errors import OperationError
from fleet.journal import queries
from fleet.journal.records import Claim, ClaimResult, Outcome, RolloutKind, RolloutStatus, StackStatus
from fleet.journal.schema import attempt_outputs, attempts, rollouts, stack_deploys, stack_locks, stacks

ERROR_MAX_CHARS = 500


def one_line(text: str, limit: int = ERROR_MAX_CHARS) -> str:
    """``text`` on one line (whitespace collapsed), cut to ``limit`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def json_data(value: Mapping[str, Any], what: str) -> Any:
    """A plain JSON copy of ``value``; TypeError naming ``what`` when it is not JSON data."""
    try:
        return json.loads(json.dumps(dict(value)))
    except (TypeError, ValueError) as error:
        raise TypeError(f"{what} must be JSON data: {error}") from None


def stack_key(rollout_id: str, stack: str) -> ColumnElement[bool]:
    return (stacks.c.rollout_id == rollout_id) & (stacks.c.stack == stack)


def attempt_key(rollout_id: str, stack: str) -> ColumnElement[bool]:
    return (attempts.c.rollout_id == rollout_id) & (attempts.c.stack == stack)


def next_change(conn: Connection, rollout_id: str) -> int:
    """Bump the rollout's change counter (locking its row until the commit); the new value."""
    bumped = (
        update(rollouts)
        .where(rollouts.c.id == rollout_id)
        .values(change_seq=rollouts.c.change_seq + 1)
        .returning(rollouts.c.change_seq)
    )
    return int(conn.execute(bumped).scalar_one())


def set_stack_status(
    conn: Connection, rollout_id: str, stack: str, status: StackStatus, now: datetime
) -> None:
    seq = next_change(conn, rollout_id)
    conn.execute(
        update(stacks)
        .where(stack_key(rollout_id, stack))
        .values(status=status.value, updated_at=now, change_seq=seq)
    )


def claim(
    conn: Connection,
    rollout_id: str,
    stack: str,
    worker: str,
    *,
    now: datetime,
    stale_before: datetime,
    previous_worker_lost: bool,
) -> Claim:
    """See :meth:`fleet.journal.Journal.claim`. An open attempt is stale when its last heartbeat
    is older than ``stale_before``."""
    rollout = queries.rollout_row(conn, rollout_id, lock="update")
    lock = conn.execute(
        select(stack_locks.c.rollout_id).where(stack_locks.c.stack == stack).with_for_update()
    ).one_or_none()
    state = conn.execute(
        select(stacks.c.status).where(stack_key(rollout_id, stack)).with_for_update()
    ).one_or_none()
    if state is None:
        raise OperationError(f"stack {stack!r} is not part of rollout {rollout_id}")
    refused = _refusal(rollout, StackStatus(state.status))
    if refused is ClaimResult.CANCELLED and state.status != StackStatus.RUNNING:
        set_stack_status(conn, rollout_id, stack, StackStatus.CANCELLED, now)
    if refused is not None:
        return Claim(refused, rollout_id, stack, worker, None)
    if lock is not None and lock.rollout_id != rollout_id:
        return Claim(ClaimResult.LOCKED, rollout_id, stack, worker, None, f"rollout {lock.rollout_id}")
    # A stack already running is being taken over: it holds its slot. A new start must fit the policy.
    limited = None if state.status == StackStatus.RUNNING else _over_limits(conn, rollout)
    if limited is not None:
        return Claim(limited, rollout_id, stack, worker, None)

    # This stack's attempts in this rollout, newest first (a few at most): the open one and the last number.
    mine = conn.execute(
        select(attempts).where(attempt_key(rollout_id, stack)).order_by(attempts.c.number.desc())
    ).all()
    running = next((row for row in mine if row.outcome is None), None)
    if running is not None and running.heartbeat_at >= stale_before and not previous_worker_lost:
        return Claim(ClaimResult.BUSY, rollout_id, stack, worker, running.number, running.worker)
    # A stack is never run by two rollouts at once, whatever died: an attempt of another rollout
    # (its coordinator killed, its worker still running) keeps the stack until it ends or goes silent.
    others = conn.execute(
        select(attempts).where(
            (attempts.c.stack == stack) & (attempts.c.rollout_id != rollout_id) & attempts.c.outcome.is_(None)
        )
    ).all()
    for other in others:
        if other.heartbeat_at >= stale_before:
            holder = f"{other.worker} (rollout {other.rollout_id})"
            return Claim(ClaimResult.BUSY, rollout_id, stack, worker, other.number, holder)
    recovered_from = None
    for stale in [*([running] if running is not None else []), *others]:
        reported = stale is running and stale.heartbeat_at >= stale_before
        why = "was reported lost" if reported else "stopped heart-beating"
        taker = worker if stale.rollout_id == rollout_id else f"{worker} of rollout {rollout_id}"
        conn.execute(
            update(attempts)
            .where(attempt_key(stale.rollout_id, stack) & (attempts.c.number == stale.number))
            .values(
                outcome=Outcome.LOST.value,
                finished_at=now,
                error=one_line(f"worker {stale.worker} {why}; {taker} took over"),
            )
        )
        recovered_from = stale.worker

    number = (mine[0].number if mine else 0) + 1
    conn.execute(
        insert(attempts).values(
            rollout_id=rollout_id, stack=stack, number=number, worker=worker, started_at=now, heartbeat_at=now
        )
    )
    set_stack_status(conn, rollout_id, stack, StackStatus.RUNNING, now)
    track_deploy(conn, rollout, stack, number, succeeded=False)
    return Claim(ClaimResult.GRANTED, rollout_id, stack, worker, number, recovered_from=recovered_from)


def finish(
    conn: Connection,
    rollout_id: str,
    stack: str,
    attempt: int,
    outcome: Outcome,
    *,
    now: datetime,
    error: str | None,
    versions: Any,
    summary: Any,
    output: str | None = None,
    truncated: int = 0,
) -> None:
    """See :meth:`fleet.journal.Journal.finish`."""
    if outcome is Outcome.LOST:
        raise ValueError("'lost' is recorded by claim(), not reported by a worker")
    rollout = queries.rollout_row(conn, rollout_id, lock="update")
    if conn.dialect.name == "postgresql":  # the lock order; SQLite's write lock is held already
        conn.execute(select(stacks.c.status).where(stack_key(rollout_id, stack)).with_for_update())
    key = attempt_key(rollout_id, stack) & (attempts.c.number == attempt)
    # Every attempt of the stack in this rollout (a few at most): this one's outcome, the newest number.
    mine = select(attempts.c.number, attempts.c.outcome).where(attempt_key(rollout_id, stack))
    numbers: dict[int, str | None] = {row.number: row.outcome for row in conn.execute(mine)}
    if attempt not in numbers:
        raise OperationError(f"no attempt {attempt} of stack {stack!r} in rollout {rollout_id}")
    if numbers[attempt] not in (None, Outcome.LOST.value):
        raise OperationError(f"attempt {attempt} of stack {stack!r} already {numbers[attempt]}")
    conn.execute(
        update(attempts)
        .where(key)
        .values(outcome=outcome.value, finished_at=now, error=error, versions=versions, summary=summary)
    )
    if output is not None:
        conn.execute(
            insert(attempt_outputs).values(
                rollout_id=rollout_id, stack=stack, number=attempt, output=output, truncated=truncated
            )
        )
    # A late report from a taken-over attempt is kept on its row; the stack follows the newest attempt.
    if max(numbers) == attempt:
        set_stack_status(conn, rollout_id, stack, StackStatus(outcome.value), now)
    if outcome is Outcome.SUCCEEDED:
        track_deploy(conn, rollout, stack, attempt, succeeded=True)


def track_deploy(conn: Connection, rollout: Any, stack: str, number: int, *, succeeded: bool) -> None:
    """Keep ``stack_deploys`` current: attempt ``number`` of ``stack`` in ``rollout`` (its row)
    was just claimed (the newest attempt) or, ``succeeded``, finished well (the newest deploy,
    unless a newer one already is). Dry runs and drift checks deploy nothing."""
    if rollout.dry_run or rollout.kind == RolloutKind.DRIFT.value:
        return
    key = (int(rollout.seq), number)
    values = {
        "stack": stack,
        "latest_rollout_id": rollout.id,
        "latest_seq": key[0],
        "latest_number": number,
    }
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    # One statement inserts the stack's row or, when it exists, locks it and returns it as it is.
    upsert = dialect.insert(stack_deploys).values(values)
    upsert = upsert.on_conflict_do_update(index_elements=["stack"], set_={"stack": upsert.excluded.stack})
    row = conn.execute(upsert.returning(*stack_deploys.c)).one()
    changes: dict[str, Any] = {}
    if row.latest_seq is None or key > (row.latest_seq, row.latest_number):
        changes.update(values)
    if succeeded and (row.deployed_seq is None or key >= (row.deployed_seq, row.deployed_number)):
        changes.update(deployed_rollout_id=rollout.id, deployed_seq=key[0], deployed_number=number)
    if changes:
        conn.execute(update(stack_deploys).where(stack_deploys.c.stack == stack).values(**changes))


def track_dry_run(conn: Connection, rollout_id: str, names: list[str]) -> None:
    """Record ``rollout_id`` (a dry run being created) as the newest dry run of each stack."""
    if not names:
        return
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(stack_deploys)
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=["stack"], set_={"dry_rollout_id": statement.excluded.dry_rollout_id}
        ),
        [{"stack": name, "dry_rollout_id": rollout_id} for name in names],
    )


def heartbeat(conn: Connection, rollout_id: str, stack: str, attempt: int, now: datetime) -> bool:
    """Refresh an open attempt's heartbeat; False when it is no longer open."""
    open_attempt = (
        attempt_key(rollout_id, stack) & (attempts.c.number == attempt) & attempts.c.outcome.is_(None)
    )
    return conn.execute(update(attempts).where(open_attempt).values(heartbeat_at=now)).rowcount == 1


def _over_limits(conn: Connection, rollout: Any) -> ClaimResult | None:
    """FULL when ``max_parallel`` of the rollout's stacks run, OVER_BUDGET when more failed than
    ``failure_budget`` allows (its policy; a policy without them, e.g. a drift check's, has no
    limit). One count over the ``(rollout_id, status)`` index: the cost of a claim stays flat."""
    policy = rollout.policy or {}
    limit, budget = policy.get("max_parallel"), policy.get("failure_budget")
    if limit is None and budget is None:
        return None
    rows = conn.execute(
        select(stacks.c.status, func.count())
        .where(
            (stacks.c.rollout_id == rollout.id)
            & stacks.c.status.in_([StackStatus.RUNNING.value, StackStatus.FAILED.value])
        )
        .group_by(stacks.c.status)
    )
    counted = {status: int(count) for status, count in rows}
    if budget is not None and counted.get(StackStatus.FAILED.value, 0) > int(budget):
        return ClaimResult.OVER_BUDGET
    if limit is not None and counted.get(StackStatus.RUNNING.value, 0) >= int(limit):
        return ClaimResult.FULL
    return None


def _refusal(rollout: Any, stack_status: StackStatus) -> ClaimResult | None:
    if stack_status is StackStatus.SUCCEEDED:
        return ClaimResult.ALREADY_SUCCEEDED
    if rollout.cancel_requested:
        return ClaimResult.CANCELLED
    if rollout.status != RolloutStatus.RUNNING.value:
        return ClaimResult.NOT_RUNNING
    return None
