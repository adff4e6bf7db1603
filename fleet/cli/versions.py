"""``fleet versions``: the version skew, each stack and component, deployed against desired."""

from __future__ import annotations

import typer

from fleet.cli.app import app, state
from fleet.cli.help import examples
from fleet.cli.output import OUTPUT_OPTION, Output, console, emit, fitting_table


@app.command(epilog=examples("fleet versions", "fleet versions -o json"))
def versions(ctx: typer.Context, output: Output = OUTPUT_OPTION) -> None:
    """The version skew: per stack and component, the deployed version against the desired one."""
    from fleet.journal.connect import open_journal
    from fleet.upgrade.skew import skew_table

    st = state(ctx)
    inventory = st.inventory()
    journal, _locks = open_journal(st.settings)
    with journal:
        entries = skew_table(inventory, journal.deployed_versions())
    if output is not Output.table:
        emit([entry.to_json() for entry in entries], output, table=str)
        return
    cells = [
        [e.stack, e.component, e.deployed or "-", f"{e.desired} (pinned)" if e.pinned else e.desired, e.state]
        for e in entries
    ]
    table = fitting_table(("stack", "component", "deployed", "desired", "state"), cells, keep=("stack",))
    console().print(table)
    behind = sorted({e.stack for e in entries if e.state == "differs"})
    # In the table's order; "0 differ" alone would read as "all current" for a fleet never deployed.
    undeployed = list(dict.fromkeys(e.stack for e in entries if e.state == "not deployed"))
    typer.echo(
        f"{len(behind)} stack(s) differ from the inventory"
        + (f": {', '.join(behind)}" if behind else "")
        + (f"; {len(undeployed)} not deployed yet: {', '.join(undeployed)}" if undeployed else "")
    )
