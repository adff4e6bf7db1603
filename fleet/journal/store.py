"""The rollout journal: the durable record, and the source of truth, of every rollout.

Every method that changes state is one committed transaction, so a process killed at any moment
(CLI, coordinator, worker) loses nothing that it reported. Methods return frozen records, never
ORM objects; several processes, on several machines with PostgreSQL, may use one journal at once.
"""

from __future__ import annotations

import dataclasses
import getpass
import hashlib
import json
import os
import secrets
import socket
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Protocol

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError

from fleet.errors import OperationError, UserError
from fleet.journal import attempts as attempt_rows
from fleet.journal import queries
from fleet.journal.attempts import json_data, one_line
from fleet.journal.db import Clock, Database, utc_now
from fleet.journal.migrations import migrate
from fleet.journal.records import (
    AttemptOutput,
    Claim,
    Outcome,
    RenderRecord,
    Rollout,
    RolloutDetail,
    RolloutKind,
    RolloutStatus,
    RolloutSummary,
    StackChanges,
    StackDeployment,
    StackDryRun,
    StackState,
    StackStatus,
    WaveRecord,
    WaveStatus,
)
from fleet.journal.schema import ALL_TABLES, renders, rollouts, stacks, waves


class PlannedWave(Protocol):
    """A wave as the planner hands it over (:class:`fleet.rollout.waves.Wave` is one)."""

    @property
    def index(self) -> int: ...

    @property
    def name(self) -> str: ...

    @property
    def stacks(self) -> tuple[str, ...]: ...


DEFAULT_HEARTBEAT_TTL = timedelta(minutes=5)
"""A running attempt whose worker has not heart-beaten for this long is presumed lost."""

_S = RolloutStatus
_ALLOWED: dict[RolloutStatus, frozenset[RolloutStatus]] = {
    _S.PENDING: frozenset({_S.RUNNING, _S.CANCELLING, _S.CANCELLED, _S.FAILED}),
    _S.RUNNING: frozenset({_S.PAUSED, _S.HALTED, _S.CANCELLING, _S.CANCELLED, _S.SUCCEEDED, _S.FAILED}),
    _S.PAUSED: frozenset({_S.RUNNING, _S.HALTED, _S.CANCELLING, _S.CANCELLED}),
    _S.HALTED: frozenset({_S.RUNNING, _S.CANCELLED}),
    _S.CANCELLING: frozenset({_S.CANCELLED}),
    _S.FAILED: frozenset({_S.RUNNING}),
    _S.CANCELLED: frozenset(),
    _S.SUCCEEDED: frozenset(),
}
_FINISHED_WAVE = {WaveStatus.SUCCEEDED, WaveStatus.FAILED, WaveStatus.SKIPPED, WaveStatus.CANCELLED}
_SETTABLE_STACK = {StackStatus.SKIPPED, StackStatus.CANCELLED}
_REOPENABLE_STACK = {StackStatus.FAILED, StackStatus.SKIPPED, StackStatus.CANCELLED}


