"""``fleet rollout``: start a rollout, and watch, resume or cancel one."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import typer

from fleet.cli.app import HelpGroup, app, state
from fleet.cli.confirm import YES_OPTION, confirm
from fleet.cli.driving import drive_here, finish, preflight
from fleet.cli.help import examples
from fleet.cli.output import OUTPUT_OPTION, Output, console, emit
from fleet.cli.status import MAX_LIMIT


class RolloutGroup(HelpGroup):
    """``fleet rollout NAME...`` means ``fleet rollout start NAME...``; subcommands keep their names."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:  # type: ignore[override]
        # Workload names can never be a subcommand's name: validate rejects them
        # (fleet.inventory.models.RESERVED_NAMES), so `fleet rollout watch` is always the command.
        # Bare, it prints its help (HelpGroup), as every group does.
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["start", *args]
        return super().parse_args(ctx, args)


rollout_app = typer.Typer(
    cls=RolloutGroup,
    help="Roll stacks out in waves; list, show, watch, resume or cancel a rollout.",
    epilog=examples(
        "fleet rollout --all                       # plan, confirm, run with a live view",
        "fleet rollout payments-prod --yes -o json # for scripts: the id and the result",
        "fleet rollout -l 'ring in (canary,early),environment!=production'",
        "fleet rollout list",
        "fleet rollout watch ID | resume ID | cancel ID",
    ),
    context_settings={"help_option_names": ["--help", "-h"]},
)
app.add_typer(rollout_app, name="rollout")


@rollout_app.command(
    "start",
    epilog=examples(
        "fleet rollout --all --dry-run             # offline render; nothing real touched or deployed",
        "fleet rollout payments-prod search-staging",
        "fleet rollout -l ring=canary --yes",
        "fleet rollout -l 'environment=staging,!frozen'",
        "fleet rollout --all --canary 2 --wave-size 10% --max-parallel 16 --bake-time 5m",
        "fleet rollout --all --yes --detach -o json",
    ),
)
def rollout_start(
    ctx: typer.Context,
    names: list[str] = typer.Argument(
        None, metavar="NAME", help="Workloads to roll out (or controlroom)", show_default=False
    ),
    all_: bool = typer.Option(False, "--all", help="Every workload"),
    selector: str | None = typer.Option(
        None,
        "--selector",
        "-l",
        metavar="SELECTOR",
        help="kubectl syntax over labels and environment, cloud, region: "
        "ring=canary, ring!=canary, 'ring in (a,b)', 'ring notin (a)', ring, !ring; comma = and",
    ),
    dry_run: bool = typer.Option(
        False,
        "--dry-run",
        help="Render the stacks offline (RenderEngine): nothing real touched, never recorded as deployed",
    ),
    canary: int | None = typer.Option(None, "--canary", help="Stacks in the canary wave"),
    wave_size: str | None = typer.Option(None, "--wave-size", help="Stacks per wave: N or P%"),
    max_parallel: int | None = typer.Option(None, "--max-parallel", help="Stacks updated at once"),
    failure_budget: int | None = typer.Option(
        None, "--failure-budget", help="Failures tolerated before halting"
    ),
    bake_time: str | None = typer.Option(
        None, "--bake-time", help="Pause between waves, e.g. 5m (at most 24h)"
    ),
    canary_bake_time: str | None = typer.Option(
        None,
        "--canary-bake-time",
        help="How long the canary runs before its gate (real deploys), e.g. 10m (at most 24h)",
    ),
    yes: bool = YES_OPTION,
    detach: bool = typer.Option(False, "--detach", help="Run in the background; print the rollout id"),
    force: bool = typer.Option(
        False, "--force", help="Run the selected stacks even if nothing changed since their last deploy"
    ),
    preview: bool = typer.Option(
        False, "--preview", help="Show what each changed stack's update would do; deploy nothing"
    ),
    output: Output = OUTPUT_OPTION,
) -> None:
    """Plan a rollout, show it, ask, then run it wave by wave (exit 1 unless every stack succeeded).

    Stacks whose desired state (inventory fields, versions, the programs) did not change since
    their last successful deploy are skipped unless --force; the plan names what changed.

    A real rollout asks first (on stderr); without a terminal it needs --yes. A dry run never asks.
    With -o json|yaml the plan and the live view go to stderr, and stdout gets the rollout's id and
    result (with --detach: its id and log)."""
    from fleet.journal.connect import planning_journal
    from fleet.kinds import EngineKind
    from fleet.rollout.coordinator import start_rollout
    from fleet.rollout.offboard import refuse_offboarding
    from fleet.rollout.plan import plan_rollout, select_stacks
    from fleet.rollout.view import plan_table

    st = state(ctx)
    inventory = st.inventory()
    engine = EngineKind.render if dry_run else st.settings.rollout_engine
    overrides = {
        "canary": canary,
        "wave_size": wave_size,
        "max_parallel": max_parallel,
        "failure_budget": failure_budget,
        "bake_time": bake_time,
        "canary_bake_time": canary_bake_time,
    }
    # Check the request, then what it needs, before the journal exists: an invalid one writes nothing.
    select_stacks(inventory, names=names or (), select_all=all_, selector=selector, overrides=overrides)
    preflight(st, engine, instead="; or, offline: --dry-run")
    # Planned against an empty journal in memory when there is none yet: a preview, a "no" or
    # an error before start_rollout leaves no journal behind.
    with planning_journal(st.settings) as planning:
        plan = plan_rollout(
            inventory,
            planning.journal,
            names=names or (),
            select_all=all_,
            selector=selector,
            overrides=overrides,
            engine=engine,
            force=force,
        )
        refuse_offboarding(planning.journal, list(plan.stacks))
        console(stderr=output is not Output.table).print(plan_table(plan))
        if not plan.stacks:
            count = len(plan.unchanged)
            message = (
                f"Nothing to do: {count} selected stack{'s' if count != 1 else ''} unchanged since "
                "the last successful deploy (--force runs them anyway)."
            )
            if output is Output.table:
                typer.echo(message)
            else:
                typer.echo(message, err=True)
                document = {"id": None, "status": "nothing to do", "unchanged": list(plan.unchanged)}
                emit(document, output, table=str)
            return
        if preview:
            _preview(inventory, planning.journal, plan, output)
            return
        if not dry_run:
            confirm("Start this rollout?", yes=yes)
        journal, locks = planning.record()
        rollout = start_rollout(journal, locks, plan)
        if detach:
            _detach(st.settings.inventory, rollout.id, locks, output)
            return
        drive_here(st, journal, locks, rollout.id, inventory=inventory, output=output)


