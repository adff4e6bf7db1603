"""``fleet rollout``: start a rollout, and watch, resume or cancel one."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import typer
from typer.core import TyperGroup

from fleet.cli.app import app, state
from fleet.cli.driving import drive_here, finish, preflight
from fleet.cli.output import console


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
    canary_bake_time: str | None = typer.Option(
        None, "--canary-bake-time", help="How long the canary runs before its gate (real deploys), e.g. 10m"
    ),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation"),
    detach: bool = typer.Option(False, "--detach", help="Run in the background; print the rollout id"),
    force: bool = typer.Option(
        False, "--force", help="Run the selected stacks even if nothing changed since their last deploy"
    ),
    preview: bool = typer.Option(
        False, "--preview", help="Show what each changed stack's update would do; deploy nothing"
    ),
) -> None:
    """Plan a rollout, show it, ask, then run it wave by wave (exit 1 unless every stack succeeded).

    Stacks whose desired state (inventory fields, versions, the programs) did not change since
    their last successful deploy are skipped unless --force; the plan names what changed."""
    from fleet.journal.connect import open_journal
    from fleet.kinds import EngineKind
    from fleet.rollout.coordinator import start_rollout
    from fleet.rollout.offboard import refuse_offboarding
    from fleet.rollout.plan import plan_rollout
    from fleet.rollout.view import plan_table

    st = state(ctx)
    inventory = st.inventory()
    engine = EngineKind.render if dry_run else st.settings.rollout_engine
    preflight(st, engine)  # before the journal or a lock is touched
    overrides = {
        "canary": canary,
        "wave_size": wave_size,
        "max_parallel": max_parallel,
        "failure_budget": failure_budget,
        "bake_time": bake_time,
        "canary_bake_time": canary_bake_time,
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
            force=force,
        )
        refuse_offboarding(journal, list(plan.stacks))
        out = console()
        out.print(plan_table(plan))
        if not plan.stacks:
            count = len(plan.unchanged)
            typer.echo(
                f"Nothing to do: {count} selected stack{'s' if count != 1 else ''} unchanged since "
                "the last successful deploy (--force runs them anyway)."
            )
            return
        if preview:
            _preview(inventory, journal, plan)
            return
        if not yes and sys.stdin.isatty() and not typer.confirm("Start this rollout?", default=False):
            raise typer.Exit(1)
        rollout = start_rollout(journal, locks, plan)
        if detach:
            _detach(st.settings.inventory, rollout.id, locks)
            return
        drive_here(st, journal, locks, rollout.id, inventory=inventory)


@rollout_app.command("watch")
def rollout_watch(ctx: typer.Context, rollout_id: str = typer.Argument(..., help="The rollout id")) -> None:
    """Follow a rollout until it stops; exit with its outcome's code (see the README)."""
    import time

    from fleet.journal import RolloutStatus
    from fleet.journal.connect import open_journal
    from fleet.rollout.view import RolloutView, journal_tail

    journal, locks = open_journal(state(ctx).settings)
    out = console()
    undriven: str | None = None
    with journal, RolloutView(out, journal_tail(journal)).showing() as view:
        while True:
            detail = journal.get_rollout(rollout_id)
            view.update(detail)
            status = detail.rollout.status
            if status.finished or status is RolloutStatus.PAUSED:
                break
            driver = locks.driver(rollout_id)
            if not driver.alive and status is RolloutStatus.CANCELLING:
                journal.interrupt(rollout_id, driver.reason or "nobody drives it")  # completes the cancel
                continue
            if not driver.alive:
                undriven = driver.reason
                break
            time.sleep(0.5)
    if undriven is not None:
        typer.echo(
            f"Nobody drives rollout {rollout_id}: {undriven}. "
            f"Resume it: fleet rollout resume {rollout_id} (or cancel it: fleet rollout cancel {rollout_id})",
            err=True,
        )
    finish(detail)


