"""What the journal returns: frozen dataclasses and the status vocabularies. No ORM objects."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


class RolloutKind(StrEnum):
    ROLLOUT = "rollout"
    UPGRADE = "upgrade"
    DRIFT = "drift"
    OFFBOARD = "offboard"
    ROTATE = "rotate"


class RolloutStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    PAUSED = "paused"
    HALTED = "halted"
    CANCELLING = "cancelling"
    CANCELLED = "cancelled"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        """True for the states in which the rollout has a ``finished_at`` time."""
        return self in _FINISHED_ROLLOUT


_FINISHED_ROLLOUT = {
    RolloutStatus.HALTED,
    RolloutStatus.CANCELLED,
    RolloutStatus.SUCCEEDED,
    RolloutStatus.FAILED,
}


class WaveStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


class StackStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


class Outcome(StrEnum):
    """How an attempt ended. ``lost``: its worker stopped heart-beating and another took over."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    LOST = "lost"


class ClaimResult(StrEnum):
    GRANTED = "granted"
    """A new attempt was recorded: the caller runs the stack, heart-beats, then calls finish."""
    ALREADY_SUCCEEDED = "already_succeeded"
    """The stack succeeded earlier in this rollout: do nothing (a redelivered task)."""
    BUSY = "busy"
    """Another worker's attempt (of this rollout or another) is running and heart-beating: do not
    run it twice."""
    LOCKED = "locked"
    """Another rollout holds the stack's lock: this rollout lost the stack (it was interrupted)."""
    CANCELLED = "cancelled"
    """The rollout is being cancelled: do not start."""
    NOT_RUNNING = "not_running"
    """The rollout is not in the ``running`` state (paused, halted, finished): do not start."""
    FULL = "full"
    """``max_parallel`` of the rollout's stacks are running already: not now (the coordinator
    queues jobs ahead of free slots, and the claim is what holds the limit)."""
    OVER_BUDGET = "over_budget"
    """More of the rollout's stacks failed than its failure budget allows: do not start (the
    coordinator halts the rollout as soon as it sees the failures)."""


@dataclass(frozen=True)
class Rollout:
    id: str
    kind: RolloutKind
    dry_run: bool
    status: RolloutStatus
    started_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    policy: Mapping[str, Any]
    versions: Mapping[str, Any]
    halt_reason: str | None
    cancel_requested: bool


@dataclass(frozen=True)
class GateRecord:
    """What the journal keeps of a wave's health gate: its verdict and a one-line reason."""

    passed: bool
    reason: str


@dataclass(frozen=True)
class WaveRecord:
    rollout_id: str
    index: int
    name: str
    stacks: tuple[str, ...]
    status: WaveStatus
    started_at: datetime | None
    finished_at: datetime | None
    gate: GateRecord | None
    counts: Mapping[StackStatus, int]
    """How many of the wave's stacks are in each status (statuses with no stack are left out)."""


@dataclass(frozen=True)
class Attempt:
    rollout_id: str
    stack: str
    number: int
    worker: str
    started_at: datetime
    heartbeat_at: datetime
    finished_at: datetime | None
    outcome: Outcome | None
    """None while the attempt runs."""
    error: str | None
    versions: Mapping[str, Any] | None
    summary: Mapping[str, Any] | None
    """What the worker reported (action, engine, changes, ``spec_hash``...). Without the
    desired-state fingerprint it also recorded: a digest per input field, read only by the
    planner (:meth:`fleet.journal.Journal.deployed_fingerprints`)."""


@dataclass(frozen=True)
class AttemptOutput:
    """An attempt's engine output (``fleet logs``): scrubbed of secrets, the newest part kept."""

    attempt: Attempt
    output: str
    """Empty when the attempt recorded none (still running, or its worker died)."""
    truncated: int
    """Characters of the oldest output left out to keep within the cap."""


@dataclass(frozen=True)
class StackState:
    """One stack within one rollout, with every attempt at it (oldest first)."""

    rollout_id: str
    stack: str
    wave_index: int
    status: StackStatus
    updated_at: datetime
    attempts: tuple[Attempt, ...]

    @property
    def last_attempt(self) -> Attempt | None:
        return self.attempts[-1] if self.attempts else None

    @property
    def error(self) -> str | None:
        """The error of the last attempt, if it failed."""
        last = self.last_attempt
        return last.error if last is not None else None


@dataclass(frozen=True)
class RolloutSummary:
    """A rollout with its waves and stack counts: one line of ``fleet history``."""

    rollout: Rollout
    waves: tuple[WaveRecord, ...]
    counts: Mapping[StackStatus, int]


@dataclass(frozen=True)
class RolloutDetail:
    """A rollout with its waves and every stack's state: for watch and resume."""

    rollout: Rollout
    waves: tuple[WaveRecord, ...]
    counts: Mapping[StackStatus, int]
    stacks: tuple[StackState, ...]
    """Ordered by wave, then by the order within the wave."""

    def stack(self, name: str) -> StackState:
        """The state of stack ``name``; KeyError when it is not part of this rollout."""
        for state in self.stacks:
            if state.stack == name:
                return state
        raise KeyError(name)


@dataclass(frozen=True)
class StackChanges:
    """What changed in a rollout since a coordinator last looked (:meth:`Journal.stack_changes`)."""

    rollout: Rollout
    seq: int
    """The rollout's change counter as read: pass it back as ``since`` next time."""
    statuses: dict[str, StackStatus]
    """The status of every stack that changed since ``since`` (every stack when ``since`` is None)."""


@dataclass(frozen=True)
class Claim:
    """The answer to :meth:`Journal.claim`: whether the caller may run the stack now."""

    result: ClaimResult
    rollout_id: str
    stack: str
    worker: str
    attempt: int | None
    """The new attempt's number when granted; the running attempt's number when busy."""
    holder: str | None = None
    """When busy: the worker running the stack."""
    recovered_from: str | None = None
    """When granted over a lost attempt: the worker that was running it."""

    @property
    def granted(self) -> bool:
        return self.result is ClaimResult.GRANTED


@dataclass(frozen=True)
class StackDeployment:
    """What ``fleet status`` shows for one stack. Dry runs never count."""

    stack: str
    rollout_id: str
    """The last real (non-dry-run) rollout that attempted this stack."""
    rollout_kind: RolloutKind
    status: StackStatus
    """The stack's status in that rollout."""
    when: datetime
    """When the last attempt in that rollout finished (or started, if still running)."""
    error: str | None
    deployed_versions: Mapping[str, Any] | None
    """The versions of the last successful attempt in any real rollout (None if never deployed)."""
    deployed_at: datetime | None
    deployed_rollout_id: str | None


@dataclass(frozen=True)
class StackDryRun:
    """A stack's part in the newest dry-run rollout that included it: rendered, not deployed."""

    stack: str
    rollout_id: str
    status: StackStatus
    when: datetime
    """When the stack last changed state in that rollout."""


@dataclass(frozen=True)
class RenderRecord:
    """The last recorded render plan of a stack (drift detection in dry-run mode)."""

    stack: str
    plan_hash: str
    """sha256 of the plan's canonical JSON (sorted keys, no spaces)."""
    plan: str
    """The plan as canonical JSON text."""
    rollout_id: str | None
    recorded_at: datetime
