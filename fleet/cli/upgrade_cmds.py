"""Upgrade commands: ``fleet upgrade plan|apply|run``, ``fleet versions``, ``fleet beat``."""

from __future__ import annotations

import sys
from typing import Any

import typer
from rich.table import Table

from fleet.cli.main import app, state
from fleet.cli.output import OUTPUT_OPTION, Output, console, print_json
from fleet.errors import UserError

upgrade_app = typer.Typer(help="Roll a new version set out to the fleet.", no_args_is_help=True)
app.add_typer(upgrade_app, name="upgrade")

TO_OPTION = typer.Option(..., "--to", help="New versions: alloy=X[,mimir=Y,...] (repeatable)")


def _plan(st: Any, to: list[str]) -> Any:
    from fleet.journal import utc_now
    from fleet.rollout.session import open_journal
    from fleet.upgrades import plan_upgrade
    from fleet.versionset import apply_changes, edit_fleet_text, parse_changes

    inventory = st.inventory()
    changes = parse_changes(to)
    target = apply_changes(inventory.fleet.spec.versions, changes)
    edit_fleet_text((inventory.root / "fleet.yaml").read_text(encoding="utf-8"), changes)  # fails early
    journal, _locks = open_journal(st.settings)
    with journal:
        deployed = journal.deployed_versions()
    return changes, plan_upgrade(inventory, target, deployed=deployed, now=utc_now())


def _show_plan(plan: Any) -> None:
    out = console()
    changed = [
        c for c in ("alloy", "mimir", "loki", "grafana") if getattr(plan.before, c) != getattr(plan.after, c)
    ]
    versions = ", ".join(f"{c} {getattr(plan.before, c)} -> {getattr(plan.after, c)}" for c in changed)
    out.print(f"version set: {versions or 'unchanged'}", markup=False, highlight=False)
    table = Table("stack", "changes", "wave", box=None, pad_edge=False)
    wave_of = {stack: wave.name for wave in plan.waves for stack in wave.stacks}
    for change in plan.stacks:
        text = ", ".join(f"{c.component} {c.before or '(none)'} -> {c.after}" for c in change.changes)
        suffix = "" if change.deployed else " (not deployed yet)"
        table.add_row(change.stack, text + suffix, wave_of.get(change.stack, ""))
    if plan.stacks:
        out.print(table)
    for hold in plan.held:
        out.print(
            f"held: {hold.workload} keeps {hold.component} {hold.pinned} "
            f"(pinned; the fleet moves to {hold.fleet})",
            markup=False,
            highlight=False,
        )
    if plan.unchanged:
        out.print(f"unchanged: {', '.join(plan.unchanged)}", markup=False, highlight=False)
    if plan.window is not None:
        out.print(
            f"maintenance window: {plan.window.start.isoformat()} to {plan.window.end.isoformat()}",
            markup=False,
            highlight=False,
        )


@upgrade_app.command("plan")
def upgrade_plan(ctx: typer.Context, to: list[str] = TO_OPTION, output: Output = OUTPUT_OPTION) -> None:
    """Show what a new version set changes: stacks from what to what, held pins, waves, window."""
    _changes, plan = _plan(state(ctx), to)
    if output is Output.json:
        print_json(plan.to_json())
        return
    _show_plan(plan)


@upgrade_app.command("apply")
def upgrade_apply(
    ctx: typer.Context,
    to: list[str] = TO_OPTION,
    at: str | None = typer.Option(None, "--at", help="next-window: leave the rollout to `fleet beat`"),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation"),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the plan and the fleet.yaml change only"),
) -> None:
    """Write the new version set into fleet.yaml (comments kept), then roll it out now, or in the
    next maintenance window with --at next-window (exit 1 unless every stack succeeded)."""
    from fleet.versionset import edit_fleet_text, write_version_set

    st = state(ctx)
    if at not in (None, "next-window"):
        raise UserError(f"--at {at!r}: the only choice is next-window")
    inventory = st.inventory()
    if at is not None and inventory.fleet.spec.upgrades is None:
        raise UserError("--at next-window: fleet.yaml has no spec.upgrades schedule")
    changes, plan = _plan(st, to)
    _show_plan(plan)
    path = inventory.root / "fleet.yaml"
    old_text = path.read_text(encoding="utf-8")
    new_text = edit_fleet_text(old_text, changes)
    if new_text == old_text:
        typer.echo("fleet.yaml already holds these versions; nothing to write.")
    if dry_run:
        for number, (old, new) in enumerate(
            zip(old_text.splitlines(), new_text.splitlines(), strict=True), 1
        ):
            if old != new:
                typer.echo(f"fleet.yaml:{number}: - {old.strip()}\nfleet.yaml:{number}: + {new.strip()}")
        typer.echo("dry run: nothing written, nothing started.")
        return
    if not yes and sys.stdin.isatty() and not typer.confirm("Write fleet.yaml and upgrade?", default=False):
        raise typer.Exit(1)
    write_version_set(inventory.root, changes)
    typer.echo(f"Wrote the new version set to {path}.")
    if at is not None:
        window = plan.window
        typer.echo(
            f"The scheduler (fleet beat) upgrades {len(plan.stacks)} stack(s) in the window "
            f"{window.start.isoformat()} to {window.end.isoformat()}."
        )
        return
    if not plan.stacks:
        typer.echo("No stack needs a change.")
        return
    _start_now(ctx, list(plan.stack_names))


