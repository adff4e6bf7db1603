"""``fleet versions``: the version skew, each stack and component, deployed against desired."""

from __future__ import annotations

import typer
from rich.table import Table

from fleet.cli.app import app, state
from fleet.cli.output import OUTPUT_OPTION, Output, console, print_json


@app.command()
def versions(ctx: typer.Context, output: Output = OUTPUT_OPTION) -> None:
    """The version skew: per stack and component, the deployed version against the desired one."""
    from fleet.journal.connect import open_journal
    from fleet.upgrade.skew import skew_table

    st = state(ctx)
    inventory = st.inventory()
    journal, _locks = open_journal(st.settings)
    with journal:
        entries = skew_table(inventory, journal.deployed_versions())
    if output is Output.json:
        print_json([entry.to_json() for entry in entries])
        return
    table = Table("stack", "component", "deployed", "desired", "state", box=None, pad_edge=False)
    for entry in entries:
        desired = f"{entry.desired} (pinned)" if entry.pinned else entry.desired
        table.add_row(entry.stack, entry.component, entry.deployed or "-", desired, entry.state)
    console().print(table)
    behind = sorted({e.stack for e in entries if e.state == "differs"})
    typer.echo(
        f"{len(behind)} stack(s) differ from the inventory" + (f": {', '.join(behind)}" if behind else "")
    )
