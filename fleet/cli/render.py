"""``fleet render``: run the stacks' programs offline and write one plan per stack."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from fleet.cli.app import app, state
from fleet.errors import UserError


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
) -> None:
    """Render stacks offline (no cloud, cluster or pulumi CLI): <out>/<stack>/plan.json each.

    The control room is rendered first; its credentials feed the workloads' StackReferences.
    Plans are written only when every stack rendered.
    """
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

        def rendered(stack: str, plan: Plan) -> None:
            counts[stack] = len(plan.resources)
            progress.update(task, advance=1, description=stack)

        paths = engine.render_many(inventory, wanted, on_rendered=rendered)
    width = max(len(stack) for stack in paths)
    for stack, path in paths.items():
        typer.echo(f"{stack:<{width}}  {counts[stack]:>4} resources  {path}")
