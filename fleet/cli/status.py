"""``fleet status`` and ``fleet history``: what the journal says about the stacks and the rollouts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import typer

from fleet.cli.app import app, state
from fleet.cli.help import examples
from fleet.cli.output import OUTPUT_OPTION, Output, emit, fitting_table


@app.command(epilog=examples("fleet status", "fleet status -o json | jq '.[] | select(.result==\"failed\")'"))
def status(ctx: typer.Context, output: Output = OUTPUT_OPTION) -> None:
    """Per stack: the last rollout, its result, the version set deployed, when, and the error;
    and the last dry run, which renders only (it never counts as deployed)."""
    from fleet.journal.connect import missing_journal, open_journal
    from fleet.rollout.rotation import rotation_status

    st = state(ctx)
    inventory = st.inventory()
    rotations: Mapping[str, str] = {}
    found: dict[str, Any] = {}
    dry_runs: dict[str, Any] = {}
    missing = missing_journal(st.settings)
    if missing is None:
        journal, _ = open_journal(st.settings)
        with journal:
            rotations = rotation_status(journal)  # workload -> the phase of its unfinished rotation
            found = {record.stack: record for record in journal.stack_status()}
            gone = journal.destroyed_stacks() - set(inventory.stacks())  # offboarded: history keeps them
            dry_runs = {r.stack: r for r in journal.last_dry_runs() if r.stack not in gone}
    rows: list[dict[str, Any]] = []
    in_inventory = set(inventory.stacks())
    for stack in dict.fromkeys([*inventory.stacks(), *found, *dry_runs]):
        record = found.get(stack)
        dry = dry_runs.get(stack)
        rows.append(
            {
                "stack": stack,
                "in_inventory": stack in in_inventory,
                "last_rollout": record.rollout_id if record else None,
                "result": record.status.value if record else "never deployed",
                "when": record.when.isoformat() if record else None,
                "versions": dict(record.deployed_versions) if record and record.deployed_versions else None,
                "deployed_at": record.deployed_at.isoformat() if record and record.deployed_at else None,
                "error": record.error if record else None,
                "rotation": rotations.get(stack),
                "last_dry_run": (
                    {"rollout": dry.rollout_id, "result": dry.status.value, "when": dry.when.isoformat()}
                    if dry
                    else None
                ),
            }
        )
    emit(rows, output, table=lambda: _status_table(rows))
    if missing is not None and output is Output.table:
        typer.echo(nothing_recorded(missing))


def nothing_recorded(path: Any) -> str:
    """The line a journal listing prints for an inventory that has no journal yet."""
    return f"nothing is recorded for this inventory yet (no {path}; a rollout creates it)"


MAX_LIMIT = 100_000
"""The most rollouts `fleet history -n` lists (far more overflowed the journal's integers)."""
PLAIN_ROWS = 1000
"""Above this many stacks, ``fleet status`` prints plain columns (:mod:`fleet.cli.columns`), not
a table fitted to the terminal: rich laid 10,000 rows out in 5 s of CPU. Each error is cut to
:data:`ERROR_WIDTH` characters there (``-o json`` and ``fleet history ID`` have it whole)."""
ERROR_WIDTH = 80


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _status_table(rows: list[dict[str, Any]]) -> Any:
    from fleet.rollout.view import without_stack_name

    columns = ["stack", "last rollout", "result", "when", "versions deployed", "error", "last dry run"]
    cells = []
    for row in rows:
        versions = row["versions"] or {}
        dry = row["last_dry_run"]
        cells.append(
            [
                row["stack"]
                + ("" if row["in_inventory"] else " (offboarded)")
                + (f" (rotating: phase {row['rotation']})" if row["rotation"] else ""),
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
    if len(cells) > PLAIN_ROWS:
        from fleet.cli.columns import columns as plain_columns

        error = columns.index("error")
        for cell in cells:
            cell[error] = _cut(" ".join(cell[error].split()), ERROR_WIDTH)
        return plain_columns([columns[i] for i in shown], [[c[i] for i in shown] for c in cells]).rstrip("\n")
    return fitting_table(
        [columns[i] for i in shown],
        [[c[i] for i in shown] for c in cells],
        keep=("stack", "last rollout", "result"),
    )


def _when(iso: str | None) -> str:
    return (iso or "")[:19].replace("T", " ")


@app.command(
    epilog=examples(
        "fleet history",
        "fleet history -n 5 -o json",
        "fleet history r-20261201-0930-ab12        # one rollout in full: waves, stacks, attempts",
        "fleet history r-20261201-0930-ab12 -o yaml",
    )
)
def history(
    ctx: typer.Context,
    rollout_id: str | None = typer.Argument(None, metavar="ID", help="Show this rollout in full"),
    output: Output = OUTPUT_OPTION,
    limit: int = typer.Option(20, "--limit", "-n", min=1, max=MAX_LIMIT, help="How many rollouts"),
) -> None:
    """Rollouts, newest first, with each wave's result and health gate; or one rollout in full."""
    show_history(ctx, rollout_id, output=output, limit=limit)


def show_history(ctx: typer.Context, rollout_id: str | None, *, output: Output, limit: int = 20) -> None:
    """``fleet history [ID]`` and ``fleet rollout list|show``: the list, or one rollout in full."""
    from fleet.journal.connect import missing_journal, open_journal, open_recorded_journal

    settings = state(ctx).settings
    if rollout_id is not None:
        open_recorded_journal(settings, rollout_id)[0].close()  # none yet: nothing to show
    missing = missing_journal(settings)
    if missing is not None:
        emit([], output, table=lambda: nothing_recorded(missing))
        return
    journal, locks = open_journal(settings)
    with journal:
        if rollout_id is not None:
            detail = journal.get_rollout(rollout_id)
            emit(rollout_document(detail), output, table=lambda: _rollout_in_full(detail))
            return
        summaries = journal.list_rollouts(limit=limit)
        # A rollout left running by a coordinator that died says so, with how to go on.
        undriven = {
            item.rollout.id: driver.reason
            for item in summaries
            if item.rollout.status.value in ("running", "cancelling")
            and not (driver := locks.driver(item.rollout.id)).alive
        }
    rows = [_rollout_json(item, undriven.get(item.rollout.id)) for item in summaries]
    emit(rows, output, table=lambda: _history_table(rows))


def _rollout_json(item: Any, undriven: str | None = None) -> dict[str, Any]:
    from fleet.rollout.rotation import phase_label

    return {
        "id": item.rollout.id,
        "kind": item.rollout.kind.value,
        "phase": phase_label(item.rollout),
        "dry_run": item.rollout.dry_run,
        "status": item.rollout.status.value,
        "started_by": item.rollout.started_by,
        "created_at": item.rollout.created_at.isoformat(),
        "finished_at": item.rollout.finished_at.isoformat() if item.rollout.finished_at else None,
        "reason": (
            f"nobody drives it: {undriven}; resume it with "
            f"`fleet rollout resume {item.rollout.id}` or cancel it"
            if undriven is not None
            else item.rollout.halt_reason
        ),
        "driven": undriven is None,
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


def rollout_document(detail: Any) -> dict[str, Any]:
    """One rollout in full, as ``-o json|yaml`` prints it: the record, its waves and each stack's
    state with every attempt (no secrets: the journal holds none)."""
    document = _rollout_json(detail)
    document["policy"] = dict(detail.rollout.policy)
    document["versions"] = dict(detail.rollout.versions)
    document["stack_states"] = [
        {
            "stack": state.stack,
            "wave": state.wave_index,
            "status": state.status.value,
            "error": state.error,
            "attempts": [
                {
                    "number": attempt.number,
                    "worker": attempt.worker,
                    "started_at": attempt.started_at.isoformat(),
                    "finished_at": attempt.finished_at.isoformat() if attempt.finished_at else None,
                    "outcome": attempt.outcome.value if attempt.outcome else None,
                    "error": attempt.error,
                    "versions": dict(attempt.versions) if attempt.versions else None,
                    # Where a real deploy took each chart from (the cached archive and its SHA-256).
                    "charts": (attempt.summary or {}).get("charts"),
                }
                for attempt in state.attempts
            ],
        }
        for state in detail.stacks
    ]
    return document


def _rollout_in_full(detail: Any) -> Any:
    from rich.console import Group
    from rich.text import Text

    from fleet.rollout.view import rollout_table, summary_lines

    return Group(rollout_table(detail, collapse=False), Text("\n".join(summary_lines(detail))))


def _history_table(rows: list[dict[str, Any]]) -> Any:
    cells = []
    for row in rows:
        waves = "; ".join(_wave_cell(wave) for wave in row["waves"])
        label = row["status"] + (" (dry run)" if row["dry_run"] else "")
        label += "" if row["driven"] else " (nobody drives it)"
        kind = row["kind"] + (f" {row['phase']}" if row["phase"] else "")
        cells.append([row["id"], kind, label, _when(row["created_at"]), row["started_by"], waves])
    return fitting_table(("rollout", "kind", "status", "created", "by", "waves"), cells, keep=("rollout",))


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
