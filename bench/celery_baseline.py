"""The baseline for bench/fanout.py: a plain Celery task that sleeps, with fleet's own settings.

``celery -A celery_baseline worker`` (with ``bench/`` on PYTHONPATH and FLEET_BROKER_URL set)
runs it on a worker configured exactly as ``fleet worker`` is (acks late, prefetch 1, the
visibility timeout), so the difference between the two figures is fleet's orchestration.
"""

from __future__ import annotations

import time

from celery import Celery

from fleet.executors.celery_app import celery_config
from fleet.settings import Settings

app = Celery("celery_baseline", set_as_current=False)
app.conf.update(celery_config(Settings()))
app.conf.task_default_queue = "baseline"


@app.task(name="baseline.sleep")
def sleep(seconds: float) -> float:
    """Sleep like a scripted stack does; return how long."""
    time.sleep(seconds)
    return seconds