def _start_now(ctx: typer.Context, stacks: list[str]) -> None:
    from fleet.inventory import load_inventory
    from fleet.jobs import EngineKind
    from fleet.rollout.session import open_journal
    from fleet.rollout.upgrade import start_upgrade

    st = state(ctx)
    inventory = load_inventory(st.settings.inventory)  # with the version set just written
    engine = st.settings.rollout_engine
    if engine is EngineKind.pulumi:
        from fleet.engines.pulumi import PulumiEngine

        PulumiEngine(st.settings).preflight(inventory)
    journal, locks = open_journal(st.settings)
    with journal:
        rollout = start_upgrade(inventory, journal, locks, stacks, engine=engine)
        _drive(ctx, inventory, journal, locks, rollout.id, in_window=None)


def _drive(
    ctx: typer.Context, inventory: Any, journal: Any, locks: Any, rollout_id: str, *, in_window: bool | None
) -> None:
    from fleet.executors import executor_for
    from fleet.journal import RolloutStatus
    from fleet.rollout.coordinator import Timing
    from fleet.rollout.upgrade import run_upgrade
    from fleet.rollout.view import RolloutView, summary_lines

    settings = state(ctx).settings
    out = console()
    out.print(f"upgrade {rollout_id} (resume with `fleet upgrade run {rollout_id}`)", markup=False)
    view = RolloutView(out)
    executor = executor_for(settings)
    try:
        with view.showing():
            detail = run_upgrade(
                inventory,
                journal,
                locks,
                executor,
                rollout_id,
                in_window=in_window,
                on_update=view.update,
                timing=Timing.for_ttl(float(settings.lock_ttl)),
            )
    finally:
        executor.shutdown()
    for line in summary_lines(detail):
        out.print(line, markup=False, highlight=False)
    raise typer.Exit(0 if detail.rollout.status in (RolloutStatus.SUCCEEDED, RolloutStatus.PAUSED) else 1)


@upgrade_app.command("run")
def upgrade_run(
    ctx: typer.Context,
    rollout_id: str | None = typer.Argument(None, help="An upgrade rollout to continue"),
    stacks: str | None = typer.Option(None, "--stacks", help="Start an upgrade of these stacks (a,b,c)"),
    scheduled: bool = typer.Option(
        False,
        "--scheduled",
        help="Pause when the maintenance window closes (always so for upgrades fleet beat started)",
    ),
) -> None:
    """Run (or continue) an upgrade rollout in the foreground; `fleet beat` starts this itself."""
    from fleet.journal import RolloutKind
    from fleet.rollout.hooks import SCHEDULER_ACTOR
    from fleet.rollout.session import open_journal
    from fleet.rollout.upgrade import start_upgrade

    if (rollout_id is None) == (stacks is None):
        raise UserError("give either a rollout id or --stacks")
    st = state(ctx)
    inventory = st.inventory()
    journal, locks = open_journal(st.settings)
    with journal:
        if stacks is not None:
            names = [name.strip() for name in stacks.split(",") if name.strip()]
            started_by = SCHEDULER_ACTOR if scheduled else None
            rollout_id = start_upgrade(
                inventory, journal, locks, names, engine=st.settings.rollout_engine, started_by=started_by
            ).id
        assert rollout_id is not None
        if journal.rollout(rollout_id).kind is not RolloutKind.UPGRADE:
            raise UserError(
                f"rollout {rollout_id} is not an upgrade; use `fleet rollout resume {rollout_id}`"
            )
        # --scheduled keeps it inside the window; otherwise its record decides (see rollout_hooks).
        _drive(ctx, inventory, journal, locks, rollout_id, in_window=True if scheduled else None)


@app.command()
def versions(ctx: typer.Context, output: Output = OUTPUT_OPTION) -> None:
    """The version skew: per stack and component, the deployed version against the desired one."""
    from fleet.rollout.session import open_journal
    from fleet.skew import skew_table

    st = state(ctx)
    inventory = st.inventory()
    journal, _locks = open_journal(st.settings)
    with journal:
        entries = skew_table(inventory, journal.deployed_versions())
    if output is Output.json:
        print_json([entry.to_json() for entry in entries])
        return
    table = Table("stack", "component", "deployed", "desired", "state", box=None, pad_edge=False)
    for entry in entries:
        desired = f"{entry.desired} (pinned)" if entry.pinned else entry.desired
        table.add_row(entry.stack, entry.component, entry.deployed or "-", desired, entry.state)
    console().print(table)
    behind = sorted({e.stack for e in entries if e.state == "differs"})
    typer.echo(
        f"{len(behind)} stack(s) differ from the inventory" + (f": {', '.join(behind)}" if behind else "")
    )


