"""Rollout commands: rollout (start, watch, resume, cancel), status, history, worker."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from typing import Any

import typer
from rich.table import Table
from typer.core import TyperGroup

from fleet.cli.main import app, state
from fleet.cli.output import OUTPUT_OPTION, Output, console, print_json

MAX_TASKS_PER_CHILD = 8
"""A worker process is replaced after this many stacks: bounded memory, a fresh Pulumi runtime."""


class RolloutGroup(TyperGroup):
    """``fleet rollout NAME...`` means ``fleet rollout start NAME...``; subcommands keep their names."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:  # type: ignore[override]
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["start", *args]
        elif not args:
            args = ["start"]
        return super().parse_args(ctx, args)


rollout_app = typer.Typer(
    cls=RolloutGroup,
    help="Roll stacks out in waves; watch, resume or cancel a rollout.",
    context_settings={"help_option_names": ["--help", "-h"]},
)
app.add_typer(rollout_app, name="rollout")


@rollout_app.command("start")
def rollout_start(
    ctx: typer.Context,
    names: list[str] = typer.Argument(None, help="Workloads to roll out (or controlroom)"),
    all_: bool = typer.Option(False, "--all", help="Every workload"),
    selector: str | None = typer.Option(
        None, "--selector", "-l", help="Workloads with these labels, e.g. ring=canary"
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Render the stacks offline; deploy nothing"),
    canary: int | None = typer.Option(None, "--canary", help="Stacks in the canary wave"),
    wave_size: str | None = typer.Option(None, "--wave-size", help="Stacks per wave: N or P%"),
    max_parallel: int | None = typer.Option(None, "--max-parallel", help="Stacks updated at once"),
    failure_budget: int | None = typer.Option(
        None, "--failure-budget", help="Failures tolerated before halting"
    ),
    bake_time: str | None = typer.Option(None, "--bake-time", help="Pause between waves, e.g. 5m"),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation"),
    detach: bool = typer.Option(False, "--detach", help="Run in the background; print the rollout id"),
) -> None:
    """Plan a rollout, show it, ask, then run it wave by wave (exit 1 unless every stack succeeded)."""
    from fleet.jobs import EngineKind
    from fleet.rollout import plan_rollout, start_rollout
    from fleet.rollout.session import open_journal
    from fleet.rollout.view import plan_table

    st = state(ctx)
    inventory = st.inventory()
    engine = EngineKind.render if dry_run else st.settings.rollout_engine
    if engine is EngineKind.pulumi:
        from fleet.engines.pulumi import PulumiEngine

        PulumiEngine(st.settings).preflight(inventory)  # before the journal or a lock is touched
    overrides = {
        "canary": canary,
        "wave_size": wave_size,
        "max_parallel": max_parallel,
        "failure_budget": failure_budget,
        "bake_time": bake_time,
    }
    journal, locks = open_journal(st.settings)
    with journal:
        plan = plan_rollout(
            inventory,
            journal,
            names=names or (),
            select_all=all_,
            selector=selector,
            overrides=overrides,
            engine=engine,
        )
        out = console()
        out.print(plan_table(plan))
        if not yes and sys.stdin.isatty() and not typer.confirm("Start this rollout?", default=False):
            raise typer.Exit(1)
        rollout = start_rollout(journal, locks, plan)
        if detach:
            _detach(st.settings.inventory, rollout.id)
            return
        _run_foreground(ctx, journal, locks, rollout.id)


@rollout_app.command("watch")
def rollout_watch(ctx: typer.Context, rollout_id: str = typer.Argument(..., help="The rollout id")) -> None:
    """Follow a rollout until it stops (exit 1 unless it succeeded)."""
    import time

    from fleet.journal import RolloutStatus
    from fleet.rollout.session import open_journal
    from fleet.rollout.view import RolloutView, summary_lines

    journal, _ = open_journal(state(ctx).settings)
    out = console()
    with journal, RolloutView(out).showing() as view:
        while True:
            detail = journal.get_rollout(rollout_id)
            view.update(detail)
            if detail.rollout.status.finished or detail.rollout.status is RolloutStatus.PAUSED:
                break
            time.sleep(0.5)
    for line in summary_lines(detail):
        out.print(line, markup=False, highlight=False)
    raise typer.Exit(0 if detail.rollout.status is RolloutStatus.SUCCEEDED else 1)


@rollout_app.command("resume")
def rollout_resume(
    ctx: typer.Context,
    rollout_id: str = typer.Argument(..., help="The rollout id"),
    detach: bool = typer.Option(False, "--detach", help="Run in the background"),
) -> None:
    """Continue a halted, paused or interrupted rollout (or upgrade, with its health gates and
    maintenance window); succeeded stacks are never run again."""
    from fleet.rollout import prepare_resume
    from fleet.rollout.session import open_journal

    st = state(ctx)
    journal, locks = open_journal(st.settings)
    with journal:
        _check_engine(st, journal.rollout(rollout_id).policy)
        prepare_resume(journal, locks, rollout_id)
        if detach:
            _detach(st.settings.inventory, rollout_id)
            return
        _run_foreground(ctx, journal, locks, rollout_id)


@rollout_app.command("cancel")
def rollout_cancel(ctx: typer.Context, rollout_id: str = typer.Argument(..., help="The rollout id")) -> None:
    """Stop a rollout: nothing new starts, running stacks finish, the rest are cancelled."""
    from fleet.journal import RolloutStatus
    from fleet.rollout.session import open_journal

    journal, _ = open_journal(state(ctx).settings)
    with journal:
        rollout = journal.request_cancel(rollout_id)
    if rollout.status is RolloutStatus.CANCELLED:
        typer.echo(f"Rollout {rollout_id} cancelled.")
    else:
        typer.echo(
            f"Cancel requested: running stacks finish, nothing new starts. "
            f"Watch: fleet rollout watch {rollout_id}"
        )


@app.command()
def status(ctx: typer.Context, output: Output = OUTPUT_OPTION) -> None:
    """Per stack: the last rollout, its result, the version set deployed, when, and the error;
    and the last dry run, which renders only (it never counts as deployed)."""
    from fleet.rollout.session import open_journal
    from fleet.rollout.view import without_stack_name

    st = state(ctx)
    inventory = st.inventory()
    journal, _ = open_journal(st.settings)
    with journal:
        found = {record.stack: record for record in journal.stack_status()}
        dry_runs = {record.stack: record for record in journal.last_dry_runs()}
    rows: list[dict[str, Any]] = []
    for stack in dict.fromkeys([*inventory.stacks(), *found, *dry_runs]):
        record = found.get(stack)
        dry = dry_runs.get(stack)
        rows.append(
            {
                "stack": stack,
                "in_inventory": stack in inventory.stacks(),
                "last_rollout": record.rollout_id if record else None,
                "result": record.status.value if record else "never deployed",
                "when": record.when.isoformat() if record else None,
                "versions": dict(record.deployed_versions) if record and record.deployed_versions else None,
                "deployed_at": record.deployed_at.isoformat() if record and record.deployed_at else None,
                "error": record.error if record else None,
                "last_dry_run": (
                    {"rollout": dry.rollout_id, "result": dry.status.value, "when": dry.when.isoformat()}
                    if dry
                    else None
                ),
            }
        )
    if output is Output.json:
        print_json(rows)
        return
    columns = ["stack", "last rollout", "result", "when", "versions deployed", "error", "last dry run"]
    cells = []
    for row in rows:
        versions = row["versions"] or {}
        dry = row["last_dry_run"]
        cells.append(
            [
                row["stack"] + ("" if row["in_inventory"] else " (offboarded)"),
                row["last_rollout"] or "",
                row["result"],
                _when(row["when"]),
                " ".join(f"{key}={value}" for key, value in versions.items()),
                without_stack_name(row["stack"], row["error"]),
                f"{dry['rollout']} {dry['result']} (not deployed)" if dry else "",
            ]
        )
    # Columns nobody has a value in are left out: a fleet only ever dry-run shows what it did.
    shown = [i for i, name in enumerate(columns) if name in ("stack", "result") or any(c[i] for c in cells)]
    table = Table(box=None, header_style="bold")
    for i in shown:
        table.add_column(columns[i])
    for row_cells in cells:
        table.add_row(*(row_cells[i] for i in shown))
    console().print(table)


def _when(iso: str | None) -> str:
    return (iso or "")[:19].replace("T", " ")


@app.command()
def history(
    ctx: typer.Context,
    output: Output = OUTPUT_OPTION,
    limit: int = typer.Option(20, "--limit", "-n", min=1, help="How many rollouts"),
) -> None:
    """Rollouts, newest first, with each wave's result and health gate."""
    from fleet.rollout.session import open_journal

    journal, _ = open_journal(state(ctx).settings)
    with journal:
        summaries = journal.list_rollouts(limit=limit)
    rows: list[dict[str, Any]] = [
        {
            "id": item.rollout.id,
            "kind": item.rollout.kind.value,
            "dry_run": item.rollout.dry_run,
            "status": item.rollout.status.value,
            "started_by": item.rollout.started_by,
            "created_at": item.rollout.created_at.isoformat(),
            "finished_at": item.rollout.finished_at.isoformat() if item.rollout.finished_at else None,
            "reason": item.rollout.halt_reason,
            "stacks": {status.value: count for status, count in item.counts.items()},
            "waves": [
                {
                    "index": wave.index,
                    "name": wave.name,
                    "status": wave.status.value,
                    "stacks": list(wave.stacks),
                    "counts": {status.value: count for status, count in wave.counts.items()},
                    "gate": None if wave.gate is None else _gate_json(wave.gate),
                }
                for wave in item.waves
            ],
        }
        for item in summaries
    ]
    if output is Output.json:
        print_json(rows)
        return
    table = Table(box=None, header_style="bold")
    for column in ("rollout", "kind", "status", "created", "by", "waves"):
        table.add_column(column)
    for row in rows:
        waves = "; ".join(_wave_cell(wave) for wave in row["waves"])
        label = row["status"] + (" (dry run)" if row["dry_run"] else "")
        table.add_row(row["id"], row["kind"], label, _when(row["created_at"]), row["started_by"], waves)
    console().print(table)


def _gate_json(gate: Any) -> dict[str, Any]:
    from fleet.rollout.view import gate_skipped, gate_summary

    return {
        "passed": gate.passed,
        "skipped": gate_skipped(gate),
        "reason": gate.reason,
        "summary": gate_summary(gate),
    }


def _wave_cell(wave: dict[str, Any]) -> str:
    gate = wave["gate"]
    suffix = f" (gate {gate['summary']})" if gate else ""
    return f"{wave['name']} {wave['status']}{suffix}"


@app.command()
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
        min=1,
        help="Stacks a process runs before it is replaced",
    ),
) -> None:
    """Run a Celery worker: one stack per process at a time (needs FLEET_BROKER_URL)."""
    from fleet.celery_app import BEAT_QUEUE, DEFAULT_QUEUE, create_app
    from fleet.errors import FleetError
    from fleet.executors.run import load_job_inventory

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
        f"--max-tasks-per-child={max_tasks_per_child}",
        f"--loglevel={loglevel}",
        "--without-gossip",
        "--without-mingle",
    ]
    if hostname:
        argv.append(f"--hostname={hostname}")
    celery.worker_main(argv)


