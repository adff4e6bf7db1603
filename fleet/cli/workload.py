"""``fleet workload add|list``: onboard a workload, and list the workloads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from fleet.cli.app import HelpGroup, app, state
from fleet.cli.help import examples
from fleet.cli.output import OUTPUT_OPTION, Output, console, emit, fitting_table

workload_app = typer.Typer(
    cls=HelpGroup,
    help="Onboard and list workloads.",
    epilog=examples("fleet workload add new.yaml", "fleet workload list -o json"),
)
app.add_typer(workload_app, name="workload")


@workload_app.command(
    "add",
    epilog=examples(
        "fleet workload add ~/new/billing-dev.yaml",
        "sed s/search-staging/billing-dev/g workloads/search-staging.yaml | fleet workload add -",
    ),
)
def workload_add(
    ctx: typer.Context,
    file: Path = typer.Argument(..., metavar="FILE|-", help="The new workload's YAML file; - reads stdin"),
) -> None:
    """Onboard a workload: check FILE (or stdin) and write it into the inventory atomically, as
    workloads/<name>.yaml after the document's name (whatever FILE is called)."""
    import sys

    from fleet.inventory.loader import add_workload

    root = state(ctx).settings.inventory
    text = sys.stdin.read() if str(file) == "-" else None
    workload = add_workload(root, Path("<stdin>") if text is not None else file, text)
    typer.echo(f"Added workload {workload.name} ({workload.spec.cloud}, {workload.spec.region}).")
    typer.echo(f"Roll it out with: fleet -i {root} rollout {workload.name}")


@workload_app.command("list", epilog=examples("fleet workload list", "fleet workload list -o yaml"))
def workload_list(ctx: typer.Context, output: Output = OUTPUT_OPTION) -> None:
    """List the workloads: cloud, region, environment, labels and versions."""
    inventory = state(ctx).inventory()
    rows = []
    for workload in inventory.workloads:
        versions = inventory.fleet.spec.versions.with_pins(workload.spec.versions)
        rows.append(
            {
                "name": workload.name,
                "cloud": workload.spec.cloud,
                "region": workload.spec.region,
                "environment": workload.spec.environment,
                "labels": dict(workload.spec.labels),
                "versions": versions.model_dump(),
                "pinned": sorted(workload.spec.versions.pinned()),
            }
        )
    emit(rows, output, table=lambda: _workload_table(rows))
    if output is Output.table and any(row["pinned"] for row in rows):
        console().print("* pinned by the workload")


def _workload_table(rows: list[dict[str, Any]]) -> Table:
    cells = []
    for row in rows:
        labels = ",".join(f"{k}={v}" for k, v in sorted(row["labels"].items()))
        versions = " ".join(f"{c}={v}{'*' if c in row['pinned'] else ''}" for c, v in row["versions"].items())
        cells.append([row["name"], row["cloud"], row["region"], row["environment"], labels, versions])
    columns = ("NAME", "CLOUD", "REGION", "ENVIRONMENT", "LABELS", "VERSIONS")
    return fitting_table(columns, cells, keep=("NAME",))
