"""``fleet status`` and ``fleet history``: what the journal says about the stacks and the rollouts."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from fleet.cli.app import app, state
from fleet.cli.output import OUTPUT_OPTION, Output, console, print_json


@app.command()
def status(ctx: typer.Context, output: Output = OUTPUT_OPTION) -> None:
    """Per stack: the last rollout, its result, the version set deployed, when, and the error;
    and the last dry run, which renders only (it never counts as deployed)."""
    from fleet.journal.connect import open_journal
    from fleet.rollout.view import without_stack_name

    st = state(ctx)
    inventory = st.inventory()
    journal, _ = open_journal(st.settings)
    with journal:
        found = {record.stack: record for record in journal.stack_status()}
        gone = journal.destroyed_stacks() - set(inventory.stacks())  # offboarded: history keeps them
        dry_runs = {record.stack: record for record in journal.last_dry_runs() if record.stack not in gone}
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
    from fleet.journal.connect import open_journal

    journal, locks = open_journal(state(ctx).settings)
    with journal:
        summaries = journal.list_rollouts(limit=limit)
        # A rollout left running by a coordinator that died says so, with how to go on.
        undriven = {
            item.rollout.id: driver.reason
            for item in summaries
            if item.rollout.status.value in ("running", "cancelling")
            and not (driver := locks.driver(item.rollout.id)).alive
        }
    rows: list[dict[str, Any]] = [
        {
            "id": item.rollout.id,
            "kind": item.rollout.kind.value,
            "dry_run": item.rollout.dry_run,
            "status": item.rollout.status.value,
            "started_by": item.rollout.started_by,
            "created_at": item.rollout.created_at.isoformat(),
            "finished_at": item.rollout.finished_at.isoformat() if item.rollout.finished_at else None,
            "reason": (
                f"nobody drives it: {undriven[item.rollout.id]}; resume it with "
                f"`fleet rollout resume {item.rollout.id}` or cancel it"
                if item.rollout.id in undriven
                else item.rollout.halt_reason
            ),
            "driven": item.rollout.id not in undriven,
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
        label += "" if row["driven"] else " (nobody drives it)"
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
