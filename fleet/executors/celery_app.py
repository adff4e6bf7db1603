"""The Celery app: built from :class:`~fleet.settings.Settings` on demand, never at import time.

Two tasks, both thin adapters defined in :mod:`fleet.executors.tasks` (which the app includes by
name, so this module imports no domain code): :data:`TASK_NAME` hands a job message to
:func:`fleet.executors.worker.run_message` and returns its small result; :data:`TICK_TASK` is the
scheduler's tick. Ticks travel on their own queue, :data:`BEAT_QUEUE` (which
``fleet worker`` consumes too), so a tick is never queued behind stack updates. The settings below
are the ones that matter when one task is a 10-30 minute stack update:

- ``task_acks_late`` + ``task_reject_on_worker_lost``: a task is acknowledged only when it ends,
  so a worker that dies mid-stack gives the message back and another worker runs it;
- ``worker_prefetch_multiplier=1`` with the prefork pool: one stack per worker process at a
  time, and no process hoards messages that an idle one could run;
- a visibility timeout above the longest stack update, in all three places Redis reads it,
  else Redis hands a still-running task to a second worker;
- JSON only: jobs are data, never pickled objects.

Tasks are idempotent (the journal's exactly-once claim), so a redelivered message is harmless.
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery.backends.redis import RedisBackend

from fleet.errors import UserError
from fleet.settings import Settings

TASK_NAME = "fleet.run_stack"
TICK_TASK = "fleet.beat_tick"
TASKS_MODULE = "fleet.executors.tasks"
DEFAULT_QUEUE = "fleet"
BEAT_QUEUE = "fleet-beat"
"""The scheduler's ticks: short tasks that must not wait behind queued stack updates."""


class PolledRedisBackend(RedisBackend):
    """Redis results, read by polling (a GET per pending task), never by subscription.

    The stock backend subscribes to a pub/sub channel per sent task so that ``result.get()`` can
    block. The coordinator never blocks on a result, and that subscription does not survive a
    Redis restart gracefully, so it is skipped.
    """

    def on_task_call(self, producer: Any, task_id: str) -> None:
        return None


def result_backend_url(settings: Settings) -> str:
    """The result backend URL: Redis ones are read through :class:`PolledRedisBackend`."""
    url = settings.result_backend or settings.broker_url or ""
    if url.split("://", 1)[0] in ("redis", "rediss"):
        return f"{__name__}:{PolledRedisBackend.__name__}+{url}"
    return url


def celery_config(settings: Settings) -> dict[str, Any]:
    """The Celery configuration for ``settings`` (broker, results, delivery guarantees)."""
    if not settings.broker_url:
        raise UserError(
            "no broker: set FLEET_BROKER_URL (e.g. redis://localhost:6379/0) to use Celery workers"
        )
    visibility = {"visibility_timeout": settings.visibility_timeout}
    return {
        "broker_url": settings.broker_url,
        "result_backend": result_backend_url(settings),
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "broker_transport_options": dict(visibility),
        "result_backend_transport_options": dict(visibility),
        "visibility_timeout": settings.visibility_timeout,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "result_accept_content": ["json"],
        "task_default_queue": DEFAULT_QUEUE,
        "task_routes": {TICK_TASK: {"queue": BEAT_QUEUE}},
        "task_track_started": False,
        "result_expires": 7 * 24 * 3600,
        "broker_connection_retry_on_startup": True,
        "broker_connection_max_retries": None,
        "redis_socket_connect_timeout": 5,
        "redis_socket_timeout": 30,
        "redis_retry_on_timeout": True,
        "worker_hijack_root_logger": False,
        "worker_cancel_long_running_tasks_on_connection_loss": False,
    }


def create_app(settings: Settings) -> Celery:
    """A Celery app for ``settings``; a worker of it imports the fleet tasks (:data:`TASKS_MODULE`).
    UserError without a broker."""
    app = Celery("fleet", set_as_current=False, include=[TASKS_MODULE])
    app.conf.update(celery_config(settings))
    return app
