"""The rollout coordinator: drives a recorded rollout wave by wave through an executor.

The journal is the source of truth for every stack; executor events only say "look now". So a
job whose message or result got lost (a Redis restart without persistence, a killed worker) is
noticed in the journal, pending too long or running without a heartbeat, and submitted again;
that is safe because a task claims its stack first and a succeeded stack is never run twice.

Per wave: at most ``max_parallel`` stacks running. The coordinator keeps as many more jobs
queued behind them (a look-ahead), so a worker that finishes a stack takes the next one straight
from the queue instead of waiting for a round trip through the coordinator; the journal's claim
is what holds the limit (a claim beyond ``max_parallel`` running, or past the failure budget, is
refused and the job goes back to the coordinator's queue). More failures than ``failure_budget``
halts the rollout (running stacks finish, nothing new starts, the rest are ``skipped``); a
cancel request (``fleet rollout cancel``) stops it the same way with ``cancelled``. Between waves
the coordinator bakes for ``bake_time``, asks ``may_start_wave`` (maintenance windows) and,
after a wave, ``after_wave`` (health gates). A :class:`~fleet.journal.locks.LockKeeper` thread
renews its stack locks throughout, hooks included; the coordinator stops when they were taken
over, and releases its own at the end.

The coordinator never imports Celery: it only sees :class:`~fleet.executors.base.Executor`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from fleet import metrics
from fleet.errors import OperationError, UserError
from fleet.executors.base import Executor, ExecutorUnavailable
from fleet.executors.jobs import JobState, StackJob
from fleet.inventory.durations import parse_duration
from fleet.journal import (
    ClaimResult,
    Journal,
    Rollout,
    RolloutDetail,
    RolloutKind,
    RolloutStatus,
    StackChanges,
    StackState,
    StackStatus,
    WaveRecord,
    WaveStatus,
)
from fleet.journal.locks import LockKeeper, StackLocks
from fleet.kinds import Action, EngineKind
from fleet.rollout.plan import RolloutPlan

log = logging.getLogger(__name__)

WaveHook = Callable[[WaveRecord], "str | None"]
"""Called with a wave's record; returns None to go on, or a one-line reason to stop."""

CANARY_WAVE = "canary"

_DONE = {StackStatus.SUCCEEDED, StackStatus.FAILED, StackStatus.SKIPPED, StackStatus.CANCELLED}

_LIMITS = {ClaimResult.FULL.value, ClaimResult.OVER_BUDGET.value}
"""Claims refused for the rollout's policy (its slots are taken, its failure budget is spent)."""


@dataclass(frozen=True)
class Hooks:
    """Extension points of the wave loop (health gates, maintenance windows, progress)."""

    may_start_wave: WaveHook | None = None
    """Before a wave starts: a reason pauses the rollout (``resume`` continues it later)."""
    after_wave: WaveHook | None = None
    """After a wave finished without halting: a reason halts the rollout (e.g. a failed gate)."""
    on_update: Callable[[RolloutDetail], None] | None = None
    """Called with the journal's view of the rollout whenever the coordinator reads it."""


@dataclass(frozen=True)
class Timing:
    """How often the coordinator looks, and when it presumes a job lost."""

    tick: float = 0.02
    """Seconds between executor polls."""
    queued_tick: float = 0.1
    """Seconds between polls while the queue ahead of the workers is full and more jobs wait: a
    worker that finishes a stack takes the next from the queue, so the coordinator need not look
    as often (each look is a round trip to the results and, on news, to the journal)."""
    reconcile: float = 1.0
    """Seconds between journal reads when no event arrived."""
    lost_after: float = 300.0
    """A submitted job not claimed after this long is presumed lost and submitted again (the
    delay doubles with each resubmission of the same stack)."""
    lock_heartbeat: float = 60.0
    """Seconds between renewals of the stack locks (well within the lock TTL), from a thread."""

    @classmethod
    def for_ttl(cls, ttl_seconds: float, **changes: float) -> Timing:
        """Timings derived from the lock / attempt TTL."""
        return cls(lost_after=ttl_seconds, lock_heartbeat=ttl_seconds / 5, **changes)


@dataclass
class _InFlight:
    job: StackJob
    submitted_at: float
    resubmits: int = 0
    answered: bool = False
    """The executor reported this submission ended without running it (declined or error)."""
    waiting: bool = False
    """It was declined because another attempt runs the stack: retried at a steady pace."""


