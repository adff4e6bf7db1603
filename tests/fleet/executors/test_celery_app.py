"""The Celery configuration that matters for long stack updates; no Celery import at fleet import."""

from __future__ import annotations

import subprocess
import sys

import pytest

from fleet.errors import UserError
from fleet.executors.celery_app import TASK_NAME, TICK_TASK, celery_config, create_app
from fleet.settings import Settings


def test_delivery_guarantees_and_visibility_timeout_everywhere() -> None:
    config = celery_config(Settings(broker_url="redis://127.0.0.1:6379/0", visibility_timeout=7200))
    assert config["task_acks_late"] is True
    assert config["task_reject_on_worker_lost"] is True
    assert config["worker_prefetch_multiplier"] == 1
    assert config["broker_transport_options"]["visibility_timeout"] == 7200
    assert config["result_backend_transport_options"]["visibility_timeout"] == 7200
    assert config["visibility_timeout"] == 7200
    assert config["accept_content"] == ["json"]
    assert config["result_backend"].endswith("+redis://127.0.0.1:6379/0")


def test_the_app_includes_the_tasks_and_needs_a_broker() -> None:
    app = create_app(Settings(broker_url="redis://127.0.0.1:6379/0"))
    app.loader.import_default_modules()  # what a worker does at start-up
    assert {TASK_NAME, TICK_TASK} <= set(app.tasks)
    assert app.conf.task_acks_late is True
    with pytest.raises(UserError, match="FLEET_BROKER_URL"):
        create_app(Settings(broker_url=None))


def test_the_coordinator_and_the_cli_do_not_import_celery() -> None:
    code = (
        "import sys, fleet.cli.main, fleet.rollout.coordinator, fleet.executors.local;"
        "print('celery' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
