"""``fleet worker``: a Celery worker that runs stacks (one per process at a time)."""

from __future__ import annotations

import contextlib
import os

import typer

from fleet.cli.app import app, state
from fleet.cli.help import examples

MAX_TASKS_PER_CHILD = 8
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


@app.command(
    epilog=examples(
        "FLEET_BROKER_URL=redis://redis:6379/0 fleet worker -c 4",
        "fleet worker -Q fleet-beat -c 1        # only the scheduler's ticks",
        "fleet worker --metrics-port 9464",
    )
)
def worker(
    ctx: typer.Context,
    concurrency: int = typer.Option(
        0, "--concurrency", "-c", min=0, help="Worker processes; 0: one per core"
    ),
    queues: str | None = typer.Option(
        None, "--queues", "-Q", help="Comma-separated queues [default: fleet,fleet-beat]"
    ),
    hostname: str | None = typer.Option(None, "--hostname", "-n", help="Node name, e.g. w1@%h"),
    loglevel: str = typer.Option("INFO", "--loglevel", help="DEBUG, INFO, WARNING or ERROR"),
    max_tasks_per_child: int = typer.Option(
        MAX_TASKS_PER_CHILD,
        "--max-tasks-per-child",
        min=0,
        help="Stacks a process runs before it is replaced; 0: never replaced",
    ),
    metrics_port: int | None = typer.Option(
        None,
        "--metrics-port",
        min=1,
        max=65535,
        envvar="FLEET_WORKER_METRICS_PORT",
        help="Serve the worker's Prometheus metrics on this port (/metrics)",
    ),
) -> None:
    """Run a Celery worker: one stack per process at a time (needs FLEET_BROKER_URL)."""
    from fleet.errors import FleetError, UserError

    # Checked here, before Celery: its own refusal escaped as an "unexpected" error, exit 1.
    if loglevel.upper() not in LOG_LEVELS:
        raise UserError(f"--loglevel: {loglevel!r} is not a log level; use DEBUG, INFO, WARNING or ERROR")
    if queues is not None and not any(name.strip() for name in queues.split(",")):
        raise UserError(f"--queues: {queues!r} names no queue; give names like fleet,fleet-beat")
    if metrics_port is not None:
        # Before anything imports prometheus_client: the forked processes write their counts
        # where this process sums them.
        from fleet.metrics import enable_multiprocess

        enable_multiprocess()
    from fleet.executors.celery_app import BEAT_QUEUE, DEFAULT_QUEUE, create_app
    from fleet.executors.worker import load_job_inventory

    settings = state(ctx).settings
    celery = create_app(settings)
    # Parsed once here and inherited by every forked process, so a replaced process starts warm.
    # No inventory here (jobs name theirs) or a broken one: the jobs report it.
    with contextlib.suppress(FleetError):
        load_job_inventory(settings.inventory.resolve())
    argv = [
        "worker",
        "--pool=prefork",
        f"--concurrency={concurrency or os.cpu_count() or 1}",
        f"--queues={queues or f'{DEFAULT_QUEUE},{BEAT_QUEUE}'}",
        f"--loglevel={loglevel.upper()}",
        "--without-gossip",
        "--without-mingle",
    ]
    if max_tasks_per_child:  # Celery refuses 0; leaving the option out is "never"
        argv.append(f"--max-tasks-per-child={max_tasks_per_child}")
    if hostname:
        argv.append(f"--hostname={hostname}")
    if metrics_port is not None:
        from fleet import metrics

        try:
            metrics.serve(metrics_port)
        except OSError as error:
            raise UserError(f"--metrics-port {metrics_port}: {error.strerror or error}") from None
    celery.worker_main(argv)
