"""``fleet render``: run the stacks' programs offline and write one plan per stack."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from fleet.cli.app import app, state
from fleet.errors import UserError
from fleet.inventory.models import CONTROLROOM

if TYPE_CHECKING:
    from fleet.inventory.loader import Inventory


@app.command()
def render(
    ctx: typer.Context,
    names: list[str] = typer.Argument(
        None, metavar="[NAME]...", help="Stacks to render (controlroom, workloads)"
    ),
    all_stacks: bool = typer.Option(False, "--all", help="Render every stack (the default without NAMEs)."),
    out: Path | None = typer.Option(
        None, "--out", metavar="DIR", help="Where plans go [default: <inventory>/.fleet/render]"
    ),
    show_secrets: bool = typer.Option(
        False, "--show-secrets", help="Write secret values into the plans instead of [secret]."
    ),
    charts: bool = typer.Option(
        True,
        "--charts/--no-charts",
        help="Expand every chart with Helm (from the chart cache) into the objects it creates.",
    ),
) -> None:
    """Render stacks offline (no cloud, cluster or pulumi CLI): <out>/<stack>/plan.json each.

    The control room is rendered first; its credentials feed the workloads' StackReferences.
    Each chart's entry lists the objects it creates (Helm, from the chart cache) and its hooks,
    which helm.v4.Chart never applies. Plans are written only when every stack rendered.
    """
    from fleet.charts.cache import ChartCache, default_cache_dir
    from fleet.charts.expand import chart_resources, expand_chart
    from fleet.engines.render import Plan, RenderEngine

    if names and all_stacks:
        raise UserError("give stack NAMEs or --all, not both")
    inventory = state(ctx).inventory()
    engine = RenderEngine(out, show_secrets=show_secrets)
    wanted = list(names) if names else None
    unknown = [name for name in wanted or () if name not in inventory.stacks()]
    if unknown:
        raise UserError(
            f"unknown stack{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}; "
            f"choose from: {', '.join(inventory.stacks())}"
        )
    total = len(wanted) if wanted else len(inventory.stacks())
    counts: dict[str, int] = {}
    progress = Progress(
        TextColumn("rendering"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
        console=Console(stderr=True),
        transient=True,
    )
    with progress:
        task = progress.add_task("", total=total)

        cache = ChartCache(default_cache_dir())
        objects: dict[str, int] = {}

        def rendered(stack: str, plan: Plan) -> None:
            counts[stack] = len(plan.resources)
            if charts:
                version = _kube_version(inventory, stack)
                for resource in chart_resources(plan.to_json()):
                    expanded = expand_chart(resource, cache, version)
                    resource["rendered"] = expanded.summary(redact=not show_secrets)
                    objects[stack] = objects.get(stack, 0) + len(expanded.objects)
            progress.update(task, advance=1, description=stack)

        paths = engine.render_many(inventory, wanted, on_rendered=rendered)
    width = max(len(stack) for stack in paths)
    for stack, path in paths.items():
        rendered_objects = f"  {objects.get(stack, 0):>4} chart objects" if charts else ""
        typer.echo(f"{stack:<{width}}  {counts[stack]:>4} resources{rendered_objects}  {path}")


def _kube_version(inventory: Inventory, stack: str) -> str:
    if stack == CONTROLROOM:
        return inventory.fleet.spec.control_room.cluster.kubernetes_version
    return inventory.workload_stack(stack).workload.spec.cluster.kubernetes_version
