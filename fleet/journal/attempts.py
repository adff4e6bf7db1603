"""Attempts at a stack: the exactly-once claim and the finish, inside a caller's transaction.

Lock order, everywhere: the rollout row, then the stack's lock row (``stack_locks``, when a
rollout holds it: it serialises claims of one stack across rollouts), then the stack row, then its
attempt rows, then the stack's ``stack_deploys`` row. With one order, PostgreSQL never deadlocks
two of these transactions; on SQLite ``BEGIN IMMEDIATE`` serialises them anyway. A claim and a
finish take the rollout row exclusively: each change of a stack's status bumps the rollout's
change counter (:func:`next_change`; a finish bumps it first thing, even for a late report that
leaves the status alone), so a coordinator can read only what changed, and a change counted ``n``
is committed before any change counted ``n + 1``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BindParameter,
    Connection,
    bindparam,
    case,
    func,
    insert,
    or_,
    select,
    tuple_,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from fleet.errors import OperationError
from fleet.journal import queries
from fleet.journal.db import UTCDateTime
from fleet.journal.fast import Prebuilt
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


# The statements of a claim, a finish and a heartbeat are built once, with bound parameters, and
# run on the driver's connection (:class:`~fleet.journal.fast.Prebuilt`): every stack costs a
# claim and a finish under the journal's write lock, and building, caching and executing a
# statement through SQLAlchemy cost several times more than SQLite took to run it. Parameter names carry
# a ``k_`` (key) or ``v_`` (value) prefix: a bound parameter named like a column is reserved in
# UPDATE and INSERT statements.
_R: BindParameter[str] = bindparam("k_rollout_id")
_S: BindParameter[str] = bindparam("k_stack")
_N: BindParameter[int] = bindparam("k_number")
_STACK = (stacks.c.rollout_id == _R) & (stacks.c.stack == _S)
_MINE = (attempts.c.rollout_id == _R) & (attempts.c.stack == _S)

_BUMP = update(rollouts).where(rollouts.c.id == _R).values(change_seq=rollouts.c.change_seq + 1)
_BUMP_CHANGE = Prebuilt(_BUMP.returning(rollouts.c.change_seq))
_BUMP_FOR_FINISH = Prebuilt(
    _BUMP.returning(rollouts.c.change_seq, rollouts.c.id, rollouts.c.seq, rollouts.c.dry_run, rollouts.c.kind)
)
"""A finish's first statement: it locks the rollout's row, counts the change and reads what
the finish needs of the rollout, in one round trip."""
_SET_STATUS = Prebuilt(
    update(stacks)
    .where(_STACK)
    .values(
        status=bindparam("v_status"),
        updated_at=bindparam("v_now", type_=UTCDateTime),
        change_seq=bindparam("v_seq"),
    )
)
_STACK_LOCK = Prebuilt(select(stack_locks.c.rollout_id).where(stack_locks.c.stack == _S).with_for_update())
_STACK_STATE = Prebuilt(select(stacks.c.status).where(_STACK).with_for_update())
_RUNNING_AND_FAILED = Prebuilt(
    select(stacks.c.status, func.count())
    .where(
        (stacks.c.rollout_id == _R)
        & ((stacks.c.status == StackStatus.RUNNING.value) | (stacks.c.status == StackStatus.FAILED.value))
    )
    .group_by(stacks.c.status)
)
# What a claim reads of the attempts: never their JSON (versions, summary).
_CLAIM_COLUMNS = (
    attempts.c.rollout_id,
    attempts.c.number,
    attempts.c.worker,
    attempts.c.heartbeat_at,
    attempts.c.outcome,
)
_MY_ATTEMPTS = select(*_CLAIM_COLUMNS).where(_MINE)
_OPEN_ELSEWHERE = select(*_CLAIM_COLUMNS).where(
    (attempts.c.stack == _S) & (attempts.c.rollout_id != _R) & attempts.c.outcome.is_(None)
)
_CLAIM_ATTEMPTS = Prebuilt(union_all(_MY_ATTEMPTS, _OPEN_ELSEWHERE))
"""One round trip for both: each part reads its own index (the primary key; the open attempts)."""
_INSERT_ATTEMPT = Prebuilt(
    insert(attempts).values(
        rollout_id=_R,
        stack=_S,
        number=_N,
        worker=bindparam("v_worker"),
        started_at=bindparam("v_now", type_=UTCDateTime),
        heartbeat_at=bindparam("v_now", type_=UTCDateTime),
    )
)
_MY_OUTCOMES = Prebuilt(select(attempts.c.number, attempts.c.outcome).where(_MINE))
_FINISH_ATTEMPT = Prebuilt(
    update(attempts)
    .where(_MINE & (attempts.c.number == _N))
    .values(
        outcome=bindparam("v_outcome"),
        finished_at=bindparam("v_now", type_=UTCDateTime),
        error=bindparam("v_error"),
        versions=bindparam("v_versions", type_=JSON),
        summary=bindparam("v_summary", type_=JSON),
    )
)
_INSERT_OUTPUT = Prebuilt(
    insert(attempt_outputs).values(
        rollout_id=_R, stack=_S, number=_N, output=bindparam("v_output"), truncated=bindparam("v_truncated")
    )
)
_HEARTBEAT = Prebuilt(
    update(attempts)
    .where(_MINE & (attempts.c.number == _N) & attempts.c.outcome.is_(None))
    .values(heartbeat_at=bindparam("v_now", type_=UTCDateTime))
)


def _track_deploy_statements() -> dict[tuple[str, bool], Prebuilt]:
    """One upsert per dialect and kind (a claim; a success), keeping a stack's ``stack_deploys``
    row current in one statement: the claimed or succeeded attempt becomes the newest one when
    its (rollout seq, number) is newer than the recorded one, and, for a success, the deployed
    one unless a newer deploy is recorded."""
    built: dict[tuple[str, bool], Any] = {}
    for name, dialect in (("sqlite", sqlite), ("postgresql", postgresql)):
        for succeeded in (False, True):
            row = {
                "stack": _S,
                "latest_rollout_id": _R,
                "latest_seq": bindparam("v_seq"),
                "latest_number": _N,
            }
            if succeeded:
                row |= {"deployed_rollout_id": _R, "deployed_seq": bindparam("v_seq"), "deployed_number": _N}
            upsert = dialect.insert(stack_deploys).values(row)
            new, old = upsert.excluded, stack_deploys.c
            newer = or_(
                old.latest_seq.is_(None),
                tuple_(old.latest_seq, old.latest_number) < tuple_(new.latest_seq, new.latest_number),
            )
            changes = {
                column: case((newer, new[column]), else_=old[column])
                for column in ("latest_rollout_id", "latest_seq", "latest_number")
            }
            if succeeded:
                newest = or_(
                    old.deployed_seq.is_(None),
                    tuple_(old.deployed_seq, old.deployed_number)
                    <= tuple_(new.deployed_seq, new.deployed_number),
                )
                changes |= {
                    column: case((newest, new[column]), else_=old[column])
                    for column in ("deployed_rollout_id", "deployed_seq", "deployed_number")
                }
            built[name, succeeded] = Prebuilt(
                upsert.on_conflict_do_update(index_elements=["stack"], set_=changes)
            )
    return built


_TRACK_DEPLOY = _track_deploy_statements()

_ROLLOUT_FOR_CLAIM = Prebuilt(
    select(
        rollouts.c.id,
        rollouts.c.seq,
        rollouts.c.status,
        rollouts.c.cancel_requested,
        rollouts.c.dry_run,
        rollouts.c.kind,
        rollouts.c.policy,
    )
    .where(rollouts.c.id == _R)
    .with_for_update()
)
"""What a claim reads of the rollout (not its version set), locking the row."""


def next_change(conn: Connection, rollout_id: str) -> int:
    """Bump the rollout's change counter (locking its row until the commit); the new value."""
    [row] = _BUMP_CHANGE.rows(conn, {"k_rollout_id": rollout_id})
    return int(row.change_seq)


