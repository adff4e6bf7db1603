"""Inventory commands: ``fleet init``, ``fleet validate`` and ``fleet schema``."""

from __future__ import annotations

import json
from collections import Counter
from importlib import resources
from pathlib import Path

import typer

from fleet.cli.app import app, state
from fleet.cli.help import examples
from fleet.cli.output import OUTPUT_OPTION, Output, emit
from fleet.errors import UserError


def _scaffold(name: str) -> str:
    return resources.files("fleet.scaffold").joinpath(name).read_text(encoding="utf-8")


@app.command(epilog=examples("fleet init", "fleet init inventories/acme && cd inventories/acme"))
def init(
    directory: Path = typer.Argument(
        Path("."), metavar="DIR", show_default=False, help="Directory for the new inventory [default: .]"
    ),
) -> None:
    """Create a new inventory: a commented fleet.yaml, one example workload, and a .gitignore
    that keeps fleet's working files (.fleet/: the journal, renders, logs) out of git."""
    from fleet.inventory.loader import FLEET_FILE, WORKLOADS_DIR, write_atomically

    target = directory / FLEET_FILE
    example = directory / WORKLOADS_DIR / "example-dev.yaml"
    ignore = directory / ".gitignore"
    # Everything checked before anything is written: a refused init leaves no half an inventory.
    if directory.exists() and not directory.is_dir():
        raise UserError(f"{directory}: not a directory; give fleet init a directory for the inventory")
    if target.exists():
        raise UserError(f"{target}: already exists; fleet init only creates new inventories")
    if example.exists() or example.is_symlink():
        raise UserError(
            f"{example}: already exists; fleet init only creates new inventories (move it aside first)"
        )
    if ignore.exists() and not ignore.is_file():
        raise UserError(f"{ignore}: not a file; fleet init adds .fleet/ to it")
    write_atomically(example, _scaffold("workload.yaml"))
    existing = ignore.read_text(encoding="utf-8") if ignore.is_file() else ""
    if ".fleet/" not in existing.splitlines():
        prefix = existing if not existing or existing.endswith("\n") else existing + "\n"
        write_atomically(ignore, prefix + _scaffold("gitignore"))
    write_atomically(target, _scaffold("fleet.yaml"))
    typer.echo(f"Created {target} and {example}.")
    where = "" if directory == Path(".") else f" -i {directory}"
    typer.echo(f"Next: edit them, then run `fleet validate{where}`.")


@app.command(epilog=examples("fleet validate", "fleet validate -i inventories/acme -o json"))
def validate(ctx: typer.Context, output: Output = OUTPUT_OPTION) -> None:
    """Load and check the whole inventory; print a one-line summary (exit 2 with every problem).

    Chart versions are checked against the repository indexes in the chart cache (those that
    `fleet charts pull` fetched); nothing is downloaded.
    """
    from fleet.charts.cache import ChartCache, default_cache_dir
    from fleet.charts.needs import unpublished_problems
    from fleet.errors import InvalidInventory

    try:
        inventory = state(ctx).inventory()
        problems = unpublished_problems(inventory, ChartCache(default_cache_dir()))
        if problems:
            raise InvalidInventory(problems)
    except UserError as error:
        if output is not Output.table:  # scripts get the problems as a document too (stderr: as ever)
            emit({"ok": False, "error": error.message, "problems": error.lines()}, output, table=str)
        raise
    room = inventory.fleet.spec.control_room
    clouds = Counter(w.spec.cloud for w in inventory.workloads)
    by_cloud = ", ".join(f"{n} {cloud}" for cloud, n in sorted(clouds.items()))
    count = len(inventory.workloads)
    noun = "workload" if count == 1 else "workloads"
    document = {
        "ok": True,
        "fleet": inventory.fleet.name,
        "control_room": {"cloud": room.cloud, "region": room.region},
        "workloads": list(inventory.names),
        "by_cloud": dict(sorted(clouds.items())),
    }
    summary = (
        f"ok: fleet {inventory.fleet.name}: control room on {room.cloud} ({room.region}), "
        f"{count} {noun}" + (f" ({by_cloud})" if by_cloud else "")
    )
    emit(document, output, table=lambda: summary)


@app.command(epilog=examples("fleet schema workload > workload.schema.json"))
def schema(
    kind: str = typer.Argument(..., help="fleet or workload", metavar="fleet|workload"),
) -> None:
    """Print the JSON Schema of fleet.yaml or of a workload file (for editors and CI linters)."""
    from fleet.inventory.models import Fleet, Workload

    models: dict[str, type[Fleet] | type[Workload]] = {"fleet": Fleet, "workload": Workload}
    if kind not in models:
        raise UserError(f"schema: unknown kind {kind!r}; use fleet or workload")
    document = models[kind].model_json_schema(by_alias=True)
    document["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    typer.echo(json.dumps(document, indent=2))
