"""``fleet upgrade plan|apply|run``: roll a new version set out to the fleet."""

from __future__ import annotations

import sys
from typing import Any

import typer
from rich.table import Table

from fleet.cli.app import app, state
from fleet.cli.driving import drive_here, preflight
from fleet.cli.output import OUTPUT_OPTION, Output, console, print_json
from fleet.errors import UserError

upgrade_app = typer.Typer(help="Roll a new version set out to the fleet.", no_args_is_help=True)
app.add_typer(upgrade_app, name="upgrade")

TO_OPTION = typer.Option(..., "--to", help="New versions: alloy=X[,mimir=Y,...] (repeatable)")


def _plan(st: Any, to: list[str]) -> Any:
    from fleet.journal import utc_now
    from fleet.journal.connect import open_journal
    from fleet.upgrade.plan import plan_upgrade
    from fleet.upgrade.versionset import apply_changes, edit_fleet_text, parse_changes

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
    """Write the new version set into fleet.yaml (comments kept) and roll it out now, or in the
    next maintenance window with --at next-window (exit 1 unless every stack succeeded). Now:
    fleet.yaml is written only once the rollout can start (preflight passed, stacks locked)."""
    from fleet.upgrade.versionset import edit_fleet_text, write_version_set

    st = state(ctx)
    if at not in (None, "next-window"):
        raise UserError(f"--at {at!r}: the only choice is next-window")
    inventory = st.inventory()
    if at is not None and inventory.fleet.spec.upgrades is None:
        raise UserError("--at next-window: fleet.yaml has no spec.upgrades schedule")
    if at is None and not dry_run:
        preflight(st, st.settings.rollout_engine)  # before anything is shown, asked or written
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
    if at is not None:
        write_version_set(inventory.root, changes)
        typer.echo(f"Wrote the new version set to {path}.")
        window = plan.window
        typer.echo(
            f"The scheduler (fleet beat) upgrades {len(plan.stacks)} stack(s) in the window "
            f"{window.start.isoformat()} to {window.end.isoformat()}."
        )
        return
    if not plan.stacks:
        write_version_set(inventory.root, changes)
        typer.echo(f"Wrote the new version set to {path}.")
        typer.echo("No stack needs a change.")
        return
    _start_now(ctx, changes, list(plan.stack_names))


def _start_now(ctx: typer.Context, changes: Any, stacks: list[str]) -> None:
    """Preflight, lock and record the upgrade, and only then write fleet.yaml and drive it: a
    rollout that cannot start (no pulumi CLI, a stack locked) leaves the file as it was."""
    from fleet.journal import RolloutStatus
    from fleet.journal.connect import open_journal
    from fleet.upgrade.start import start_upgrade
    from fleet.upgrade.versionset import with_version_set, write_version_set

    st = state(ctx)
    engine = st.settings.rollout_engine
    inventory = with_version_set(st.inventory(), changes)
    journal, locks = open_journal(st.settings)
    with journal:
        rollout = start_upgrade(inventory, journal, locks, stacks, engine=engine)
        try:
            write_version_set(inventory.root, changes)
        except BaseException:
            journal.set_status(rollout.id, RolloutStatus.FAILED, reason="fleet.yaml could not be written")
            locks.release(rollout.id)
            raise
        typer.echo(f"Wrote the new version set to {inventory.root / 'fleet.yaml'}.")
        drive_here(st, journal, locks, rollout.id, inventory=inventory)


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
    from fleet.journal.connect import open_journal
    from fleet.rollout.hooks import SCHEDULER_ACTOR
    from fleet.upgrade.start import start_upgrade

    if (rollout_id is None) == (stacks is None):
        raise UserError("give either a rollout id or --stacks")
    st = state(ctx)
    inventory = st.inventory()
    journal, locks = open_journal(st.settings)
    with journal:
        if stacks is not None:
            preflight(st, st.settings.rollout_engine)  # before anything is recorded
            names = [name.strip() for name in stacks.split(",") if name.strip()]
            started_by = SCHEDULER_ACTOR if scheduled else None
            rollout_id = start_upgrade(
                inventory, journal, locks, names, engine=st.settings.rollout_engine, started_by=started_by
            ).id
        assert rollout_id is not None
        rollout = journal.rollout(rollout_id)
        if rollout.kind is not RolloutKind.UPGRADE:
            raise UserError(
                f"rollout {rollout_id} is not an upgrade; use `fleet rollout resume {rollout_id}`"
            )
        preflight(st, rollout.policy.get("engine"))
        # --scheduled keeps it inside the window; otherwise its record decides (see rollout_hooks).
        drive_here(st, journal, locks, rollout_id, inventory=inventory, in_window=True if scheduled else None)
