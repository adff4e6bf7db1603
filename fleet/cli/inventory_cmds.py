"""Inventory commands: init, validate, workload add/list, schema."""

from __future__ import annotations

import json
from collections import Counter
from importlib import resources
from pathlib import Path

import typer
from rich.table import Table

from fleet.cli.main import app, state
from fleet.cli.output import OUTPUT_OPTION, Output, console, print_json
from fleet.errors import UserError

workload_app = typer.Typer(help="Onboard and list workloads.", no_args_is_help=True)
app.add_typer(workload_app, name="workload")


def _scaffold(name: str) -> str:
    return resources.files("fleet.scaffold").joinpath(name).read_text(encoding="utf-8")


@app.command()
def init(directory: Path = typer.Argument(..., help="Directory for the new inventory")) -> None:
    """Create a new inventory: a commented fleet.yaml and one example workload."""
    from fleet.inventory import FLEET_FILE, WORKLOADS_DIR, write_atomically

    target = directory / FLEET_FILE
    if target.exists():
        raise UserError(f"{target}: already exists; fleet init only creates new inventories")
    example = directory / WORKLOADS_DIR / "example-dev.yaml"
    write_atomically(example, _scaffold("workload.yaml"))
    write_atomically(target, _scaffold("fleet.yaml"))
    typer.echo(f"Created {target} and {example}.")
    typer.echo(f"Next: edit them, then run `fleet -i {directory} validate`.")


@app.command()
def validate(ctx: typer.Context) -> None:
    """Load and check the whole inventory; print a one-line summary."""
    inventory = state(ctx).inventory()
    room = inventory.fleet.spec.control_room
    clouds = Counter(w.spec.cloud for w in inventory.workloads)
    by_cloud = ", ".join(f"{n} {cloud}" for cloud, n in sorted(clouds.items()))
    count = len(inventory.workloads)
    noun = "workload" if count == 1 else "workloads"
    typer.echo(
        f"ok: fleet {inventory.fleet.name}: control room on {room.cloud} ({room.region}), "
        f"{count} {noun}" + (f" ({by_cloud})" if by_cloud else "")
    )


@workload_app.command("add")
def workload_add(
    ctx: typer.Context, file: Path = typer.Argument(..., help="The new workload's YAML file")
) -> None:
    """Onboard a workload: check FILE and write it into the inventory atomically."""
    from fleet.inventory import add_workload

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
    table = Table("NAME", "CLOUD", "REGION", "ENVIRONMENT", "LABELS", "VERSIONS", box=None)
    for row in rows:
        labels = ",".join(f"{k}={v}" for k, v in sorted(row["labels"].items()))
        versions = " ".join(f"{c}={v}{'*' if c in row['pinned'] else ''}" for c, v in row["versions"].items())
        table.add_row(row["name"], row["cloud"], row["region"], row["environment"], labels, versions)
    out = console()
    out.print(table)
    if any(row["pinned"] for row in rows):
        out.print("* pinned by the workload")


@app.command()
def schema(
    kind: str = typer.Argument(..., help="fleet or workload", metavar="fleet|workload"),
) -> None:
    """Print the JSON Schema of fleet.yaml or of a workload file (for editors and CI linters)."""
    from fleet.models import Fleet, Workload

    models: dict[str, type[Fleet] | type[Workload]] = {"fleet": Fleet, "workload": Workload}
    if kind not in models:
        raise UserError(f"schema: unknown kind {kind!r}; use fleet or workload")
    document = models[kind].model_json_schema(by_alias=True)
    document["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    typer.echo(json.dumps(document, indent=2))
