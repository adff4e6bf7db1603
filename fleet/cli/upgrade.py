"""``fleet upgrade plan|apply|run``: roll a new version set out to the fleet."""

from __future__ import annotations

from typing import Any

import typer

from fleet.cli.app import HelpGroup, app, state
from fleet.cli.confirm import YES_OPTION, confirm
from fleet.cli.driving import drive_here, preflight
from fleet.cli.help import examples
from fleet.cli.output import OUTPUT_OPTION, Output, console, emit, fitting_table
from fleet.errors import UserError

upgrade_app = typer.Typer(
    cls=HelpGroup,
    help="Roll a new version set out to the fleet.",
    epilog=examples(
        "fleet upgrade plan --to alloy=1.5.0,mimir=6.1.0",
        "fleet upgrade apply --to alloy=1.5.0 --diff",
        "fleet upgrade apply --to alloy=1.5.0 --yes",
    ),
)
app.add_typer(upgrade_app, name="upgrade")

TO_OPTION = typer.Option(
    ...,
    "--to",
    metavar="COMPONENT=VERSION,…",
    help="New chart versions, e.g. alloy=1.5.0,mimir=6.1.0 (repeatable)",
)


def _plan(st: Any, to: list[str]) -> Any:
    from fleet.journal import utc_now
    from fleet.journal.connect import existing_journal
    from fleet.upgrade.plan import plan_upgrade
    from fleet.upgrade.versionset import apply_changes, edit_fleet_text, parse_changes

    inventory = st.inventory()
    changes = parse_changes(to)
    target = apply_changes(inventory.fleet.spec.versions, changes)
    edit_fleet_text((inventory.root / "fleet.yaml").read_text(encoding="utf-8"), changes)  # fails early
    deployed: dict[str, Any] = {}
    journal = existing_journal(st.settings)  # a plan only reads: no journal yet, nothing deployed
    if journal is not None:
        with journal:
            deployed = dict(journal.deployed_versions())
    return changes, plan_upgrade(inventory, target, deployed=deployed, now=utc_now())


def _show_plan(plan: Any, *, stderr: bool = False) -> None:
    out = console(stderr=stderr)
    changed = [
        c for c in ("alloy", "mimir", "loki", "grafana") if getattr(plan.before, c) != getattr(plan.after, c)
    ]
    versions = ", ".join(f"{c} {getattr(plan.before, c)} -> {getattr(plan.after, c)}" for c in changed)
    out.print(f"version set: {versions or 'unchanged'}", markup=False, highlight=False)
    wave_of = {stack: wave.name for wave in plan.waves for stack in wave.stacks}
    cells = []
    for change in plan.stacks:
        text = ", ".join(f"{c.component} {c.before or '(none)'} -> {c.after}" for c in change.changes)
        suffix = "" if change.deployed else " (not deployed yet)"
        cells.append([change.stack, text + suffix, wave_of.get(change.stack, "")])
    if plan.stacks:
        out.print(fitting_table(("stack", "changes", "wave"), cells, keep=("stack", "wave"), width=out.width))
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


@upgrade_app.command(
    "plan",
    epilog=examples("fleet upgrade plan --to alloy=1.5.0", "fleet upgrade plan --to loki=6.47.0 -o json"),
)
def upgrade_plan(ctx: typer.Context, to: list[str] = TO_OPTION, output: Output = OUTPUT_OPTION) -> None:
    """Show what a new version set changes: stacks from what to what, held pins, waves, window."""
    _changes, plan = _plan(state(ctx), to)
    if output is not Output.table:
        emit(plan.to_json(), output, table=str)
        return
    _show_plan(plan)