@dataclass
class _Run:
    """Mutable state of one coordinator run."""

    stop: RolloutStatus | None = None
    """HALTED or CANCELLING once the rollout must stop starting stacks."""
    reason: str | None = None
    inflight: dict[str, _InFlight] = field(default_factory=dict)
    lookahead: int = 0
    """Jobs queued beyond ``max_parallel`` in the current wave (0 once a claim said ``full``)."""
    refused: bool = False
    """A claim refused a job for the policy's limits since the last look."""
    refused_at: int | None = None
    """The journal's change count at the first look after such a refusal: nothing more is
    submitted until a stack's status changes after it (no loop of refused claims)."""
    submitted: dict[str, int] = field(default_factory=dict)
    """The last submission number of each job sent back to the queue: the next one counts on."""


@dataclass
class _Statuses:
    """The coordinator's copy of every stack's status, kept current from the journal's change
    counter: each look reads only the stacks that changed since the last one."""

    seq: int = 0
    status: dict[str, StackStatus] = field(default_factory=dict)
    order: dict[str, int] = field(default_factory=dict)
    failed: set[str] = field(default_factory=set)

    def apply(self, changes: StackChanges) -> None:
        self.seq = changes.seq
        for name, status in changes.statuses.items():
            self.status[name] = status
            self.order.setdefault(name, len(self.order))
            if status is StackStatus.FAILED:
                self.failed.add(name)
            else:
                self.failed.discard(name)


def start_rollout(
    journal: Journal,
    locks: StackLocks,
    plan: RolloutPlan,
    *,
    kind: RolloutKind = RolloutKind.ROLLOUT,
    started_by: str | None = None,
) -> Rollout:
    """Lock the plan's stacks, then record the rollout as running. Nothing is recorded on a conflict.

    ``kind`` is ``upgrade`` for version-set rollouts (they run with the upgrade hooks);
    ``started_by`` defaults to ``user@host`` of this process. Raises StacksLocked (a LockHeld)
    at once, naming the holder, when another live rollout holds any of the stacks.
    """
    rollout_id = _unused_id(journal)
    locks.acquire(plan.stacks, rollout_id)
    try:
        rollout = journal.create_rollout(
            plan.waves,
            kind=kind,
            dry_run=plan.dry_run,
            policy=plan.record(),
            versions=dict(plan.versions),
            started_by=started_by,
            rollout_id=rollout_id,
        )
        return journal.set_status(rollout.id, RolloutStatus.RUNNING)
    except BaseException:
        locks.release(rollout_id)
        raise


def prepare_resume(journal: Journal, locks: StackLocks, rollout_id: str) -> None:
    """Take the rollout's locks back (stale ones of a dead coordinator are recovered) and reopen it.

    Stacks that did not succeed (failed, skipped, cancelled by a halt) become pending again;
    succeeded stacks are never run again. UserError when the rollout already finished for good;
    StacksLocked when its coordinator is still alive.
    """
    changes = journal.stack_changes(rollout_id)  # every stack's status, not its attempts
    status = changes.rollout.status
    if status in (RolloutStatus.SUCCEEDED, RolloutStatus.CANCELLED):
        raise UserError(f"rollout {rollout_id} already finished ({status}); nothing to resume")
    locks.acquire(list(changes.statuses), rollout_id)
    if status is not RolloutStatus.CANCELLING:
        journal.reopen_stacks(rollout_id)
        journal.set_status(rollout_id, RolloutStatus.RUNNING)