@rollout_app.command("resume")
def rollout_resume(
    ctx: typer.Context,
    rollout_id: str = typer.Argument(..., help="The rollout id"),
    detach: bool = typer.Option(False, "--detach", help="Run in the background"),
) -> None:
    """Continue a halted, paused or interrupted rollout (or upgrade, with its health gates and
    maintenance window); succeeded stacks are never run again."""
    from fleet.journal.connect import open_journal
    from fleet.rollout.coordinator import prepare_resume
    from fleet.rollout.driver import FINAL

    st = state(ctx)
    journal, locks = open_journal(st.settings)
    with journal:
        rollout = journal.rollout(rollout_id)
        if rollout.status in FINAL:
            typer.echo(f"Rollout {rollout_id} already {rollout.status}; nothing to resume.")
            finish(journal.get_rollout(rollout_id))
        preflight(st, rollout.policy.get("engine"))
        if detach:
            prepare_resume(journal, locks, rollout_id)  # a conflict is reported here, not in a log
            _detach(st.settings.inventory, rollout_id, locks)
            return
        drive_here(st, journal, locks, rollout_id)


@rollout_app.command("cancel")
def rollout_cancel(ctx: typer.Context, rollout_id: str = typer.Argument(..., help="The rollout id")) -> None:
    """Stop a rollout: nothing new starts, running stacks finish, the rest are cancelled."""
    from fleet.journal import RolloutStatus
    from fleet.journal.connect import open_journal

    journal, locks = open_journal(state(ctx).settings)
    with journal:
        rollout = journal.rollout(rollout_id)
        if rollout.status in (RolloutStatus.SUCCEEDED, RolloutStatus.FAILED, RolloutStatus.CANCELLED):
            typer.echo(f"Rollout {rollout_id} already {rollout.status}; nothing to cancel.")
            return
        rollout = journal.request_cancel(rollout_id)
        driver = locks.driver(rollout_id)
        if rollout.status is RolloutStatus.CANCELLING and not driver.alive:
            # Its coordinator died: nobody else will finish the cancel, so it ends here.
            journal.interrupt(rollout_id, driver.reason or "nobody drives it")
            typer.echo(
                f"Rollout {rollout_id} cancelled (nobody drove it: {driver.reason}); "
                "stacks still running finish on their own."
            )
            return
    if rollout.status is RolloutStatus.CANCELLED:
        typer.echo(f"Rollout {rollout_id} cancelled.")
    else:
        typer.echo(
            f"Cancel requested: running stacks finish, nothing new starts. "
            f"Watch: fleet rollout watch {rollout_id}"
        )


def _preview(inventory: Any, journal: Any, plan: Any) -> None:
    """Print each planned stack's preview: resources to create, update, replace or delete."""
    from fleet.kinds import EngineKind
    from fleet.rollout.preview import live_preview, preview_lines, render_preview

    if plan.engine is EngineKind.pulumi:
        previews = live_preview(inventory, plan.stacks, parallel=plan.policy.max_parallel)
    else:
        previews = render_preview(inventory, journal, plan.stacks)
    out = console()
    for line in preview_lines(previews):
        out.print(line, markup=False, highlight=False)
    if any(found.error is not None for found in previews):
        raise typer.Exit(1)


def _detach(inventory: Any, rollout_id: str, locks: Any) -> None:
    """Start the coordinator in its own session, logging to ``<inventory>/.fleet/logs/<id>.log``,
    and hand it this process's stack locks of the rollout."""
    import secrets

    from fleet.journal.locks import LockHolder

    logs = inventory / ".fleet" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log_path = logs / f"{rollout_id}.log"
    env = {**os.environ, "FLEET_INVENTORY": str(inventory.resolve())}
    token = secrets.token_hex(16)
    command = [sys.executable, "-m", "fleet.rollout", "--after-pid", str(os.getpid())]
    with open(log_path, "ab") as log_file:
        child = subprocess.Popen(
            [*command, "--lock-token", token, rollout_id],
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    me = LockHolder.this_process()
    locks.hand_over(rollout_id, LockHolder(me.name, me.hostname, child.pid, token))
    typer.echo(f"Rollout {rollout_id} started in the background (log: {log_path}).")
    typer.echo(f"Watch it: fleet -i {inventory} rollout watch {rollout_id}")