@upgrade_app.command(
    "apply",
    epilog=examples(
        "fleet upgrade apply --to alloy=1.5.0 --diff   # the plan and the fleet.yaml change only",
        "fleet upgrade apply --to alloy=1.5.0          # asks, writes fleet.yaml, rolls out now",
        "fleet upgrade apply --to alloy=1.5.0 --at next-window --yes",
    ),
)
def upgrade_apply(
    ctx: typer.Context,
    to: list[str] = TO_OPTION,
    at: str | None = typer.Option(
        None, "--at", metavar="next-window", help="next-window: leave the rollout to `fleet beat`"
    ),
    yes: bool = YES_OPTION,
    diff: bool = typer.Option(
        False, "--diff", "--plan", help="Show the plan and the fleet.yaml change only; write nothing"
    ),
    old_dry_run: bool = typer.Option(
        False, "--dry-run", hidden=True, help="Deprecated name of --diff (--dry-run means render offline)"
    ),
    output: Output = OUTPUT_OPTION,
) -> None:
    """Write the new version set into fleet.yaml (comments kept) and roll it out now, or in the
    next maintenance window with --at next-window (exit 1 unless every stack succeeded). Now:
    fleet.yaml is written only once the rollout can start (preflight passed, stacks locked).

    It asks first (on stderr); without a terminal it needs --yes."""
    from fleet.upgrade.versionset import edit_fleet_text, write_version_set

    if old_dry_run:
        typer.echo("warning: `upgrade apply --dry-run` is deprecated; it is now `--diff`", err=True)
    dry_run = diff or old_dry_run

    def say(line: str) -> None:  # -o json|yaml: stdout holds only the rollout document
        typer.echo(line, err=output is not Output.table)

    st = state(ctx)
    if at not in (None, "next-window"):
        raise UserError(f"--at {at!r}: the only choice is next-window")
    inventory = st.inventory()
    if at is not None and inventory.fleet.spec.upgrades is None:
        raise UserError("--at next-window: fleet.yaml has no spec.upgrades schedule")
    if at is None and not dry_run:
        # Before anything is shown, asked or written.
        preflight(st, st.settings.rollout_engine, instead="; or, to see the change only: --diff")
    changes, plan = _plan(st, to)
    _show_plan(plan, stderr=output is not Output.table)
    path = inventory.root / "fleet.yaml"
    old_text = path.read_text(encoding="utf-8")
    new_text = edit_fleet_text(old_text, changes)
    if new_text == old_text:
        say("fleet.yaml already holds these versions; nothing to write.")
    edits = [
        {"line": number, "before": old.strip(), "after": new.strip()}
        for number, (old, new) in enumerate(zip(old_text.splitlines(), new_text.splitlines(), strict=True), 1)
        if old != new
    ]

    def document(*, written: bool) -> None:  # -o json|yaml when no rollout starts here
        if output is not Output.table:
            emit(
                {**plan.to_json(), "fleet_yaml": edits, "written": written, "started": None},
                output,
                table=str,
            )

    if dry_run:
        for edit in edits:
            say(
                f"fleet.yaml:{edit['line']}: - {edit['before']}\nfleet.yaml:{edit['line']}: + {edit['after']}"
            )
        say("diff only: nothing written, nothing started.")
        document(written=False)
        return
    changed = new_text != old_text
    if not changed and not plan.stacks:
        say("No stack needs a change.")
        document(written=False)
        return
    confirm("Write fleet.yaml and upgrade?", yes=yes)
    if at is not None:
        if changed:
            write_version_set(inventory.root, changes)
            say(f"Wrote the new version set to {path}.")
        window = plan.window
        say(
            f"The scheduler (fleet beat) upgrades {len(plan.stacks)} stack(s) in the window "
            f"{window.start.isoformat()} to {window.end.isoformat()}."
        )
        document(written=changed)
        return
    if not plan.stacks:
        write_version_set(inventory.root, changes)
        say(f"Wrote the new version set to {path}.")
        say("No stack needs a change.")
        document(written=True)
        return
    _start_now(ctx, changes, list(plan.stack_names), output)


def _start_now(ctx: typer.Context, changes: Any, stacks: list[str], output: Output = Output.table) -> None:
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
        typer.echo(
            f"Wrote the new version set to {inventory.root / 'fleet.yaml'}.", err=output is not Output.table
        )
        drive_here(st, journal, locks, rollout.id, inventory=inventory, output=output)


@upgrade_app.command(
    "run",
    epilog=examples(
        "fleet upgrade run r-20261201-0300-ab12", "fleet upgrade run --stacks payments-prod,search-staging"
    ),
)
def upgrade_run(
    ctx: typer.Context,
    rollout_id: str | None = typer.Argument(
        None, metavar="ID", show_default=False, help="An upgrade rollout to continue"
    ),
    stacks: str | None = typer.Option(None, "--stacks", help="Start an upgrade of these stacks (a,b,c)"),
    scheduled: bool = typer.Option(
        False,
        "--scheduled",
        help="Pause when the maintenance window closes (always so for upgrades fleet beat started)",
    ),
    output: Output = OUTPUT_OPTION,
) -> None:
    """Run (or continue) an upgrade rollout in the foreground; `fleet beat` starts this itself."""
    from fleet.errors import did_you_mean
    from fleet.journal import RolloutKind
    from fleet.journal.connect import open_journal, open_recorded_journal
    from fleet.rollout.hooks import SCHEDULER_ACTOR
    from fleet.upgrade.start import start_upgrade

    if (rollout_id is None) == (stacks is None):
        raise UserError("give either a rollout id or --stacks")
    st = state(ctx)
    inventory = st.inventory()
    names: list[str] = []
    if stacks is not None:  # checked before the journal exists: an invalid request writes nothing
        names = [name.strip() for name in stacks.split(",") if name.strip()]
        if not names:
            raise UserError("--stacks: no stack names; give names like payments-prod,search-staging")
        known = inventory.stacks()
        unknown = [name for name in names if name not in known]
        if unknown:
            noun = "stack" if len(unknown) == 1 else "stacks"
            hint = did_you_mean(unknown[0], known) if len(unknown) == 1 else ""
            raise UserError(f"--stacks: unknown {noun}: {', '.join(unknown)}{hint}")
        preflight(st, st.settings.rollout_engine)
    journal, locks = (
        open_journal(st.settings) if rollout_id is None else open_recorded_journal(st.settings, rollout_id)
    )
    with journal:
        if stacks is not None:
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
        drive_here(
            st,
            journal,
            locks,
            rollout_id,
            inventory=inventory,
            in_window=True if scheduled else None,
            output=output,
        )
