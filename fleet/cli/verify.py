"""``fleet verify``: prove the data-path invariants over a render of the inventory (see
:mod:`fleet.verify.report`)."""

from __future__ import annotations

from pathlib import Path

import typer

from fleet.cli.app import app, state
from fleet.cli.output import OUTPUT_OPTION, Output, print_json
from fleet.errors import UserError


@app.command()
def verify(
    ctx: typer.Context,
    render_dir: Path | None = typer.Option(
        None,
        "--render-dir",
        metavar="DIR",
        help="Verify the render in DIR (as written by `fleet render`) instead of rendering now.",
    ),
    rendered: bool = typer.Option(
        False, "--rendered", help="Verify the last `fleet render` (<inventory>/.fleet/render)."
    ),
    charts: bool = typer.Option(
        True,
        "--charts/--no-charts",
        help="Render every chart with Helm from the chart cache and prove the objects (default).",
    ),
    output: Output = OUTPUT_OPTION,
) -> None:
    """Prove every stack: its data path (logs stay local, metrics reach both Mimirs) and, on the
    objects its charts render, references, URLs, storage, RBAC and schemas; exit 1 if not."""
    from fleet.verify.report import render_and_verify, verify_render

    inventory = state(ctx).inventory()
    if render_dir is not None and rendered:
        raise UserError("give --render-dir DIR or --rendered, not both")
    if rendered:
        from fleet.engines.render import RenderEngine

        render_dir = RenderEngine().directory(inventory)
    not_checked: list[str] = []
    if render_dir is None:
        reports = render_and_verify(inventory, charts=charts)
    else:
        reports = verify_render(inventory, render_dir, charts=charts)
        not_checked.append(
            "invariant 3: no password in any plan (needs the real passwords; "
            "run `fleet verify` without --render-dir)"
        )
    if not charts:
        not_checked.append("the objects the charts render (--no-charts)")
    ok = not any(report.failures for report in reports)
    if output is Output.json:
        print_json({"ok": ok, "stacks": [r.as_json() for r in reports], "not_checked": not_checked})
    else:
        for report in reports:
            for line in report.lines():
                typer.echo(line)
        for what in not_checked:
            typer.echo(f"NOT CHECKED {what}")
    if not ok:
        raise typer.Exit(1)