@app.command()
def beat(ctx: typer.Context) -> None:
    """Run the scheduler of upgrades and drift checks (Celery beat); several may run, one sends."""
    st = state(ctx)
    broker = st.settings.broker_url
    if not broker:
        raise UserError("fleet beat needs a broker: set FLEET_BROKER_URL (e.g. redis://localhost:6379/0)")
    if not broker.startswith(("redis://", "rediss://")):
        raise UserError("fleet beat needs a Redis broker (redis:// or rediss://) for its single-beat lease")
    import redis

    from fleet.beat import RedisLease, configure_beat, guarded_scheduler_class
    from fleet.celery_app import create_app

    inventory = st.inventory()
    celery = create_app(st.settings)
    configure_beat(celery, str(inventory.root.resolve()))
    client = redis.Redis.from_url(broker)
    scheduler = guarded_scheduler_class(lambda _app: RedisLease(client))
    typer.echo(f"fleet beat: scheduling {inventory.root.resolve()} (one leader among all beats)")
    celery.Beat(scheduler=scheduler, loglevel="INFO", quiet=True).run()


@app.command()
def drift(
    ctx: typer.Context,
    names: list[str] = typer.Argument(None, help="Stacks to check (workloads or controlroom)"),
    all_: bool = typer.Option(False, "--all", help="Every stack"),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Offline: compare a fresh render with the last recorded render"
    ),
    accept: bool = typer.Option(
        False, "--accept", help="With --dry-run: accept drifted renders as the new baseline"
    ),
    no_record: bool = typer.Option(
        False, "--no-record", help="Leave the check out of the history (and send no webhook)"
    ),
    rollout_id: str | None = typer.Option(
        None, "--rollout", help="Run the drift check recorded as this id (fleet beat starts these)"
    ),
    output: Output = OUTPUT_OPTION,
) -> None:
    """Find stacks that drifted from the inventory (exit 1 when any did, or could not be checked).

    Each check is recorded in the history as a drift rollout (drifted stacks as failed), and
    spec.notifications.webhook hears of checks that found drift."""
    from fleet.drift import live_drift, record_check, render_drift, run_check, stacks_for
    from fleet.rollout.session import open_journal

    st = state(ctx)
    inventory = st.inventory()
    if accept and not dry_run and rollout_id is None:
        raise UserError("--accept only applies to --dry-run (render baselines)")
    stacks: list[str] = []
    if rollout_id is not None:
        if names or all_ or dry_run or no_record:
            raise UserError("--rollout takes no stacks, --all, --dry-run or --no-record: its record says")
    else:
        stacks = stacks_for(inventory, names or (), all_)
        if not dry_run:
            from fleet.engines.pulumi import require_pulumi_cli

            require_pulumi_cli()  # before anything is recorded
    journal, _locks = open_journal(st.settings)
    with journal:
        if no_record:
            if dry_run:
                report = render_drift(inventory, journal, stacks, record=accept)
            else:
                report = live_drift(inventory, stacks, parallel=inventory.fleet.spec.rollout.max_parallel)
        else:
            if rollout_id is None:
                rollout_id = record_check(inventory, journal, stacks, dry_run=dry_run).id
            dry_run = journal.rollout(rollout_id).dry_run
            report = run_check(inventory, journal, rollout_id, accept=accept)
    _show_drift(report, dry_run=dry_run, rollout_id=None if no_record else rollout_id, output=output)
    if report.drifted or report.failed:
        raise typer.Exit(1)


def _show_drift(report: Any, *, dry_run: bool, rollout_id: str | None, output: Output) -> None:
    if output is Output.json:
        print_json(
            {
                "mode": "render" if dry_run else "live",
                "rollout": rollout_id,
                "drifted": list(report.drifted),
                "failed": list(report.failed),
                "stacks": [s.to_json() for s in report.stacks],
            }
        )
        return
    for result in report.stacks:
        if result.error is not None:
            typer.echo(f"{result.stack}: could not check: {result.error}")
        elif result.baseline:
            typer.echo(f"{result.stack}: no earlier render; recorded this one as the baseline")
        elif not result.drifted:
            typer.echo(f"{result.stack}: no drift")
        else:
            typer.echo(f"{result.stack}: drifted")
            for change in result.changes:
                typer.echo(f"  {change}")
    if rollout_id is not None:
        typer.echo(f"recorded as drift check {rollout_id} (fleet history)", err=True)
