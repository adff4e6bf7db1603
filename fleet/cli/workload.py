"""``fleet workload add|list|remove``: onboard, list and offboard workloads."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from fleet.cli.app import HelpGroup, app, state
from fleet.cli.columns import columns
from fleet.cli.help import examples
from fleet.cli.output import OUTPUT_OPTION, Output, console, emit
from fleet.errors import UserError

if TYPE_CHECKING:
    from fleet.inventory.loader import Inventory

workload_app = typer.Typer(
    cls=HelpGroup,
    help="Onboard, list and offboard workloads.",
    epilog=examples(
        "fleet workload add new.yaml", "fleet workload list -o json", "fleet workload remove old-dev"
    ),
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
    file: Path = typer.Argument(
        ..., metavar="FILE|-", help="The new workload's YAML file (at most 1 MiB); - reads stdin"
    ),
) -> None:
    """Onboard a workload: check FILE (or stdin) and write it into the inventory atomically, as
    workloads/<name>.yaml after the document's name (whatever FILE is called). Refused while the
    inventory has a problem `fleet validate` reports (chart versions included)."""

    from fleet.charts.cache import ChartCache, default_cache_dir
    from fleet.charts.needs import onboarding_problems
    from fleet.inventory.loader import add_workload
    from fleet.inventory.yamlfile import DocumentError, read_stream

    root = state(ctx).settings.inventory
    text = None
    if str(file) == "-":
        try:
            text = read_stream(sys.stdin.buffer)  # at most an inventory file's 1 MiB, then stops
        except DocumentError as error:
            raise UserError(error.at("<stdin>")) from None
    cache = ChartCache(default_cache_dir())
    workload = add_workload(
        root,
        Path("<stdin>") if text is not None else file,
        text,
        check=lambda inventory, new, where, doc: onboarding_problems(inventory, new, where, doc, cache),
    )
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


def _workload_table(rows: list[dict[str, Any]]) -> str:
    """Plain columns (``fleet.cli.columns``): a listing of thousands of workloads stays fast;
    names are never cut, a terminal wraps long lines."""
    table = []
    for row in rows:
        labels = ",".join(f"{k}={v}" for k, v in sorted(row["labels"].items()))
        versions = " ".join(f"{c}={v}{'*' if c in row['pinned'] else ''}" for c, v in row["versions"].items())
        table.append([row["name"], row["cloud"], row["region"], row["environment"], labels, versions])
    text = columns(["NAME", "CLOUD", "REGION", "ENVIRONMENT", "LABELS", "VERSIONS"], table)
    if any(row["pinned"] for row in rows):
        text += "* pinned by the workload\n"
    return text.rstrip("\n")


@workload_app.command(
    "remove",
    epilog=examples("fleet workload remove old-dev --dry-run", "fleet workload remove old-dev"),
)
def workload_remove(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The workload to offboard"),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for the name as confirmation"),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show every resource that would be deleted"),
) -> None:
    """Offboard a workload: destroy its stack and remove it from the backend, roll out the control
    room without its credential, then remove its file. Recorded; a crash resumes where it stopped
    (`fleet workload remove NAME` again, or `fleet rollout resume ID`)."""

    from fleet.cli.confirm import confirm_name
    from fleet.cli.driving import drive_here, preflight
    from fleet.journal import RolloutKind
    from fleet.journal.connect import planning_journal
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
    preflight(st, engine, instead="; or, to see what it deletes: --dry-run")
    # Without a journal yet there is no offboarding to continue, and the journal is created only
    # once the name is typed: a declined prompt (or Ctrl-C) leaves nothing behind.
    with planning_journal(st.settings) as planning:
        unfinished = unfinished_offboardings(planning.journal, include_failed=True).get(name)
        if unfinished is not None:
            out.print(f"Continuing the offboarding of {name} (rollout {unfinished}).", markup=False)
            journal, locks = planning.record()  # the journal that holds it
            drive_here(st, journal, locks, unfinished, inventory=inventory)
        plan = plan_offboarding(inventory, name, engine)
        out.print(plan_table(plan))
        if not yes:
            if not sys.stdin.isatty():
                raise UserError(f"workload remove {name}: not on a terminal; pass --yes to remove it")
            confirm_name(
                f"This destroys {name}'s stack. Type its name to confirm",
                name,
                declined="Not removed; nothing was changed.",
            )
        journal, locks = planning.record()
        rollout = start_rollout(journal, locks, plan, kind=RolloutKind.OFFBOARD)
        drive_here(st, journal, locks, rollout.id, inventory=inventory)


def _show_deletions(inventory: Inventory, name: str) -> None:
    """Render the workload offline and list every resource its destroy would delete."""

    from fleet.engines.render import RenderEngine

    found = RenderEngine().render_plans(inventory, ["controlroom", name])  # nothing written
    plan = found[name].document()
    resources = sorted(f"{resource['type']} {resource['name']}" for resource in plan["resources"])
    out = console()
    out.print(f"{name}: {len(resources)} to delete, then its stack is removed from the backend", markup=False)
    for resource in resources:
        out.print(f"  - delete {resource}", markup=False, highlight=False)
    out.print(f"controlroom: update (the gateway's htpasswd loses {name}'s credential)", markup=False)
    out.print(f"then workloads/{name}.yaml is removed from the inventory", markup=False)