def set_stack_status(
    conn: Connection, rollout_id: str, stack: str, status: StackStatus, now: datetime
) -> None:
    seq = next_change(conn, rollout_id)
    _SET_STATUS.rowcount(
        conn,
        {"k_rollout_id": rollout_id, "k_stack": stack, "v_status": status.value, "v_now": now, "v_seq": seq},
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
    key = {"k_rollout_id": rollout_id, "k_stack": stack}
    rollout = _one_or_none(_ROLLOUT_FOR_CLAIM.rows(conn, key))
    if rollout is None:
        raise queries.RolloutNotFound(rollout_id)
    lock = _one_or_none(_STACK_LOCK.rows(conn, key))
    state = _one_or_none(_STACK_STATE.rows(conn, key))
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

    # This stack's attempts in this rollout, newest first (a few at most: the open one and the
    # last number), and the open attempts of other rollouts.
    found = _CLAIM_ATTEMPTS.rows(conn, key)
    mine = sorted((row for row in found if row.rollout_id == rollout_id), key=lambda row: -row.number)
    others = [row for row in found if row.rollout_id != rollout_id]
    running: Any = next((row for row in mine if row.outcome is None), None)
    if running is not None and running.heartbeat_at >= stale_before and not previous_worker_lost:
        return Claim(ClaimResult.BUSY, rollout_id, stack, worker, running.number, running.worker)
    # A stack is never run by two rollouts at once, whatever died: an attempt of another rollout
    # (its coordinator killed, its worker still running) keeps the stack until it ends or goes silent.
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
            .where(
                (attempts.c.rollout_id == stale.rollout_id)
                & (attempts.c.stack == stack)
                & (attempts.c.number == stale.number)
            )
            .values(
                outcome=Outcome.LOST.value,
                finished_at=now,
                error=one_line(f"worker {stale.worker} {why}; {taker} took over"),
            )
        )
        recovered_from = stale.worker

    number = (mine[0].number if mine else 0) + 1
    _INSERT_ATTEMPT.rowcount(conn, {**key, "k_number": number, "v_worker": worker, "v_now": now})
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
    key = {"k_rollout_id": rollout_id, "k_stack": stack, "k_number": attempt}
    # The change is counted up front (a late report of a taken-over attempt, which leaves the
    # stack's status alone, counts one too: a look then finds nothing new, which costs nothing).
    rollout = _one_or_none(_BUMP_FOR_FINISH.rows(conn, key))
    if rollout is None:
        raise queries.RolloutNotFound(rollout_id)
    if conn.dialect.name == "postgresql":  # the lock order; SQLite's write lock is held already
        _STACK_STATE.rows(conn, key)
    # Every attempt of the stack in this rollout (a few at most): this one's outcome, the newest number.
    numbers: dict[int, str | None] = {row.number: row.outcome for row in _MY_OUTCOMES.rows(conn, key)}
    if attempt not in numbers:
        raise OperationError(f"no attempt {attempt} of stack {stack!r} in rollout {rollout_id}")
    if numbers[attempt] not in (None, Outcome.LOST.value):
        raise OperationError(f"attempt {attempt} of stack {stack!r} already {numbers[attempt]}")
    _FINISH_ATTEMPT.rowcount(
        conn,
        {
            **key,
            "v_outcome": outcome.value,
            "v_now": now,
            "v_error": error,
            "v_versions": versions,
            "v_summary": summary,
        },
    )
    if output is not None:
        _INSERT_OUTPUT.rowcount(conn, {**key, "v_output": output, "v_truncated": truncated})
    # A late report from a taken-over attempt is kept on its row; the stack follows the newest attempt.
    if max(numbers) == attempt:
        status = {"v_status": outcome.value, "v_now": now, "v_seq": rollout.change_seq}
        _SET_STATUS.rowcount(conn, {"k_rollout_id": rollout_id, "k_stack": stack, **status})
    if outcome is Outcome.SUCCEEDED:
        track_deploy(conn, rollout, stack, attempt, succeeded=True)


