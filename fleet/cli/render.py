"""``fleet render``: run the stacks' programs offline and write one plan per stack."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from fleet.cli.app import app, state
from fleet.cli.help import examples
from fleet.cli.output import OUTPUT_OPTION, Output, emit, plural
from fleet.cli.progress import progress
from fleet.errors import UserError, did_you_mean

if TYPE_CHECKING:
    from fleet.inventory.loader import Inventory
    from fleet.settings import Settings


@app.command(
    epilog=examples(
        "fleet render --all                   # .fleet/render/<stack>/plan.json",
        "fleet render payments-prod --show-secrets --out /tmp/plans",
        "fleet render --all --no-charts -o json",
    )
)
def render(
    ctx: typer.Context,
    names: list[str] = typer.Argument(None, metavar="NAME", help="Stacks to render (controlroom, workloads)"),
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
    jobs: int = typer.Option(
        0, "--jobs", "-j", min=0, help="Processes rendering workloads at once (0: every core)"
    ),
    output: Output = OUTPUT_OPTION,
) -> None:
    """Render stacks offline (no cloud, cluster or pulumi CLI): <out>/<stack>/plan.json each.

    The control room is rendered first; each workload is rendered with its own credential from it
    (rendering workloads alone renders the control room too when it has no render yet).
    Each chart's entry lists the objects it creates (Helm, from the chart cache) and its hooks,
    which helm.v4.Chart never applies. Plans are written only when every stack rendered.
    """
    from fleet.charts.cache import ChartCache, default_cache_dir
    from fleet.charts.expand import chart_resources, expand_chart
    from fleet.engines.render import Plan, RenderEngine
    from fleet.inventory.models import CONTROLROOM

    if names and all_stacks:
        raise UserError("give stack NAMEs or --all, not both")
    if out is not None:
        _check_out(out)
    st = state(ctx)
    inventory = _as_deployed(st.settings, st.inventory())
    engine = RenderEngine(out, show_secrets=show_secrets, jobs=jobs)
    wanted = list(names) if names else None
    unknown = [name for name in wanted or () if name not in inventory.stacks()]
    if unknown:
        hint = did_you_mean(unknown[0], inventory.stacks()) if len(unknown) == 1 else ""
        raise UserError(
            f"unknown stack{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}{hint}; "
            f"choose from: {', '.join(inventory.stacks())}"
        )
    if wanted and CONTROLROOM not in wanted and not engine.has_control_room_render(inventory):
        # A workload's render reads the control room's credentials: render it too, first.
        typer.echo(
            f"{CONTROLROOM}: rendered first (no render of it here yet); its credentials feed "
            f"{', '.join(wanted)}",
            err=True,
        )
        wanted.insert(0, CONTROLROOM)
    total = len(wanted) if wanted else len(inventory.stacks())
    counts: dict[str, int] = {}
    started = time.monotonic()
    with progress("rendering", total=total) as advance:
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
            advance(stack)

        paths = engine.render_many(inventory, wanted, on_rendered=rendered)
    elapsed = time.monotonic() - started
    rows = [
        {
            "stack": stack,
            "resources": counts[stack],
            "chart_objects": objects.get(stack, 0) if charts else None,
        }
        | {"plan": str(path)}
        for stack, path in paths.items()
    ]

    def table() -> str:
        width = max(len(stack) for stack in paths)
        lines = []
        for row in rows:
            rendered_objects = f"  {row['chart_objects']:>4} chart objects" if charts else ""
            lines.append(
                f"{row['stack']:<{width}}  {row['resources']:>4} resources{rendered_objects}  {row['plan']}"
            )
        lines.append(
            f"rendered {plural(len(rows), 'stack')} ({plural(sum(counts.values()), 'resource')}"
            + (f", {plural(sum(objects.values()), 'chart object')}" if charts else "")
            + f") into {engine.directory(inventory)} in {elapsed:.1f}s"
        )
        return "\n".join(lines)

    emit(rows, output, table=table)


def _as_deployed(settings: Settings, inventory: Inventory) -> Inventory:
    """``inventory`` with the password generations its journal records (credential rotation), so
    the control room renders as it is deployed; as it is when nothing was recorded yet."""
    from fleet.journal.connect import existing_journal
    from fleet.journal.credentials import with_recorded_credentials

    journal = existing_journal(settings)
    if journal is None:
        return inventory
    with journal:
        return with_recorded_credentials(inventory, journal)


def _kube_version(inventory: Inventory, stack: str) -> str:
    from fleet.inventory.models import CONTROLROOM  # pydantic's models: not for `fleet --help`

    if stack == CONTROLROOM:
        return inventory.fleet.spec.control_room.cluster.kubernetes_version
    return inventory.workload_stack(stack).workload.spec.cluster.kubernetes_version


def _check_out(out: Path) -> None:
    """UserError when ``out`` (or a folder above it) is no directory: no plan could be written there."""
    for place in (out, *out.parents):
        if place.exists():
            if not place.is_dir():
                raise UserError(f"--out {out}: {place} is not a directory; give a directory for the plans")
            return
