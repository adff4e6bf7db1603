"""``fleet workload add|list|remove``: onboard, list and offboard workloads."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from fleet.cli.app import app, state
from fleet.cli.output import OUTPUT_OPTION, Output, console, print_json
from fleet.errors import UserError

if TYPE_CHECKING:
    from fleet.inventory.loader import Inventory

workload_app = typer.Typer(help="Onboard, list and offboard workloads.", no_args_is_help=True)
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
    table = Table("NAME", "CLOUD", "REGION", "ENVIRONMENT", "LABELS", "VERSIONS", box=None)
    for row in rows:
        labels = ",".join(f"{k}={v}" for k, v in sorted(row["labels"].items()))
        versions = " ".join(f"{c}={v}{'*' if c in row['pinned'] else ''}" for c, v in row["versions"].items())
        table.add_row(row["name"], row["cloud"], row["region"], row["environment"], labels, versions)
    out = console()
    out.print(table)
    if any(row["pinned"] for row in rows):
        out.print("* pinned by the workload")


@workload_app.command("remove")
def workload_remove(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The workload to offboard"),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for the name as confirmation"),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show every resource that would be deleted"),
) -> None:
    """Offboard a workload: destroy its stack and remove it from the backend, roll out the control
    room without its credential, then remove its file. Recorded; a crash resumes where it stopped
    (`fleet workload remove NAME` again, or `fleet rollout resume ID`)."""
    import sys

    from fleet.cli.driving import drive_here, preflight
    from fleet.journal import RolloutKind
    from fleet.journal.connect import open_journal
    from fleet.kinds import EngineKind
    from fleet.rollout.coordinator import start_rollout
    from fleet.rollout.offboard import plan_offboarding, unfinished_offboardings
    from fleet.rollout.view import plan_table

    st = state(ctx)
    inventory = st.inventory()
    out = console()
    if dry_run:
        plan_offboarding(inventory, name, EngineKind.render)  # UserError for an unknown name
        _show_deletions(inventory, name)
        return
    engine = st.settings.rollout_engine
    preflight(st, engine)
    journal, locks = open_journal(st.settings)
    with journal:
        unfinished = unfinished_offboardings(journal, include_failed=True).get(name)
        if unfinished is not None:
            out.print(f"Continuing the offboarding of {name} (rollout {unfinished}).", markup=False)
            drive_here(st, journal, locks, unfinished, inventory=inventory)
        plan = plan_offboarding(inventory, name, engine)
        out.print(plan_table(plan))
        if not yes:
            if not sys.stdin.isatty():
                raise UserError(f"workload remove {name}: not on a terminal; pass --yes to remove it")
            typed = typer.prompt(f"This destroys {name}'s stack. Type its name to confirm", default="")
            if typed.strip() != name:
                typer.echo("Not removed.")
                raise typer.Exit(1)
        rollout = start_rollout(journal, locks, plan, kind=RolloutKind.OFFBOARD)
        drive_here(st, journal, locks, rollout.id, inventory=inventory)


def _show_deletions(inventory: Inventory, name: str) -> None:
    """Render the workload offline and list every resource its destroy would delete."""
    import json

    from fleet.engines.render import RenderEngine

    found: dict[str, Any] = {}
    RenderEngine().render_many(
        inventory, ["controlroom", name], on_rendered=lambda stack, plan: found.update({stack: plan})
    )
    plan = json.loads(json.dumps(found[name].to_json()))
    resources = sorted(f"{resource['type']} {resource['name']}" for resource in plan["resources"])
    out = console()
    out.print(f"{name}: {len(resources)} to delete, then its stack is removed from the backend", markup=False)
    for resource in resources:
        out.print(f"  - delete {resource}", markup=False, highlight=False)
    out.print(f"controlroom: update (the gateway's htpasswd loses {name}'s credential)", markup=False)
    out.print(f"then workloads/{name}.yaml is removed from the inventory", markup=False)