def track_deploy(conn: Connection, rollout: Any, stack: str, number: int, *, succeeded: bool) -> None:
    """Keep ``stack_deploys`` current: attempt ``number`` of ``stack`` in ``rollout`` (its row)
    was just claimed (the newest attempt) or, ``succeeded``, finished well (the newest deploy,
    unless a newer one already is). Dry runs and drift checks deploy nothing."""
    if rollout.dry_run or rollout.kind == RolloutKind.DRIFT.value:
        return
    params = {"k_rollout_id": rollout.id, "k_stack": stack, "k_number": number, "v_seq": int(rollout.seq)}
    _TRACK_DEPLOY[conn.dialect.name, succeeded].rowcount(conn, params)


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
    params = {"k_rollout_id": rollout_id, "k_stack": stack, "k_number": attempt, "v_now": now}
    return _HEARTBEAT.rowcount(conn, params) == 1


def _over_limits(conn: Connection, rollout: Any) -> ClaimResult | None:
    """FULL when ``max_parallel`` of the rollout's stacks run, OVER_BUDGET when more failed than
    ``failure_budget`` allows (its policy; a policy without them, e.g. a drift check's, has no
    limit). One count over the ``(rollout_id, status)`` index: the cost of a claim stays flat."""
    policy = rollout.policy or {}
    limit, budget = policy.get("max_parallel"), policy.get("failure_budget")
    if limit is None and budget is None:
        return None
    rows = _RUNNING_AND_FAILED.rows(conn, {"k_rollout_id": rollout.id})
    counted = {status: int(count) for status, count in rows}
    if budget is not None and counted.get(StackStatus.FAILED.value, 0) > int(budget):
        return ClaimResult.OVER_BUDGET
    if limit is not None and counted.get(StackStatus.RUNNING.value, 0) >= int(limit):
        return ClaimResult.FULL
    return None


def _one_or_none(rows: list[Any]) -> Any:
    if len(rows) > 1:
        raise OperationError(f"expected one row at most, got {len(rows)}")
    return rows[0] if rows else None


def _refusal(rollout: Any, stack_status: StackStatus) -> ClaimResult | None:
    if stack_status is StackStatus.SUCCEEDED:
        return ClaimResult.ALREADY_SUCCEEDED
    if rollout.cancel_requested:
        return ClaimResult.CANCELLED
    if rollout.status != RolloutStatus.RUNNING.value:
        return ClaimResult.NOT_RUNNING
    return None
