"""CeleryExecutor: jobs go to ``fleet worker`` processes on any machine, through Redis.

Only this module and :mod:`fleet.executors.celery_app` import Celery. A submission is one small JSON
message (:class:`~fleet.executors.jobs.StackJob`); a result is one small JSON value. When the broker or the
result backend is unreachable, :meth:`submit` raises ExecutorUnavailable and :meth:`poll` reports
nothing: the coordinator tries again, and the journal tells it what really happened meanwhile
(a lost message is noticed there and the job resubmitted; tasks are idempotent).
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from celery import Celery, states
from celery.backends.base import BaseKeyValueStoreBackend
from celery.result import AsyncResult
from kombu.exceptions import OperationalError
from redis.exceptions import RedisError

from fleet.errors import OperationError
from fleet.executors.base import ExecutorEvent, ExecutorUnavailable
from fleet.executors.celery_app import DEFAULT_QUEUE, TASK_NAME
from fleet.executors.jobs import JobKey, JobState, StackJob

log = logging.getLogger(__name__)

_UNREACHABLE = (OperationalError, RedisError, OSError)
_SEND_RETRY = {"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5, "interval_max": 1.0}


def check_broker(url: str, timeout: float = 5.0) -> None:
    """OperationError, naming the broker (its password hidden) and the fix, when nothing answers
    a PING at ``url``: a rollout recorded now would only wait for it, warning every second."""
    import redis
    from sqlalchemy.engine import make_url

    safe = make_url(url).render_as_string(hide_password=True) if "@" in url else url
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
        with client:
            client.ping()
    except (RedisError, OSError, ValueError) as error:
        reason = " ".join(str(error).split()).rstrip(".") or type(error).__name__
        raise OperationError(
            f"cannot reach the broker {safe} (FLEET_BROKER_URL): {reason}; start it, fix "
            "FLEET_BROKER_URL, or unset it to run the stacks on this machine"
        ) from None


class CeleryExecutor:
    """Submits jobs as Celery tasks to ``queue`` and polls their results."""

    name = "celery"

    def __init__(self, app: Celery, queue: str = DEFAULT_QUEUE) -> None:
        self.app = app
        self.queue = queue
        self._run = secrets.token_hex(4)
        """This executor's mark on its task ids: a coordinator that drove the rollout before (a
        resume) submitted the same jobs, and its results must not be taken for this one's."""
        self._pending: dict[str, tuple[JobKey, AsyncResult[Any]]] = {}
        self._result_keys: dict[str, bytes] = {}
        """Each pending task's result key, built once: every poll reads them all."""

    def task_id(self, job: StackJob) -> str:
        """The Celery task id of ``job`` sent by this executor: the job's own id and this
        executor's mark, so a poll only ever reads the answer to this submission."""
        return f"{job.task_id}:{self._run}"

    def submit(self, job: StackJob) -> None:
        """Send ``job`` to the queue; ExecutorUnavailable when the broker cannot be reached."""
        task_id = self.task_id(job)
        try:
            result = self.app.send_task(
                TASK_NAME,
                args=[job.to_json()],
                task_id=task_id,
                queue=self.queue,
                retry=True,
                retry_policy=_SEND_RETRY,
            )
        except _UNREACHABLE as error:
            raise ExecutorUnavailable(f"cannot reach the broker: {type(error).__name__}") from None
        self._pending[task_id] = (job.key, result)
        backend = self.app.backend
        if isinstance(backend, BaseKeyValueStoreBackend):
            self._result_keys[task_id] = backend.get_key_for_task(task_id)

    def poll(self) -> list[ExecutorEvent]:
        """Events of the submitted tasks that have finished (none while the backend is down).

        One round trip for all of them (an MGET of their result keys) when results are kept in a
        key-value store such as Redis, so a poll costs the same at 10 stacks in flight as at 100.
        """
        try:
            finished = self._finished()
        except _UNREACHABLE as error:
            log.warning("result backend unreachable (%s); will poll again", type(error).__name__)
            return []
        events = []
        for task_id, (status, value) in finished.items():
            key, _result = self._pending.pop(task_id)
            self._result_keys.pop(task_id, None)
            if status != states.SUCCESS or not isinstance(value, dict):
                events.append(ExecutorEvent(key, JobState.error, {"error": repr(value)}))
            else:
                events.append(ExecutorEvent(key, JobState(value["state"]), dict(value.get("info") or {})))
        return events

    def _finished(self) -> dict[str, tuple[str, Any]]:
        """``task id -> (state, result)`` of the pending tasks that are done."""
        backend = self.app.backend
        if not self._pending:
            return {}
        if not isinstance(backend, BaseKeyValueStoreBackend):
            done = {}
            for task_id, (_key, result) in self._pending.items():
                if result.ready():
                    done[task_id] = (result.state, result.result)
            return done
        ids = list(self._pending)
        raw = backend.mget([self._result_keys[task_id] for task_id in ids])
        done = {}
        for task_id, payload in zip(ids, raw, strict=True):
            if payload is None:
                continue
            meta = backend.decode_result(payload)
            if meta["status"] in states.READY_STATES:
                done[task_id] = (meta["status"], meta["result"])
        return done

    def shutdown(self) -> None:
        """Forget the pending tasks and close the connections (the workers keep running)."""
        self._pending.clear()
        self._result_keys.clear()
        self.app.close()