@rollout_app.command("watch", epilog=examples("fleet rollout watch r-20261201-0930-ab12"))
def rollout_watch(
    ctx: typer.Context,
    rollout_id: str = typer.Argument(..., metavar="ID", help="The rollout id"),
    output: Output = OUTPUT_OPTION,
) -> None:
    """Follow a rollout until it stops; exit with its outcome's code (see the README)."""
    import time

    from fleet.journal import RolloutStatus
    from fleet.journal.connect import open_recorded_journal
    from fleet.rollout.view import RolloutView, journal_tail

    journal, locks = open_recorded_journal(state(ctx).settings, rollout_id)
    out = console(stderr=output is not Output.table)
    undriven: str | None = None
    with journal, RolloutView(out, journal_tail(journal)).showing() as view:
        while True:
            # Who drives it, then its record: a coordinator records the end before it lets go of
            # its locks, so a rollout still running after its driver was seen gone is undriven
            # (read the other way round, one that ended between the reads looked abandoned).
            driver = locks.driver(rollout_id)
            detail = journal.get_rollout(rollout_id)
            view.update(detail)
            status = detail.rollout.status
            if status.finished or status is RolloutStatus.PAUSED:
                break
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
    finish(detail, output)


@rollout_app.command(
    "resume",
    epilog=examples("fleet rollout resume r-20261201-0930-ab12", "fleet rollout resume ID --detach"),
)
def rollout_resume(
    ctx: typer.Context,
    rollout_id: str = typer.Argument(..., metavar="ID", help="The rollout id"),
    detach: bool = typer.Option(False, "--detach", help="Run in the background"),
    output: Output = OUTPUT_OPTION,
) -> None:
    """Continue a halted, paused or interrupted rollout (or upgrade, with its health gates and
    maintenance window); succeeded stacks are never run again."""
    from fleet.journal.connect import open_recorded_journal
    from fleet.rollout.coordinator import prepare_resume
    from fleet.rollout.driver import FINAL

    st = state(ctx)
    journal, locks = open_recorded_journal(st.settings, rollout_id)
    with journal:
        rollout = journal.rollout(rollout_id)
        if rollout.status in FINAL:
            typer.echo(
                f"Rollout {rollout_id} already {rollout.status}; nothing to resume.",
                err=output is not Output.table,
            )
            finish(journal.get_rollout(rollout_id), output)
        preflight(st, rollout.policy.get("engine"))
        if detach:
            prepare_resume(journal, locks, rollout_id)  # a conflict is reported here, not in a log
            _detach(st.settings.inventory, rollout_id, locks, output)
            return
        drive_here(st, journal, locks, rollout_id, output=output)


