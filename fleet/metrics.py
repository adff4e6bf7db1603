"""fleet's own Prometheus metrics, so the platform team can scrape and alert on fleet itself.

Workers (``fleet worker --metrics-port``) count the stacks they run, by action, engine and result,
with their durations, transient retries and attempts another worker took over. Coordinators (any
process driving a rollout, with ``FLEET_METRICS_PORT`` set) count rollouts by kind and result,
stale stack locks they took over, and show how many stacks wait and how many are in flight.

A Celery worker runs its jobs in forked child processes: :func:`enable_multiprocess` (called by
``fleet worker`` before anything imports ``prometheus_client``) points the client at a fresh
directory the children write to, and :func:`serve` in the parent exposes their sum. Counting
never raises into the code it observes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

__all__ = [
    "MULTIPROC_ENV",
    "attempt_taken_over",
    "clear_queue",
    "enable_multiprocess",
    "lock_takeovers",
    "record_rollout",
    "record_stack_run",
    "serve",
    "set_queue",
]

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_DURATION_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 900, 1200, 1800, 2700, 3600, 7200)


@dataclass(frozen=True)
class _Metrics:
    stack_runs: Any
    stack_duration: Any
    stack_retries: Any
    attempts_taken_over: Any
    rollouts: Any
    lock_takeovers: Any
    stacks_waiting: Any
    stacks_in_flight: Any


@cache
def _metrics() -> _Metrics:
    # Created on first use, never at import: prometheus_client picks its (single- or
    # multi-process) storage when it is first imported, after enable_multiprocess.
    from prometheus_client import Counter, Gauge, Histogram

    labels = ["action", "engine", "result"]
    return _Metrics(
        stack_runs=Counter(
            "fleet_stack_runs_total",
            "Stack jobs a worker finished, by action, engine and result (succeeded, failed, declined, error)",
            labels,
        ),
        stack_duration=Histogram(
            "fleet_stack_duration_seconds",
            "How long a worker ran a stack (claim to record), by action, engine and result",
            labels,
            buckets=_DURATION_BUCKETS,
        ),
        stack_retries=Counter(
            "fleet_stack_transient_retries_total",
            "Transient engine failures retried inside a job",
            ["action"],
        ),
        attempts_taken_over=Counter(
            "fleet_attempts_taken_over_total", "Attempts another worker took over while this one ran them"
        ),
        rollouts=Counter(
            "fleet_rollouts_total",
            "Rollouts a coordinator drove to an end or a pause, by kind and result",
            ["kind", "result"],
        ),
        lock_takeovers=Counter(
            "fleet_lock_takeovers_total", "Stale stack locks (dead holder, no heartbeat) taken over"
        ),
        stacks_waiting=Gauge(
            "fleet_rollout_stacks_waiting",
            "Stacks of the running wave not yet handed to the executor",
            ["rollout"],
            multiprocess_mode="livesum",
        ),
        stacks_in_flight=Gauge(
            "fleet_rollout_stacks_in_flight",
            "Stacks handed to the executor and not finished (queued or running)",
            ["rollout"],
            multiprocess_mode="livesum",
        ),
    )


def enable_multiprocess(directory: Path | None = None) -> Path:
    """Make this process and every process it forks write metrics to ``directory`` (default: a
    fresh temporary one), emptied first. Call before ``prometheus_client`` is imported anywhere."""
    path = directory or Path(tempfile.mkdtemp(prefix="fleet-metrics-"))
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    os.environ[MULTIPROC_ENV] = str(path)
    return path


def serve(port: int, address: str = "0.0.0.0") -> None:
    """Serve ``/metrics`` on ``port`` from a background thread: the sum over every process of a
    multiprocess worker, else this process's metrics. Raises OSError when the port is taken."""
    from prometheus_client import REGISTRY, CollectorRegistry, multiprocess, start_http_server

    _metrics()  # every metric exists from the first scrape on, at zero
    registry = REGISTRY
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    start_http_server(port, addr=address, registry=registry)


def record_stack_run(action: str, engine: str, result: str, seconds: float, retries: int = 0) -> None:
    """Count one finished stack job (called by the worker's task body)."""
    try:
        found = _metrics()
        found.stack_runs.labels(action, engine, result).inc()
        found.stack_duration.labels(action, engine, result).observe(max(0.0, seconds))
        if retries:
            found.stack_retries.labels(action).inc(retries)
    except Exception:  # metrics must never fail a stack
        log.debug("could not record stack metrics", exc_info=True)


def attempt_taken_over() -> None:
    """Count an attempt another worker took over."""
    _metrics().attempts_taken_over.inc()


def record_rollout(kind: str, result: str) -> None:
    """Count a rollout a coordinator drove to ``result``; its queue gauges go away."""
    _metrics().rollouts.labels(kind, result).inc()


def set_queue(rollout_id: str, waiting: int, in_flight: int) -> None:
    """The coordinator's view of its queue: stacks waiting for a slot, and in flight."""
    found = _metrics()
    found.stacks_waiting.labels(rollout_id).set(waiting)
    found.stacks_in_flight.labels(rollout_id).set(in_flight)


def clear_queue(rollout_id: str) -> None:
    """Drop a finished rollout's queue gauges."""
    found = _metrics()
    for gauge in (found.stacks_waiting, found.stacks_in_flight):
        with contextlib.suppress(KeyError):
            gauge.remove(rollout_id)


def lock_takeovers(count: int) -> None:
    """Count ``count`` stale locks taken over."""
    if count:
        _metrics().lock_takeovers.inc(count)
