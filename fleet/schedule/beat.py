"""The Celery side of the scheduler: the beat schedule (one tick a minute, on the beat queue) and
the tick task's body, which decides (:func:`fleet.schedule.tick.tick`) and hands any rollout or
drift check to a detached process (:class:`fleet.schedule.launcher.SchedulerLauncher`)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fleet.executors.celery_app import BEAT_QUEUE, TICK_TASK
from fleet.schedule.launcher import SchedulerLauncher
from fleet.schedule.tick import tick

if TYPE_CHECKING:
    from celery import Celery

log = logging.getLogger(__name__)

TICK_EVERY_S = 60.0


def configure_beat(app: Celery, inventory_path: str, *, every_s: float = TICK_EVERY_S) -> None:
    """Schedule the tick on ``app`` (the fleet's Celery app, which has the tick task registered):
    every ``every_s`` seconds, on the beat queue that ``fleet worker`` consumes."""

    app.conf.beat_schedule = {
        "fleet-upgrade-tick": {
            "task": TICK_TASK,
            "schedule": every_s,
            "args": (inventory_path,),
            # A tick that waited longer than a tick interval is stale; the next one decides.
            "options": {"expires": every_s, "queue": BEAT_QUEUE},
        }
    }


def run_tick(inventory_path: str) -> dict[str, Any]:
    """The tick task's body: decide, hand any rollout to a detached process, return a small result."""
    from fleet.inventory.loader import load_inventory
    from fleet.journal import utc_now
    from fleet.journal.connect import open_journal
    from fleet.settings import Settings

    inventory = load_inventory(Path(inventory_path))
    journal, _locks = open_journal(Settings(), inventory.root)
    with journal:
        result = tick(utc_now(), inventory, journal, SchedulerLauncher())
    log.info("fleet beat tick: %s", result.reason)
    answer: dict[str, Any] = {
        "action": result.action,
        "reason": result.reason,
        "rollout_id": result.rollout_id,
    }
    if result.drift is not None:
        if result.drift.action == "started":
            log.info("fleet beat tick: %s", result.drift.reason)
        answer["drift"] = {
            "action": result.drift.action,
            "reason": result.drift.reason,
            "rollout_id": result.drift.rollout_id,
        }
    if result.rotation is not None:
        if result.rotation.action == "started":
            log.info("fleet beat tick: %s", result.rotation.reason)
        answer["rotation"] = {"action": result.rotation.action, "reason": result.rotation.reason}
    return answer
