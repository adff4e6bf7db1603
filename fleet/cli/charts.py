"""``fleet charts pull|list``: fill the local chart cache, and show it against what the inventory needs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from fleet.cli.app import HelpGroup, app, state
from fleet.cli.help import examples
from fleet.cli.output import OUTPUT_OPTION, Output, console, emit, fitting_table

charts_app = typer.Typer(
    cls=HelpGroup,
    help="Fill the local chart cache (from the repositories or a folder) and list it.",
    epilog=examples("fleet charts pull", "fleet charts list -o json"),
)
app.add_typer(charts_app, name="charts")


def _stderr(line: str) -> None:
    typer.echo(line, err=True)


@charts_app.command(
    "pull",
    epilog=examples(
        "fleet charts pull                       # every chart version the inventory uses",
        "fleet charts pull payments-prod",
        "fleet charts pull --from /media/charts  # air-gapped: import archives from a folder",
    ),
)
def charts_pull(
    ctx: typer.Context,
    names: list[str] = typer.Argument(
        None,
        metavar="NAME",
        show_default=False,
        help="Stacks whose charts to pull (default: every stack)",
    ),
    all_stacks: bool = typer.Option(False, "--all", help="Every stack's charts (the default without NAMEs)."),
    from_dir: Path | None = typer.Option(
        None,
        "--from",
        metavar="DIR",
        help="Import <chart>-<version>.tgz archives (and index/ snapshots) from this folder instead "
        "of downloading: for air-gapped sites",
    ),
    timeout: float = typer.Option(30.0, "--timeout", min=1, help="Seconds each download may take"),
    refresh: bool = typer.Option(
        False, "--refresh", help="Fetch the repositories' indexes again even when every archive is cached"
    ),
) -> None:
    """Download every chart version the inventory uses into the cache (FLEET_CHART_CACHE).

    Render and verify read charts only from the cache, and real rollouts install them from it."""
    from fleet.charts.cache import ChartCache, default_cache_dir
    from fleet.charts.needs import chart_needs
    from fleet.charts.pull import import_from, pull
    from fleet.errors import OperationError, UserError, did_you_mean

    inventory = state(ctx).inventory()
    if names and all_stacks:
        raise UserError("give stack names or --all, not both")
    for name in names or ():
        if name not in inventory.stacks():
            hint = did_you_mean(name, inventory.stacks())
            raise UserError(f"no stack named {name!r}{hint}; stacks: {', '.join(inventory.stacks())}")
    needs = chart_needs(inventory, names or None)
    cache = ChartCache(default_cache_dir())
    if from_dir is not None:
        result = import_from(from_dir, cache, needs, report=_stderr)
        typer.echo(
            f"imported {len(result.imported)} chart archive(s) and {len(result.indexes)} index(es) "
            f"from {from_dir} into {cache.root}"
        )
        if result.missing:
            labels = ", ".join(need.label for need in result.missing)
            raise OperationError(f"still not cached (not in {from_dir}): {labels}")
        return
    done = pull(needs, cache, timeout=timeout, refresh=refresh, report=_stderr)
    typer.echo(
        f"pulled {len(done.pulled)} chart version(s) into {cache.root}; {len(done.cached)} already cached"
    )


@charts_app.command("list", epilog=examples("fleet charts list", "fleet charts list -o yaml"))
def charts_list(ctx: typer.Context, output: Output = OUTPUT_OPTION) -> None:
    """The chart versions the inventory needs, and whether the cache holds each; then what else it holds."""
    from fleet.charts.cache import ChartCache, default_cache_dir
    from fleet.charts.needs import chart_needs

    inventory = state(ctx).inventory()
    cache = ChartCache(default_cache_dir())
    held = cache.archives()
    rows: list[dict[str, Any]] = []
    for need in chart_needs(inventory):
        index = None if need.repository.startswith("oci://") else cache.read_index(need.repository)
        path = held.pop((need.chart, need.version), None)
        rows.append(
            {
                "chart": need.chart,
                "version": need.version,
                "component": need.component,
                "needed": True,
                "cached": path is not None,
                "path": str(path) if path else None,
                "repository": need.repository,
                "published": None if index is None else index.entry(need.chart, need.version) is not None,
                "stacks": list(need.stacks),
                "places": list(need.places),
            }
        )
    for (chart, version), path in sorted(held.items()):
        rows.append(
            {
                "chart": chart,
                "version": version,
                "component": None,
                "needed": False,
                "cached": True,
                "path": str(path),
                "repository": None,
                "published": None,
                "stacks": [],
                "places": [],
            }
        )
    if output is not Output.table:
        emit({"cache": str(cache.root), "charts": rows}, output, table=str)
        return
    cells = []
    for row in rows:
        status = "cached" if row["cached"] else "missing"
        if not row["needed"]:
            status = "cached (not needed)"
        elif row["published"] is False:
            status += ", not published"
        stacks = ",".join(row["stacks"]) or ("-" if not row["needed"] else "(version set)")
        cells.append([row["chart"], row["version"], status, row["repository"] or "-", stacks])
    columns = ("CHART", "VERSION", "CACHE", "REPOSITORY", "STACKS")
    console().print(fitting_table(columns, cells, keep=("CHART", "VERSION", "CACHE")))
    missing = [row for row in rows if row["needed"] and not row["cached"]]
    needed = sum(1 for row in rows if row["needed"])
    typer.echo(
        f"{needed - len(missing)} of {needed} chart version(s) the inventory needs are in {cache.root}"
    )
    if missing:
        typer.echo(f"get the rest with: fleet -i {inventory.root} charts pull (or --from DIR offline)")
