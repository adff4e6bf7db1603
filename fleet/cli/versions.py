"""``fleet versions``: the version skew, each stack and component, deployed against desired."""

from __future__ import annotations

from typing import Any

import typer

from fleet.cli.app import app, state
from fleet.cli.columns import columns
from fleet.cli.help import examples
from fleet.cli.output import OUTPUT_OPTION, Output, emit


@app.command(epilog=examples("fleet versions", "fleet versions -o json"))
def versions(ctx: typer.Context, output: Output = OUTPUT_OPTION) -> None:
    """The version skew: per stack and component, the deployed version against the desired one."""
    from fleet.cli.status import nothing_recorded
    from fleet.journal.connect import missing_journal, open_journal
    from fleet.upgrade.skew import skew_table

    st = state(ctx)
    inventory = st.inventory()
    missing = missing_journal(st.settings)
    deployed: dict[str, Any] = {}
    if missing is None:
        journal, _locks = open_journal(st.settings)
        with journal:
            deployed = journal.deployed_versions()
    entries = skew_table(inventory, deployed)
    if output is not Output.table:
        emit([entry.to_json() for entry in entries], output, table=str)
        return
    cells = [
        [e.stack, e.component, e.deployed or "-", f"{e.desired} (pinned)" if e.pinned else e.desired, e.state]
        for e in entries
    ]
    # Plain columns (fleet.cli.columns): four rows per workload, every cell short; rich laid
    # 40,000 rows out in 13 s of CPU at 10,000 workloads.
    typer.echo(columns(("stack", "component", "deployed", "desired", "state"), cells), nl=False)
    behind = sorted({e.stack for e in entries if e.state == "differs"})
    # In the table's order; "0 differ" alone would read as "all current" for a fleet never deployed.
    undeployed = list(dict.fromkeys(e.stack for e in entries if e.state == "not deployed"))
    typer.echo(
        f"{len(behind)} stack(s) differ from the inventory"
        + (f": {', '.join(behind)}" if behind else "")
        + (f"; {len(undeployed)} not deployed yet: {', '.join(undeployed)}" if undeployed else "")
    )
    if missing is not None:
        typer.echo(nothing_recorded(missing))