class Coordinator:
    """Runs rollout ``rollout_id`` (already recorded and locked) to its end through ``executor``."""

    def __init__(
        self,
        journal: Journal,
        locks: StackLocks,
        executor: Executor,
        rollout_id: str,
        *,
        hooks: Hooks | None = None,
        timing: Timing | None = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.journal = journal
        self.locks = locks
        self.executor = executor
        self.rollout_id = rollout_id
        self.hooks = hooks or Hooks()
        self.timing = timing or Timing.for_ttl(journal.heartbeat_ttl.total_seconds())
        self.sleep = sleep
        self.monotonic = monotonic
        self._statuses = _Statuses()
        self._next_view = 0.0
        # The record and the waves: every stack's state is read only when something shows it.
        rollout = journal.rollout(rollout_id)
        self._waves = journal.waves(rollout_id)
        policy = rollout.policy
        self.max_parallel = int(policy["max_parallel"])
        self.failure_budget = int(policy["failure_budget"])
        self.bake_time = parse_duration(str(policy["bake_time"]))
        # Records from before the canary bake existed have none: they keep their behaviour.
        self.canary_bake_time = parse_duration(str(policy.get("canary_bake_time", "0s")))
        self.action = Action(policy.get("action", Action.up.value))
        self.actions = {stack: Action(action) for stack, action in (policy.get("actions") or {}).items()}
        """Per-stack actions that differ from the rollout's (an offboarding destroys its workload)."""
        self.engine = EngineKind(policy.get("engine", EngineKind.pulumi.value))
        self.inventory = str(Path(str(policy["inventory"])))

    def run(self) -> RolloutDetail:
        """Run every wave that has not succeeded yet; returns the final journal view."""
        run = _Run()
        self._keeper = LockKeeper(
            self.locks,
            self.rollout_id,
            sum(len(wave.stacks) for wave in self._waves),
            every=self.timing.lock_heartbeat,
        )
        try:
            self._keeper.start()
            ran_a_wave = False
            for wave in self._waves:
                if wave.status is WaveStatus.SUCCEEDED:
                    continue
                if run.stop is None and ran_a_wave and self.bake_time and not self._baked_canary(wave):
                    self._bake(run)
                if run.stop is None:
                    self._check_cancel(run, self._latest())
                if run.stop is not None:
                    self._close_wave(wave, run)
                    continue
                if self.hooks.may_start_wave is not None:
                    reason = self.hooks.may_start_wave(wave)
                    self._keeper.check()
                    if reason is not None:
                        self.journal.set_status(self.rollout_id, RolloutStatus.PAUSED, reason=reason)
                        return self._refresh()
                self._run_wave(wave, run)
                ran_a_wave = True
                self._close_wave(wave, run)
                if run.stop is None and wave.name == CANARY_WAVE and self._bakes_canary():
                    self._bake(run, self.canary_bake_time)  # the canary runs for real before it is judged
                if run.stop is None and self.hooks.after_wave is not None:
                    reason = self.hooks.after_wave(self._wave(wave.index))
                    self._keeper.check()
                    if reason is not None:
                        self._halt(run, reason)
            return self._finish(run)
        finally:
            self._keeper.stop()
            metrics.clear_queue(self.rollout_id)
            self.locks.release(self.rollout_id)

    # -- one wave ------------------------------------------------------------------------------

    def _run_wave(self, wave: WaveRecord, run: _Run) -> None:
        self.journal.mark_wave(self.rollout_id, wave.index, WaveStatus.RUNNING)
        if self.hooks.on_update is not None:
            self._refresh()
        # Every status once per wave; from then on only what changed (a look costs the same at
        # 10 stacks as at 10,000).
        self._statuses = _Statuses()
        self._statuses.apply(self.journal.stack_changes(self.rollout_id))
        status = self._statuses.status
        todo = [name for name in wave.stacks if status[name] not in _DONE]
        run.lookahead, run.refused, run.refused_at = self.max_parallel, False, None
        last_read = self.monotonic()
        while True:
            events = self.executor.poll()
            for event in events:
                if event.state in (JobState.declined, JobState.error) and event.key.stack in run.inflight:
                    if event.info.get("reason") in _LIMITS:
                        todo = self._requeue(event.key.stack, event.info["reason"], todo, wave, run)
                        continue
                    flight = run.inflight[event.key.stack]
                    flight.waiting = event.info.get("reason") == "busy"
                    if flight.waiting and not flight.answered:
                        # Another attempt still runs it (maybe a rollout whose CLI died): wait.
                        log.info("stack %s: waiting for %s", event.key.stack, event.info.get("holder"))
                    flight.answered = True
            if events or self.monotonic() - last_read >= self.timing.reconcile:
                rollout = self._look()
                if run.refused:
                    run.refused, run.refused_at = False, self._statuses.seq
                last_read = self.monotonic()
                self._reconcile(run)
                self._check_cancel(run, rollout)
                self._check_budget(run)
                self._show()
            # Submit right after the journal freed a slot, not one tick later.
            todo = self._submit(todo, run) if run.stop is None else []
            metrics.set_queue(self.rollout_id, len(todo), len(run.inflight))
            if not todo and not run.inflight:
                return
            self._keeper.check()
            queued = run.lookahead and todo and len(run.inflight) >= self.max_parallel + run.lookahead
            self.sleep(self.timing.queued_tick if queued else self.timing.tick)

    def _look(self) -> Rollout:
        """Read what changed in the journal since the last look; the rollout's record."""
        changes = self.journal.stack_changes(self.rollout_id, self._statuses.seq)
        self._statuses.apply(changes)
        return changes.rollout

    def _show(self) -> None:
        """Hand the full view to ``on_update`` (the live view), paced so that reading it never
        takes more than a tenth of the coordinator's time, whatever the rollout's size."""
        now = self.monotonic()
        if self.hooks.on_update is None or now < self._next_view:
            return
        self._refresh()
        cost = self.monotonic() - now
        self._next_view = now + max(self.timing.reconcile, 10 * cost)

    def _requeue(self, name: str, reason: str, todo: list[str], wave: WaveRecord, run: _Run) -> list[str]:
        """A job its claim refused for the policy's limits goes back to the queue, in wave order.

        ``full`` means more processes take jobs than ``max_parallel`` (or a slot is still held):
        the look-ahead only costs refused claims then, so the wave goes on without it.
        """
        run.submitted[name] = run.inflight.pop(name).job.attempt
        if run.lookahead:
            log.info("stack %s: claim refused (%s); no look-ahead for the rest of the wave", name, reason)
        run.lookahead, run.refused = 0, True
        position = {stack: index for index, stack in enumerate(wave.stacks)}
        return sorted([*todo, name], key=position.__getitem__)

    def _submit(self, todo: list[str], run: _Run) -> list[str]:
        if run.refused or run.refused_at == self._statuses.seq:
            return todo  # refused for the limits, and nothing has changed since
        while todo and len(run.inflight) < self.max_parallel + run.lookahead:
            action = self.actions.get(todo[0], self.action)
            attempt = run.submitted.pop(todo[0], 0) + 1
            job = StackJob(self.rollout_id, todo[0], action, self.engine, self.inventory, attempt)
            if not self._send(job):
                break
            run.inflight[todo.pop(0)] = _InFlight(job, self.monotonic())
        return todo

    def _send(self, job: StackJob) -> bool:
        try:
            self.executor.submit(job)
        except ExecutorUnavailable as error:
            log.warning("could not submit %s: %s; will retry", job.stack, error.message)
            return False
        return True

    def _reconcile(self, run: _Run) -> None:
        """Compare each job in flight with the journal; resubmit the ones that got lost."""
        now = self.monotonic()
        silent: list[str] = []
        running = sum(self._statuses.status[name] is StackStatus.RUNNING for name in run.inflight)
        for name, flight in list(run.inflight.items()):
            status = self._statuses.status[name]
            if status is StackStatus.PENDING and not flight.answered and running >= self.max_parallel:
                # Queued while every slot is taken: waiting for a slot is not being lost.
                flight.submitted_at = now
            if status in _DONE:
                del run.inflight[name]
            elif status is StackStatus.RUNNING:
                if self._due(flight, now):
                    silent.append(name)
            elif run.stop is not None:
                # Never claimed and nothing new may start: it will not run in this rollout.
                stop = StackStatus.SKIPPED if run.stop is RolloutStatus.HALTED else StackStatus.CANCELLED
                self.journal.mark_stacks(self.rollout_id, [name], stop)
                del run.inflight[name]
            elif self._due(flight, now):
                log.info(
                    "stack %s: not claimed yet (attempt %d); submitting it again", name, flight.job.attempt
                )
                self._resubmit(flight, now)
        if silent:  # heartbeats are read only for running jobs old enough to be presumed lost
            db_now = self.journal.database.clock()
            for state in self.journal.stack_states(self.rollout_id, silent):
                if _heartbeat_age(state, db_now) > self.journal.heartbeat_ttl:
                    log.warning(
                        "stack %s: its worker stopped heart-beating; submitting it again", state.stack
                    )
                    self._resubmit(run.inflight[state.stack], now)

    def _due(self, flight: _InFlight, now: float) -> bool:
        # A job the executor answered without running it is retried soon; a silent one only once
        # it is presumed lost. Both back off, so a broken worker is not flooded with jobs.
        # A stack waiting for another attempt is asked again every few seconds at most.
        wait = self.timing.reconcile if flight.answered else self.timing.lost_after
        return now - flight.submitted_at >= wait * 2 ** min(flight.resubmits, 2 if flight.waiting else 4)

    def _resubmit(self, flight: _InFlight, now: float) -> None:
        job = flight.job.resubmission()
        if self._send(job):
            flight.job, flight.submitted_at, flight.answered = job, now, False
            flight.resubmits += 1

    # -- stopping ------------------------------------------------------------------------------

    def _check_budget(self, run: _Run) -> None:
        statuses = self._statuses
        if run.stop is None and len(statuses.failed) > self.failure_budget:
            failed = sorted(statuses.failed, key=statuses.order.__getitem__)
            budget = self.failure_budget
            self._halt(run, f"{len(failed)} failed ({', '.join(failed)}); the failure budget is {budget}")

    def _check_cancel(self, run: _Run, seen: RolloutDetail | Rollout) -> None:
        rollout = seen.rollout if isinstance(seen, RolloutDetail) else seen
        if rollout.cancel_requested and run.stop is not RolloutStatus.CANCELLING:
            run.stop, run.reason = RolloutStatus.CANCELLING, "cancelled on request"

    def _halt(self, run: _Run, reason: str) -> None:
        # Halting at once makes the journal refuse claims of jobs still queued: nothing new starts.
        log.info("rollout %s halted: %s", self.rollout_id, reason)
        try:
            self.journal.set_status(self.rollout_id, RolloutStatus.HALTED, reason=reason)
        except OperationError:  # a cancel request came first: the rollout is cancelling
            self._check_cancel(run, self._refresh())
            return
        run.stop, run.reason = RolloutStatus.HALTED, reason

    def _baked_canary(self, wave: WaveRecord) -> bool:
        # The wave after the canary: the canary bake (longer) was its pause already.
        before = [w for w in self._waves if w.index < wave.index]
        return bool(before) and before[-1].name == CANARY_WAVE and self._bakes_canary()

    def _bakes_canary(self) -> bool:
        # Only a deploy can be watched: dry runs and the scripted test engine deploy nothing.
        return self.engine is EngineKind.pulumi and self.canary_bake_time > self.bake_time

    def _bake(self, run: _Run, seconds: float | None = None) -> None:
        end = self.monotonic() + (self.bake_time if seconds is None else seconds)
        while run.stop is None and self.monotonic() < end:
            self._check_cancel(run, self.journal.rollout(self.rollout_id))
            self._show()
            self._keeper.check()
            self.sleep(min(self.timing.reconcile, max(0.0, end - self.monotonic())))

    def _close_wave(self, wave: WaveRecord, run: _Run) -> None:
        """Give the wave its final status, marking its unfinished stacks skipped or cancelled."""
        if run.stop is not None:
            status = StackStatus.SKIPPED if run.stop is RolloutStatus.HALTED else StackStatus.CANCELLED
            detail = self._refresh()
            unstarted = [name for name in wave.stacks if detail.stack(name).status is StackStatus.PENDING]
            self.journal.mark_stacks(self.rollout_id, unstarted, status)
        record = self._wave(wave.index)
        counts = record.counts
        if counts.get(StackStatus.FAILED):
            final = WaveStatus.FAILED
        elif counts.get(StackStatus.SUCCEEDED, 0) == len(record.stacks):
            final = WaveStatus.SUCCEEDED
        elif run.stop is RolloutStatus.CANCELLING:
            final = WaveStatus.CANCELLED
        else:
            final = WaveStatus.SKIPPED
        self.journal.mark_wave(self.rollout_id, wave.index, final)

    def _finish(self, run: _Run) -> RolloutDetail:
        # Every stack's status, not every attempt: the full view is read once, at the very end.
        changes = self.journal.stack_changes(self.rollout_id)
        self._check_cancel(run, changes.rollout)
        if run.stop is RolloutStatus.CANCELLING:
            self.journal.set_status(self.rollout_id, RolloutStatus.CANCELLED)
        elif run.stop is None:
            ok = all(status is StackStatus.SUCCEEDED for status in changes.statuses.values())
            self.journal.set_status(self.rollout_id, RolloutStatus.SUCCEEDED if ok else RolloutStatus.FAILED)
        return self._refresh()

    # -- journal and locks ---------------------------------------------------------------------

    def _refresh(self) -> RolloutDetail:
        """The full view (every stack with its attempts), handed to ``on_update`` too."""
        detail = self.journal.get_rollout(self.rollout_id)
        if self.hooks.on_update is not None:
            self.hooks.on_update(detail)
        return detail

    def _latest(self) -> Rollout:
        """The rollout's record as the journal has it now; the live view follows, if there is one
        (without one, a rollout of 10,000 stacks is not read whole to learn its status)."""
        if self.hooks.on_update is not None:
            return self._refresh().rollout
        return self.journal.rollout(self.rollout_id)

    def _wave(self, index: int) -> WaveRecord:
        return next(wave for wave in self.journal.waves(self.rollout_id) if wave.index == index)


def _heartbeat_age(state: StackState, now: datetime) -> timedelta:
    attempt = state.last_attempt
    return timedelta(0) if attempt is None else now - attempt.heartbeat_at


def _unused_id(journal: Journal) -> str:
    from fleet.journal import new_rollout_id
    from fleet.journal.queries import RolloutNotFound

    for _ in range(8):
        candidate = new_rollout_id(journal.database.clock())
        try:
            journal.rollout(candidate)
        except RolloutNotFound:
            return candidate
    raise OperationError("could not find an unused rollout id; try again")