def _check_engine(st: Any, policy: Any) -> None:
    if policy.get("engine") == "pulumi":
        from fleet.engines.pulumi import PulumiEngine

        PulumiEngine(st.settings).preflight(st.inventory())


def _run_foreground(ctx: typer.Context, journal: Any, locks: Any, rollout_id: str) -> None:
    """Drive the rollout here with the live view and the hooks its record calls for."""
    from fleet.journal import RolloutStatus
    from fleet.rollout.session import drive
    from fleet.rollout.view import RolloutView, summary_lines

    st = state(ctx)
    out = console()
    out.print(
        f"rollout {rollout_id} (detach-safe: resume with `fleet rollout resume {rollout_id}`)", markup=False
    )
    view = RolloutView(out)
    try:
        with view.showing():
            detail = drive(st.settings, journal, locks, rollout_id, view.update, inventory=st.inventory())
    except KeyboardInterrupt:
        typer.echo(
            f"interrupted; running stacks finish on their own. Resume: fleet rollout resume {rollout_id}"
        )
        raise typer.Exit(130) from None
    for line in summary_lines(detail):
        out.print(line, markup=False, highlight=False)
    raise typer.Exit(0 if detail.rollout.status is RolloutStatus.SUCCEEDED else 1)


def _detach(inventory: Any, rollout_id: str) -> None:
    """Start the coordinator in its own session, logging to ``<inventory>/.fleet/logs/<id>.log``."""
    logs = inventory / ".fleet" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log_path = logs / f"{rollout_id}.log"
    env = {**os.environ, "FLEET_INVENTORY": str(inventory.resolve())}
    with open(log_path, "ab") as log_file:
        subprocess.Popen(
            [sys.executable, "-m", "fleet.rollout", "--after-pid", str(os.getpid()), rollout_id],
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    typer.echo(f"Rollout {rollout_id} started in the background (log: {log_path}).")
    typer.echo(f"Watch it: fleet -i {inventory} rollout watch {rollout_id}")
