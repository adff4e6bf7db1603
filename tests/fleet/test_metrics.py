"""fleet's own metrics, scraped over HTTP as Prometheus would: a real ``fleet worker
--metrics-port`` after a rollout through Celery, and a coordinator serving on FLEET_METRICS_PORT."""

from __future__ import annotations

import os
import subprocess
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fleet_services import (
    RedisServer,
    Workers,
    fleet_command,
    fleet_env,
    free_port,
    wait_for,
    write_script,
)
from prometheus_client.parser import text_string_to_metric_families

from fleet.inventory.loader import load_inventory
from fleet.journal.connect import open_journal
from fleet.journal.locks import LockHolder, StackLocks
from fleet.kinds import EngineKind
from fleet.rollout.coordinator import start_rollout
from fleet.rollout.driver import drive
from fleet.rollout.plan import plan_rollout
from fleet.settings import Settings


def _scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample on ``/metrics`` of ``port``, parsed by prometheus_client's own parser."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_a_worker_counts_the_stacks_of_a_rollout(
    inventory: Path, redis_server: RedisServer, fleet_workers: Workers, tmp_path: Path
) -> None:
    script = write_script(
        tmp_path / "script.json",
        default={"duration": 0.1},
        stacks={"search-staging": {"fail": "chart install timed out"}},
    )
    env = fleet_env(inventory, script, redis_server.url)
    port = free_port()
    fleet_workers.start(env, 2, None, "--metrics-port", str(port))
    done = subprocess.run(
        [*fleet_command(), "rollout", "--all", "--yes", "--failure-budget", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr  # search-staging failed
    runs = {"action": "up", "engine": "scripted"}
    samples = wait_for(
        lambda: (
            (found := _scrape(port))
            and _value(found, "fleet_stack_runs_total", **runs, result="succeeded") == 3
            and found
        ),
        "the worker's metrics to count the rollout's stacks",
    )
    assert _value(samples, "fleet_stack_runs_total", **runs, result="failed") == 1
    assert _value(samples, "fleet_stack_duration_seconds_count", **runs, result="succeeded") == 3
    assert _value(samples, "fleet_stack_duration_seconds_bucket", **runs, result="failed", le="+Inf") == 1


@pytest.fixture
def settings(inventory: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    for name in [key for key in os.environ if key.startswith("FLEET_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("FLEET_ENGINE_SCRIPT", str(tmp_path / "script.json"))
    write_script(tmp_path / "script.json", default={"duration": 0.05})
    yield Settings(inventory=inventory, workers=1, lock_ttl=5, metrics_port=free_port())


def _counter(name: str, **labels: str) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_a_coordinator_serves_rollouts_and_lock_takeovers(settings: Settings) -> None:
    assert settings.metrics_port is not None
    journal, locks = open_journal(settings)
    with journal:
        inventory = load_inventory(settings.inventory)
        plan = plan_rollout(inventory, journal, select_all=True, engine=EngineKind.scripted)
        rollout = start_rollout(journal, locks, plan)
        # Its first coordinator died on another machine; this one takes its locks over.
        locks.release(rollout.id)
        locks.acquire(plan.stacks, rollout.id, holder=LockHolder("ghost", "elsewhere", 1))
        takeovers = _counter("fleet_lock_takeovers_total")
        finished = _counter("fleet_rollouts_total", kind="rollout", result="succeeded")
        drive(settings, journal, StackLocks(journal, ttl=timedelta(0)), rollout.id)
    samples = _scrape(settings.metrics_port)
    assert _value(samples, "fleet_rollouts_total", kind="rollout", result="succeeded") == finished + 1
    assert _value(samples, "fleet_lock_takeovers_total") == takeovers + len(plan.stacks)
    # A finished rollout leaves no queue gauges behind.
    assert not [key for key in samples if key[0].startswith("fleet_rollout_stacks_")]
