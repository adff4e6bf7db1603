"""``fleet drift``: stacks whose live state (or fresh render) differs from the inventory."""

from __future__ import annotations

from typing import Any

import typer

from fleet.cli.app import app, state
from fleet.cli.help import examples
from fleet.cli.output import OUTPUT_OPTION, Output, emit, plural
from fleet.cli.progress import progress
from fleet.errors import UserError


@app.command(
    epilog=examples(
        "fleet drift --all                    # live: a refreshing preview per stack, writes no state",
        "fleet drift --all --offline          # a fresh render against the last recorded one",
        "fleet drift payments-prod --offline --accept",
        "fleet drift --all -o json --no-record",
    )
)
def drift(
    ctx: typer.Context,
    names: list[str] = typer.Argument(
        None, metavar="NAME", show_default=False, help="Stacks to check (workloads or controlroom)"
    ),
    all_: bool = typer.Option(False, "--all", help="Every stack"),
    offline: bool = typer.Option(
        False,
        "--offline",
        help="Compare a fresh render with the last recorded render (no pulumi CLI or cluster)",
    ),
    old_dry_run: bool = typer.Option(
        False, "--dry-run", hidden=True, help="Deprecated name of --offline (--dry-run means render offline)"
    ),
    accept: bool = typer.Option(
        False, "--accept", help="With --offline: accept drifted renders as the new baseline"
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
    from fleet.journal.credentials import with_recorded_credentials

    if old_dry_run:
        typer.echo("warning: `drift --dry-run` is deprecated; it is now `drift --offline`", err=True)
    dry_run = offline or old_dry_run

    st = state(ctx)
    inventory = st.inventory()
    if accept and not dry_run and rollout_id is None:
        raise UserError("--accept only applies to --offline (render baselines)")
    stacks: list[str] = []
    if rollout_id is not None:
        if names or all_ or dry_run or no_record:
            raise UserError("--rollout takes no stacks, --all, --offline or --no-record: its record says")
    else:
        stacks = stacks_for(inventory, names or (), all_)
        if not dry_run:
            from fleet.cli.driving import without_pulumi
            from fleet.engines.pulumi import require_pulumi_cli

            with without_pulumi("; or, offline: --offline"):
                require_pulumi_cli()  # before anything is recorded
    journal, locks = open_journal(st.settings)
    with journal, progress(f"checking {len(stacks) or 'the recorded'} stacks for drift"):
        inventory = with_recorded_credentials(inventory, journal)  # the control room as deployed
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
    document = {
        "mode": "render" if dry_run else "live",
        "rollout": rollout_id,
        "drifted": list(report.drifted),
        "failed": list(report.failed),
        "stacks": [s.to_json() for s in report.stacks],
    }

    def table() -> str:
        lines = []
        for result in report.stacks:
            if result.error is not None:
                lines.append(f"{result.stack}: could not check: {result.error}")
            elif result.baseline:
                lines.append(f"{result.stack}: no earlier render; recorded this one as the baseline")
            elif not result.drifted:
                lines.append(f"{result.stack}: no drift")
            else:
                lines.append(f"{result.stack}: drifted")
                lines.extend(f"  {change}" for change in result.changes)
        lines.append(
            f"checked {plural(len(report.stacks), 'stack')} ({'offline' if dry_run else 'live'}): "
            f"{len(report.drifted)} drifted, {len(report.failed)} could not be checked"
        )
        return "\n".join(lines)

    emit(document, output, table=table)
    if rollout_id is not None:
        typer.echo(f"recorded as drift check {rollout_id} (fleet history {rollout_id})", err=True)
