"""``fleet logs ROLLOUT STACK``: the engine output of each attempt at a stack, from the journal."""

from __future__ import annotations

import typer

from fleet.cli.app import app, state
from fleet.cli.help import examples
from fleet.cli.output import OUTPUT_OPTION, Output, console, emit


@app.command(
    epilog=examples(
        "fleet logs r-20261201-0930-ab12 payments-prod",
        "fleet logs r-20261201-0930-ab12 payments-prod --attempt 2 -o json",
    )
)
def logs(
    ctx: typer.Context,
    rollout_id: str = typer.Argument(..., help="The rollout id (see `fleet history`)"),
    stack: str = typer.Argument(..., help="The stack: a workload's name or controlroom"),
    attempt: int | None = typer.Option(
        None, "--attempt", metavar="N", help="Only this attempt (1, 2, and so on)"
    ),
    output: Output = OUTPUT_OPTION,
) -> None:
    """Show what the engine printed for STACK in ROLLOUT, attempt by attempt (secrets scrubbed;
    the newest part of a long output)."""
    from fleet.errors import UserError
    from fleet.journal.connect import open_recorded_journal

    journal, _ = open_recorded_journal(state(ctx).settings, rollout_id)
    with journal:
        found = journal.attempt_outputs(rollout_id, stack)
    if attempt is not None:
        found = [item for item in found if item.attempt.number == attempt]
        if not found:
            raise UserError(f"--attempt {attempt}: stack {stack} has no such attempt in rollout {rollout_id}")
    if output is not Output.table:
        emit(
            [
                {
                    "attempt": item.attempt.number,
                    "worker": item.attempt.worker,
                    "outcome": item.attempt.outcome.value if item.attempt.outcome else "running",
                    "started_at": item.attempt.started_at.isoformat(),
                    "finished_at": item.attempt.finished_at.isoformat() if item.attempt.finished_at else None,
                    "error": item.attempt.error,
                    "output": item.output,
                    "truncated": item.truncated,
                }
                for item in found
            ],
            output,
            table=str,
        )
        return
    out = console()
    if not found:
        out.print(f"{stack} has no attempt in rollout {rollout_id} yet.", markup=False)
    for item in found:
        state_text = item.attempt.outcome.value if item.attempt.outcome else "running"
        out.print(f"── attempt {item.attempt.number} on {item.attempt.worker}: {state_text}", markup=False)
        if item.truncated:
            out.print(f"[{item.truncated} earlier characters not kept]", markup=False, highlight=False)
        if item.output:
            out.print(item.output, markup=False, highlight=False)
        elif item.attempt.outcome is not None:
            out.print("(no output recorded)", markup=False)
