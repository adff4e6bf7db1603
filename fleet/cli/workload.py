"""``fleet workload add|list``: onboard a workload, and list the workloads."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from fleet.cli.app import app, state
from fleet.cli.columns import columns
from fleet.cli.output import OUTPUT_OPTION, Output, print_json

workload_app = typer.Typer(help="Onboard and list workloads.", no_args_is_help=True)
app.add_typer(workload_app, name="workload")


@workload_app.command("add")
def workload_add(
    ctx: typer.Context, file: Path = typer.Argument(..., help="The new workload's YAML file")
) -> None:
    """Onboard a workload: check FILE and write it into the inventory atomically."""
    from fleet.inventory.loader import add_workload

    root = state(ctx).settings.inventory
    workload = add_workload(root, file)
    typer.echo(f"Added workload {workload.name} ({workload.spec.cloud}, {workload.spec.region}).")
    typer.echo(f"Roll it out with: fleet -i {root} rollout {workload.name}")


@workload_app.command("list")
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
    if output is Output.json:
        print_json(rows)
        return
    table = []
    for row in rows:
        labels = ",".join(f"{k}={v}" for k, v in sorted(row["labels"].items()))
        versions = " ".join(f"{c}={v}{'*' if c in row['pinned'] else ''}" for c, v in row["versions"].items())
        table.append([row["name"], row["cloud"], row["region"], row["environment"], labels, versions])
    text = columns(["NAME", "CLOUD", "REGION", "ENVIRONMENT", "LABELS", "VERSIONS"], table)
    if any(row["pinned"] for row in rows):
        text += "* pinned by the workload\n"
    sys.stdout.write(text)
