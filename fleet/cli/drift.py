"""``fleet drift``: stacks whose live state (or fresh render) differs from the inventory."""

from __future__ import annotations

from typing import Any

import typer

from fleet.cli.app import app, state
from fleet.cli.output import OUTPUT_OPTION, Output, print_json
from fleet.errors import UserError


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
    from fleet.drift.check import (
        drift_locks,
        live_drift,
        record_check,
        render_drift,
        run_check,
        stacks_for,
    )
    from fleet.journal.connect import open_journal

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
    journal, locks = open_journal(st.settings)
    with journal:
        if no_record:
            if dry_run:
                report = render_drift(inventory, journal, stacks, record=accept)
            else:
                with drift_locks(locks, stacks):
                    parallel = inventory.fleet.spec.rollout.max_parallel
                    report = live_drift(inventory, stacks, parallel=parallel)
        else:
            if rollout_id is None:
                rollout_id = record_check(inventory, journal, stacks, dry_run=dry_run).id
            dry_run = journal.rollout(rollout_id).dry_run
            report = run_check(inventory, journal, rollout_id, accept=accept, locks=locks)
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
