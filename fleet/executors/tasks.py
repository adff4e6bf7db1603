"""The fleet's Celery tasks, thin adapters over plain functions: decode, call, return a small result.

Registered with every fleet app (``shared_task``) when a worker imports this module, which
:func:`fleet.executors.celery_app.create_app` asks it to do. A task never waits on another task.
"""

from __future__ import annotations

from typing import Any

from celery import Task, shared_task

from fleet.executors.celery_app import TASK_NAME, TICK_TASK
from fleet.executors.worker import run_message
from fleet.schedule.beat import run_tick


@shared_task(name=TASK_NAME, bind=True)
def run_stack(task: Task, message: str) -> dict[str, Any]:
    """Run one stack job; ``run_message`` never raises."""
    return run_message(message)


@shared_task(name=TICK_TASK, ignore_result=True)
def beat_tick(inventory_path: str) -> dict[str, Any]:
    """One scheduler tick for the inventory at ``inventory_path``."""
    return run_tick(inventory_path)
