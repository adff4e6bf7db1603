"""CeleryExecutor: jobs go to ``fleet worker`` processes on any machine, through Redis.

Only this module and :mod:`fleet.executors.celery_app` import Celery. A submission is one small JSON
message (:class:`~fleet.executors.jobs.StackJob`); a result is one small JSON value. When the broker or the
result backend is unreachable, :meth:`submit` raises ExecutorUnavailable and :meth:`poll` reports
nothing: the coordinator tries again, and the journal tells it what really happened meanwhile
(a lost message is noticed there and the job resubmitted; tasks are idempotent).
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery
from celery.result import AsyncResult
from kombu.exceptions import OperationalError
from redis.exceptions import RedisError

from fleet.executors.base import ExecutorEvent, ExecutorUnavailable
from fleet.executors.celery_app import DEFAULT_QUEUE, TASK_NAME
from fleet.executors.jobs import JobKey, JobState, StackJob

log = logging.getLogger(__name__)

_UNREACHABLE = (OperationalError, RedisError, OSError)
_SEND_RETRY = {"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5, "interval_max": 1.0}


class CeleryExecutor:
    """Submits jobs as Celery tasks to ``queue`` and polls their results."""

    name = "celery"

    def __init__(self, app: Celery, queue: str = DEFAULT_QUEUE) -> None:
        self.app = app
        self.queue = queue
        self._pending: dict[str, tuple[JobKey, AsyncResult[Any]]] = {}

    def submit(self, job: StackJob) -> None:
        """Send ``job`` to the queue; ExecutorUnavailable when the broker cannot be reached."""
        try:
            result = self.app.send_task(
                TASK_NAME,
                args=[job.to_json()],
                task_id=job.task_id,
                queue=self.queue,
                retry=True,
                retry_policy=_SEND_RETRY,
            )
        except _UNREACHABLE as error:
            raise ExecutorUnavailable(f"cannot reach the broker: {type(error).__name__}") from None
        self._pending[job.task_id] = (job.key, result)

    def poll(self) -> list[ExecutorEvent]:
        """Events of the submitted tasks that have finished (none while the backend is down)."""
        events = []
        for task_id, (key, result) in list(self._pending.items()):
            try:
                if not result.ready():
                    continue
                value = result.result
                failed = result.failed()
            except _UNREACHABLE as error:
                log.warning("result backend unreachable (%s); will poll again", type(error).__name__)
                break
            del self._pending[task_id]
            if failed or not isinstance(value, dict):
                events.append(ExecutorEvent(key, JobState.error, {"error": repr(value)}))
            else:
                events.append(ExecutorEvent(key, JobState(value["state"]), dict(value.get("info") or {})))
        return events

    def shutdown(self) -> None:
        """Forget the pending tasks and close the connections (the workers keep running)."""
        self._pending.clear()
        self.app.close()
