"""The executor seam: where stacks run, behind three calls.

The rollout coordinator submits :class:`~fleet.executors.jobs.StackJob` values and polls for events; it
never learns whether a process pool or Celery workers ran them. Results come back as values
(``(key, state, info)`` events), never as exceptions thrown across processes. Executors are
hints, not the truth: the journal says what happened to a stack; an event only says "look now".
"""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol

from fleet.errors import OperationError
from fleet.executors.jobs import JobKey, JobState, StackJob


class ExecutorEvent(NamedTuple):
    """One finished job: its key, how it ended and a small JSON-friendly info mapping."""

    key: JobKey
    state: JobState
    info: dict[str, Any]


class ExecutorUnavailable(OperationError):
    """The executor cannot take a job right now (e.g. the broker is unreachable); try again later."""


class Executor(Protocol):
    """Runs jobs somewhere and reports when they end."""

    name: str
    """``local`` or ``celery``, for messages."""

    def submit(self, job: StackJob) -> None:
        """Queue ``job``. Raises ExecutorUnavailable when it could not be queued."""
        ...

    def poll(self) -> list[ExecutorEvent]:
        """Events of the jobs that ended since the last call (never blocks for long)."""
        ...

    def shutdown(self) -> None:
        """Stop accepting jobs and release resources; jobs already running may be abandoned."""
        ...