@rollout_app.command("cancel", epilog=examples("fleet rollout cancel r-20261201-0930-ab12"))
def rollout_cancel(
    ctx: typer.Context, rollout_id: str = typer.Argument(..., metavar="ID", help="The rollout id")
) -> None:
    """Stop a rollout: nothing new starts, running stacks finish, the rest are cancelled."""
    from fleet.journal import RolloutStatus
    from fleet.journal.connect import open_recorded_journal

    journal, locks = open_recorded_journal(state(ctx).settings, rollout_id)
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


def _preview(inventory: Any, journal: Any, plan: Any, output: Output = Output.table) -> None:
    """Print each planned stack's preview: resources to create, update, replace or delete (with
    ``-o json|yaml``, one document: ``preview``, ``stacks[]``)."""
    from fleet.journal.credentials import with_recorded_credentials
    from fleet.kinds import EngineKind
    from fleet.rollout.preview import live_preview, preview_lines, render_preview

    inventory = with_recorded_credentials(inventory, journal)  # the control room as deployed
    if plan.engine is EngineKind.pulumi:
        previews = live_preview(inventory, plan.stacks, parallel=plan.policy.max_parallel)
    else:
        previews = render_preview(inventory, journal, plan.stacks)
    if output is not Output.table:
        document = {"preview": True, "stacks": [found.to_json() for found in previews]}
        emit(document, output, table=str)
    else:
        out = console()
        for line in preview_lines(previews):
            out.print(line, markup=False, highlight=False)
    if any(found.error is not None for found in previews):
        raise typer.Exit(1)


def _detach(inventory: Any, rollout_id: str, locks: Any, output: Output = Output.table) -> None:
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
    if output is not Output.table:
        emit({"id": rollout_id, "log": str(log_path)}, output, table=str)
        return
    typer.echo(f"Rollout {rollout_id} started in the background (log: {log_path}).")
    typer.echo(f"Watch it: fleet -i {inventory} rollout watch {rollout_id}")


@rollout_app.command("list", epilog=examples("fleet rollout list", "fleet rollout list -n 5 -o json"))
def rollout_list(
    ctx: typer.Context,
    output: Output = OUTPUT_OPTION,
    limit: int = typer.Option(20, "--limit", "-n", min=1, max=MAX_LIMIT, help="How many rollouts"),
) -> None:
    """Rollouts, newest first (the same as `fleet history`)."""
    from fleet.cli.status import show_history

    show_history(ctx, None, output=output, limit=limit)


@rollout_app.command("show", epilog=examples("fleet rollout show r-20261201-0930-ab12 -o yaml"))
def rollout_show(
    ctx: typer.Context,
    rollout_id: str = typer.Argument(..., metavar="ID", help="The rollout id"),
    output: Output = OUTPUT_OPTION,
) -> None:
    """One rollout in full: waves, stacks, attempts (the same as `fleet history ID`)."""
    from fleet.cli.status import show_history

    show_history(ctx, rollout_id, output=output)
