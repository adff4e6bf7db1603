"""Executors: where stacks run. The coordinator sees only :class:`Executor`.

:func:`executor_for` picks one from the settings: Celery workers when ``FLEET_BROKER_URL`` is
set, else a local process pool. Celery is imported only in the first case.
"""

from __future__ import annotations

from fleet.executors.base import Executor, ExecutorEvent, ExecutorUnavailable
from fleet.settings import Settings


def executor_for(settings: Settings) -> Executor:
    """The executor ``settings`` ask for: CeleryExecutor with a broker, else LocalExecutor."""
    if settings.broker_url:
        from fleet.executors.celery import CeleryExecutor
        from fleet.executors.celery_app import create_app

        return CeleryExecutor(create_app(settings))
    from fleet.executors.local import LocalExecutor

    return LocalExecutor(settings.workers)


__all__ = ["Executor", "ExecutorEvent", "ExecutorUnavailable", "executor_for"]