def current_actor() -> str:
    """``user@host`` of this process, for "who started it"."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no login name and no passwd entry (some containers)
        user = f"uid{os.getuid()}"
    return f"{user}@{socket.gethostname()}"


def new_rollout_id(now: datetime) -> str:
    """A short id users can type: ``r-20261122-0312-ab12`` (UTC date and time, random suffix)."""
    return f"r-{now:%Y%m%d-%H%M}-{secrets.token_hex(2)}"


class Journal:
    """The rollout journal at ``url`` (``sqlite:///...`` or ``postgresql+psycopg://...``).

    Creates its tables when missing. Close it (or use it as a context manager) to release the
    database connections. ``heartbeat_ttl`` is how long a running attempt may go without a
    heartbeat before another worker may take the stack over; ``clock`` is for tests.

    The life of a rollout, as a coordinator drives it::

        rollout = journal.create_rollout(waves, kind="rollout", dry_run=False, policy=..., versions=...)
        journal.set_status(rollout.id, "running")
        journal.mark_wave(rollout.id, 0, "running")
        # in a worker, per stack:
        claim = journal.claim(rollout.id, "eu-prod", worker="host:1234")
        if claim.granted:
            ...  # run it, calling journal.heartbeat_attempt(...) every ~30 s
            journal.finish(rollout.id, "eu-prod", claim.attempt, "succeeded", versions=..., summary=...)
        journal.mark_wave(rollout.id, 0, "succeeded")
        journal.set_status(rollout.id, "succeeded")
    """

    def __init__(
        self, url: str, *, heartbeat_ttl: timedelta = DEFAULT_HEARTBEAT_TTL, clock: Clock = utc_now
    ) -> None:
        self.database = Database(url, clock=clock)
        self.heartbeat_ttl = heartbeat_ttl
        try:
            self.database.create_schema(ALL_TABLES, lambda conn, fresh: migrate(conn, fresh=fresh))
        except BaseException:
            self.database.close()
            raise

    def __repr__(self) -> str:
        return f"Journal({self.database.safe_url!r})"

    def close(self) -> None:
        """Release every database connection."""
        self.database.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    # -- rollouts ------------------------------------------------------------------------------

    def create_rollout(
        self,
        waves_plan: Sequence[PlannedWave],
        *,
        kind: RolloutKind | str,
        dry_run: bool,
        policy: Mapping[str, Any],
        versions: Mapping[str, Any],
        started_by: str | None = None,
        rollout_id: str | None = None,
    ) -> Rollout:
        """Record a new ``pending`` rollout with its waves and stacks (all ``pending``).

        ``policy`` and ``versions`` must be JSON data. Every stack may appear in one wave only.
        A fresh id is generated unless ``rollout_id`` is given (OperationError if it exists).
        """
        kind = RolloutKind(kind)
        names = [stack for wave in waves_plan for stack in wave.stacks]
        if len(names) != len(set(names)):
            raise ValueError(f"a stack appears in more than one wave: {sorted(names)}")
        for attempt in range(8):
            now = self.database.clock()
            candidate = rollout_id or new_rollout_id(now)
            try:
                with self.database.write() as conn:
                    conn.execute(
                        insert(rollouts).values(
                            id=candidate,
                            kind=kind.value,
                            dry_run=dry_run,
                            status=RolloutStatus.PENDING.value,
                            started_by=started_by or current_actor(),
                            created_at=now,
                            policy=json_data(policy, "policy"),
                            versions=json_data(versions, "versions"),
                            cancel_requested=False,
                        )
                    )
                    self._insert_plan(conn, candidate, waves_plan, now)
                    if dry_run and kind is not RolloutKind.DRIFT:
                        attempt_rows.track_dry_run(conn, candidate, names)
                    return queries.to_rollout(queries.rollout_row(conn, candidate))
            except IntegrityError:
                if rollout_id is not None or attempt == 7:
                    raise OperationError(f"rollout id {candidate!r} is already in the journal") from None
        raise AssertionError("unreachable")

    def _insert_plan(
        self, conn: Any, rollout_id: str, waves_plan: Sequence[PlannedWave], now: datetime
    ) -> None:
        wave_rows = [
            {
                "rollout_id": rollout_id,
                "wave_index": wave.index,
                "name": wave.name,
                "stacks": list(wave.stacks),
                "status": WaveStatus.PENDING.value,
            }
            for wave in waves_plan
        ]
        stack_rows = [
            {
                "rollout_id": rollout_id,
                "stack": stack,
                "wave_index": wave.index,
                "position": position,
                "status": StackStatus.PENDING.value,
                "updated_at": now,
            }
            for wave in waves_plan
            for position, stack in enumerate(wave.stacks)
        ]
        if wave_rows:
            conn.execute(insert(waves), wave_rows)
        if stack_rows:
            conn.execute(insert(stacks), stack_rows)

    def rollout(self, rollout_id: str) -> Rollout:
        """The rollout record alone; RolloutNotFound (a UserError) when there is none."""
        with self.database.read() as conn:
            return queries.to_rollout(queries.rollout_row(conn, rollout_id))

    def get_rollout(self, rollout_id: str) -> RolloutDetail:
        """The rollout with its waves and every stack's state and attempts (watch, resume)."""
        with self.database.read() as conn:
            rollout = queries.to_rollout(queries.rollout_row(conn, rollout_id))
            wave_list = tuple(queries.wave_records(conn, [rollout_id])[rollout_id])
            states = tuple(queries.stack_states(conn, rollout_id))
        return RolloutDetail(rollout, wave_list, queries.total_counts(wave_list), states)

    def waves(self, rollout_id: str) -> list[WaveRecord]:
        """The rollout's waves with their stack counts, without the stacks' attempts."""
        with self.database.read() as conn:
            queries.rollout_row(conn, rollout_id)
            return queries.wave_records(conn, [rollout_id])[rollout_id]

    def stack_changes(self, rollout_id: str, since: int | None = None) -> StackChanges:
        """The rollout and the statuses of its stacks that changed after change ``since`` (all of
        them when None): a coordinator's cheap look, whatever the rollout's size. Pass the
        returned ``seq`` as ``since`` next time."""
        with self.database.read() as conn:
            return queries.stack_changes(conn, rollout_id, since)

    def stack_states(self, rollout_id: str, names: Sequence[str]) -> list[StackState]:
        """The states (with attempts) of some of the rollout's stacks, in wave order."""
        with self.database.read() as conn:
            return queries.stack_states(conn, rollout_id, names)

    def list_rollouts(
        self, *, limit: int = 20, kind: RolloutKind | str | None = None
    ) -> list[RolloutSummary]:
        """Rollouts newest first, with per-wave results and stack counts (``fleet history``)."""
        query = select(rollouts).order_by(rollouts.c.seq.desc()).limit(limit)
        if kind is not None:
            query = query.where(rollouts.c.kind == RolloutKind(kind).value)
        with self.database.read() as conn:
            found = [queries.to_rollout(row) for row in conn.execute(query)]
            wave_lists = queries.wave_records(conn, [rollout.id for rollout in found])
        result = []
        for rollout in found:
            wave_list = tuple(wave_lists[rollout.id])
            result.append(RolloutSummary(rollout, wave_list, queries.total_counts(wave_list)))
        return result

    def set_status(
        self, rollout_id: str, status: RolloutStatus | str, *, reason: str | None = None
    ) -> Rollout:
        """Move the rollout to ``status``; ``reason`` is recorded as the halt reason.

        ``running`` stamps ``started_at`` the first time and clears a previous halt (resume);
        ``halted``, ``cancelled``, ``succeeded`` and ``failed`` stamp ``finished_at``;
        ``cancelled`` also marks the stacks still pending as cancelled. Setting the current
        status again is allowed; an impossible move (e.g. out of ``succeeded``) is an
        OperationError.
        """
        status = RolloutStatus(status)
        now = self.database.clock()
        with self.database.write() as conn:
            row = queries.rollout_row(conn, rollout_id, lock="update")
            current = RolloutStatus(row.status)
            if status is not current and status not in _ALLOWED[current]:
                raise OperationError(f"rollout {rollout_id} is {current}; it cannot become {status}")
            changes: dict[str, Any] = {"status": status.value}
            if status is RolloutStatus.RUNNING:
                changes.update(finished_at=None, halt_reason=None)
                if row.started_at is None:
                    changes["started_at"] = now
            if status.finished and status is not current:
                changes["finished_at"] = now
            if reason is not None:
                changes["halt_reason"] = one_line(reason)
            conn.execute(update(rollouts).where(rollouts.c.id == rollout_id).values(**changes))
            if status is RolloutStatus.CANCELLED:
                self._mark_pending(conn, rollout_id, StackStatus.CANCELLED, now)
            return queries.to_rollout(queries.rollout_row(conn, rollout_id))

    def request_cancel(self, rollout_id: str) -> Rollout:
        """Ask for the rollout to stop (``fleet rollout cancel``), from any process.

        A running or paused rollout becomes ``cancelling`` and its coordinator finishes the job;
        a pending or halted one, which has no coordinator, becomes ``cancelled`` at once. New
        claims are refused from now on. OperationError if the rollout already finished.
        """
        now = self.database.clock()
        with self.database.write() as conn:
            row = queries.rollout_row(conn, rollout_id, lock="update")
            current = RolloutStatus(row.status)
            if current in (RolloutStatus.SUCCEEDED, RolloutStatus.FAILED, RolloutStatus.CANCELLED):
                raise OperationError(f"rollout {rollout_id} already finished ({current}); nothing to cancel")
            unattended = current in (RolloutStatus.PENDING, RolloutStatus.HALTED)
            target = RolloutStatus.CANCELLED if unattended else RolloutStatus.CANCELLING
            changes: dict[str, Any] = {"cancel_requested": True, "status": target.value}
            if unattended:
                changes["finished_at"] = now
                self._mark_pending(conn, rollout_id, StackStatus.CANCELLED, now)
            conn.execute(update(rollouts).where(rollouts.c.id == rollout_id).values(**changes))
            return queries.to_rollout(queries.rollout_row(conn, rollout_id))

    def interrupt(self, rollout_id: str, why: str) -> Rollout:
        """Record that nobody drives this rollout any more (its coordinator died), ``why`` saying how.

        A ``running`` rollout becomes ``halted`` with the reason ``interrupted: <why>`` (resume
        continues it); a ``cancelling`` one becomes ``cancelled``: the cancel it was asked for is
        complete, its running stacks finish on their own. Any other status is left as it is.
        """
        now = self.database.clock()
        with self.database.write() as conn:
            row = queries.rollout_row(conn, rollout_id, lock="update")
            current = RolloutStatus(row.status)
            changes: dict[str, Any] = {}
            if current is RolloutStatus.RUNNING:
                reason = f"interrupted: {why}; resume it with `fleet rollout resume {rollout_id}`"
                changes = {"status": RolloutStatus.HALTED.value, "halt_reason": one_line(reason)}
            elif current is RolloutStatus.CANCELLING:
                changes = {"status": RolloutStatus.CANCELLED.value}
                self._mark_pending(conn, rollout_id, StackStatus.CANCELLED, now)
            if changes:
                changes["finished_at"] = now
                conn.execute(update(rollouts).where(rollouts.c.id == rollout_id).values(**changes))
            return queries.to_rollout(queries.rollout_row(conn, rollout_id))

    def cancel_requested(self, rollout_id: str) -> bool:
        """Whether someone asked for this rollout to stop (cheap: poll it between steps)."""
        return self.rollout(rollout_id).cancel_requested

    # -- waves ---------------------------------------------------------------------------------

    def mark_wave(self, rollout_id: str, index: int, status: WaveStatus | str) -> None:
        """Set a wave's status; ``running`` stamps its start, a final status its finish."""
        status = WaveStatus(status)
        now = self.database.clock()
        changes: dict[str, Any] = {"status": status.value}
        if status is WaveStatus.RUNNING:
            changes["started_at"] = func.coalesce(waves.c.started_at, now)
            changes["finished_at"] = None
        elif status in _FINISHED_WAVE:
            changes["finished_at"] = now
        self._update_wave(rollout_id, index, changes)

    def record_gate(self, rollout_id: str, index: int, *, passed: bool, reason: str) -> None:
        """Record the health gate's verdict after wave ``index``."""
        self._update_wave(rollout_id, index, {"gate_passed": passed, "gate_reason": one_line(reason)})

    def _update_wave(self, rollout_id: str, index: int, changes: dict[str, Any]) -> None:
        with self.database.write() as conn:
            queries.rollout_row(conn, rollout_id)
            done = conn.execute(
                update(waves)
                .where((waves.c.rollout_id == rollout_id) & (waves.c.wave_index == index))
                .values(**changes)
            )
            if done.rowcount != 1:
                raise OperationError(f"rollout {rollout_id} has no wave {index}")

    # -- stacks and attempts -------------------------------------------------------------------

    def claim(self, rollout_id: str, stack: str, worker: str, *, previous_worker_lost: bool = False) -> Claim:
        """Atomically decide whether ``worker`` may run ``stack`` now, and if so record an attempt.

        Refused when the stack already succeeded in this rollout (exactly-once success), when a
        cancel was requested, when the rollout is not ``running``, when starting it would break
        the rollout's policy (``max_parallel`` stacks running: ``full``; more failed than the
        ``failure_budget``: ``over_budget``), or when another attempt is
        running and its worker heart-beat within ``heartbeat_ttl``. That running attempt is taken
        over (closed as ``lost``) only when its heartbeat is stale or ``previous_worker_lost`` says
        the caller knows its worker died (e.g. Celery redelivered the task after a worker loss).
        """
        now = self.database.clock()
        with self.database.write() as conn:
            return attempt_rows.claim(
                conn,
                rollout_id,
                stack,
                worker,
                now=now,
                stale_before=now - self.heartbeat_ttl,
                previous_worker_lost=previous_worker_lost,
            )

    def heartbeat_attempt(self, rollout_id: str, stack: str, attempt: int) -> bool:
        """Refresh a running attempt's heartbeat; False if it was taken over or has finished."""
        with self.database.write() as conn:
            return attempt_rows.heartbeat(conn, rollout_id, stack, attempt, self.database.clock())

    def finish(
        self,
        rollout_id: str,
        stack: str,
        attempt: int,
        outcome: Outcome | str,
        *,
        error: str | None = None,
        versions: Mapping[str, Any] | None = None,
        summary: Mapping[str, Any] | None = None,
        output: str | None = None,
        truncated: int = 0,
    ) -> None:
        """Record how an attempt ended, and set the stack's status when it is the latest attempt.

        ``error`` is stored on one line (never put secrets in it); ``versions`` is the version set
        applied, ``summary`` a small JSON result (e.g. resource change counts), ``output`` the
        engine's output (already scrubbed and capped; ``truncated`` characters of it were left
        out), kept beside the attempt for ``fleet logs``. An attempt that
        was taken over as ``lost`` still gets its real outcome recorded. OperationError when the
        attempt does not exist or already has an outcome. It returns nothing: every worker
        finishes through here, and reading the stack back would hold the write lock longer.
        """
        # Everything that can be computed is, before the write lock is taken.
        versions_data = None if versions is None else json_data(versions, "versions")
        summary_data = None if summary is None else json_data(summary, "summary")
        error_line = None if error is None else one_line(error)
        with self.database.write() as conn:
            attempt_rows.finish(
                conn,
                rollout_id,
                stack,
                attempt,
                Outcome(outcome),
                now=self.database.clock(),
                error=error_line,
                versions=versions_data,
                summary=summary_data,
                output=output,
                truncated=truncated,
            )

    def attempt_outputs(self, rollout_id: str, stack: str) -> list[AttemptOutput]:
        """Every attempt of ``stack`` in the rollout with its engine output (``fleet logs``).

        RolloutNotFound for an unknown rollout; UserError when the stack is not part of it.
        """
        with self.database.read() as conn:
            queries.rollout_row(conn, rollout_id)
            if not queries.stack_states(conn, rollout_id, [stack]):
                raise UserError(f"stack {stack!r} is not part of rollout {rollout_id}")
            return queries.attempt_outputs_of(conn, rollout_id, stack)

    def mark_stacks(
        self, rollout_id: str, names: Sequence[str], status: StackStatus | str
    ) -> tuple[str, ...]:
        """Mark ``pending`` stacks ``skipped`` or ``cancelled`` (they will not run in this rollout).

        Returns the stacks that changed, in the given order. Running and finished stacks
        (succeeded, failed, skipped, cancelled) are never touched: the journal keeps what really
        happened. To run stacks again on resume, use :meth:`reopen_stacks`.
        """
        status = StackStatus(status)
        if status not in _SETTABLE_STACK:
            raise ValueError(f"mark_stacks() sets skipped or cancelled, not {status}")
        return self._move_stacks(rollout_id, names, {StackStatus.PENDING}, status)

    def reopen_stacks(self, rollout_id: str) -> tuple[str, ...]:
        """Make the stacks that failed, were skipped or were cancelled ``pending`` again (resume).

        Succeeded stacks are never run again and running ones are left to their workers. Returns
        the reopened stacks in wave order.
        """
        return self._move_stacks(rollout_id, None, _REOPENABLE_STACK, StackStatus.PENDING)

    def _move_stacks(
        self,
        rollout_id: str,
        names: Sequence[str] | None,
        from_statuses: set[StackStatus],
        status: StackStatus,
    ) -> tuple[str, ...]:
        now = self.database.clock()
        with self.database.write() as conn:
            queries.rollout_row(conn, rollout_id)
            movable = (stacks.c.rollout_id == rollout_id) & stacks.c.status.in_(
                [s.value for s in from_statuses]
            )
            if names is not None:
                movable &= stacks.c.stack.in_(list(names))
            query = select(stacks.c.stack).where(movable).order_by(stacks.c.wave_index, stacks.c.position)
            changed = list(conn.execute(query).scalars())
            if changed:
                seq = attempt_rows.next_change(conn, rollout_id)
                conn.execute(
                    update(stacks).where(movable).values(status=status.value, updated_at=now, change_seq=seq)
                )
        if names is None:
            return tuple(changed)
        return tuple(name for name in dict.fromkeys(names) if name in changed)

    def remaining_stacks(self, rollout_id: str) -> list[str]:
        """The stacks of a rollout that have not succeeded, in wave order (what resume runs)."""
        with self.database.read() as conn:
            queries.rollout_row(conn, rollout_id)
            query = (
                select(stacks.c.stack)
                .where((stacks.c.rollout_id == rollout_id) & (stacks.c.status != StackStatus.SUCCEEDED.value))
                .order_by(stacks.c.wave_index, stacks.c.position)
            )
            return list(conn.execute(query).scalars())

    def _mark_pending(self, conn: Any, rollout_id: str, status: StackStatus, now: datetime) -> None:
        seq = attempt_rows.next_change(conn, rollout_id)
        conn.execute(
            update(stacks)
            .where((stacks.c.rollout_id == rollout_id) & (stacks.c.status == StackStatus.PENDING.value))
            .values(status=status.value, updated_at=now, change_seq=seq)
        )

    # -- fleet-wide views ----------------------------------------------------------------------

    def stack_status(self, names: Sequence[str] | None = None) -> list[StackDeployment]:
        """Per stack (sorted by name; all stacks ever attempted, or ``names``): ``fleet status``.

        Only real rollouts count: a dry run never makes a stack look deployed.
        """
        with self.database.read() as conn:
            return queries.deployments(conn, None if names is None else list(names))

    def last_dry_runs(self, names: Sequence[str] | None = None) -> list[StackDryRun]:
        """Per stack (sorted by name; all, or ``names``), its state in the newest dry-run rollout
        that included it: what ``fleet status`` shows next to the deploys, never as one."""
        with self.database.read() as conn:
            return queries.last_dry_runs(conn, None if names is None else list(names))

    def deployed_versions(self) -> dict[str, Mapping[str, Any]]:
        """Per stack, the version set of its last successful real deploy (for upgrade skew)."""
        with self.database.read() as conn:
            return queries.deployed_versions(conn)

    def deployed_fingerprints(self, names: Sequence[str] | None = None) -> dict[str, Mapping[str, str]]:
        """Per stack (all, or ``names``) that has one, the desired-state fingerprint of its last
        successful real deploy (:mod:`fleet.rollout.fingerprint`); a stack deployed before
        fingerprints were recorded maps to an empty one."""
        with self.database.read() as conn:
            found = queries.deployed_summaries(conn, None if names is None else list(names))
        return {stack: dict(summary.get("fingerprint") or {}) for stack, summary in found.items()}

    def destroyed_stacks(self) -> set[str]:
        """Stacks whose last successful real attempt destroyed them: offboarded workloads."""
        with self.database.read() as conn:
            return queries.destroyed_stacks(conn)

    # -- renders (drift in dry-run mode) -------------------------------------------------------

    def record_render(
        self, stack: str, plan: Mapping[str, Any] | str, rollout_id: str | None = None
    ) -> RenderRecord:
        """Store ``stack``'s render plan (JSON data or JSON text), replacing the previous one.

        The plan must already be redacted: the journal stores what it is given. Compare
        :meth:`last_render` (before recording) with the returned hash to detect drift.
        """
        data = json.loads(plan) if isinstance(plan, str) else plan
        text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        record = RenderRecord(
            stack=stack,
            plan_hash=hashlib.sha256(text.encode()).hexdigest(),
            plan=text,
            rollout_id=rollout_id,
            recorded_at=self.database.clock(),
        )
        with self.database.write() as conn:
            self.database.upsert(conn, renders, dataclasses.asdict(record), ["stack"])
        return record

    def last_render(self, stack: str) -> RenderRecord | None:
        """The last recorded render plan of ``stack``, or None."""
        with self.database.read() as conn:
            return queries.render_record(conn, stack)
