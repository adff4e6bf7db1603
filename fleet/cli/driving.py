"""Running a rollout in the foreground: preflight, the live view, the summary and the exit code.

Every command that drives a rollout (``rollout``, ``rollout resume``, ``upgrade apply``, ``upgrade
run``) comes through :func:`drive_here`, which hands the rollout to the one driver
(:func:`fleet.rollout.driver.drive`) and exits with :func:`fleet.rollout.driver.exit_code`; the
commands that only follow one (``rollout watch``) end through :func:`finish` the same way.
"""

from __future__ import annotations

from typing import Any, NoReturn

import typer

from fleet.cli.app import State
from fleet.cli.output import console
from fleet.kinds import EngineKind


def preflight(st: State, engine: EngineKind | str | None) -> None:
    """Stop before anything is touched when a rollout cannot run here: state that only this machine
    sees while stacks may run on any machine (exit 2), or no ``pulumi`` CLI."""
    if engine is None:
        return
    from fleet.engines import require_shared_state

    require_shared_state(st.settings, st.inventory(), EngineKind(engine))
    if EngineKind(engine) is EngineKind.pulumi:
        from fleet.engines.pulumi import PulumiEngine

        PulumiEngine(st.settings).preflight(st.inventory())


def drive_here(
    st: State,
    journal: Any,
    locks: Any,
    rollout_id: str,
    *,
    inventory: Any = None,
    in_window: bool | None = None,
) -> NoReturn:
    """Drive ``rollout_id`` here with the live view, then print the summary and exit with the
    outcome's code. Ctrl-C leaves the running stacks to finish and exits 130."""
    from fleet.rollout.driver import EXIT_INTERRUPTED, drive
    from fleet.rollout.view import RolloutView, journal_tail

    out = console()
    out.print(f"rollout {rollout_id} (resume with `fleet rollout resume {rollout_id}`)", markup=False)
    view = RolloutView(out, journal_tail(journal))
    try:
        with view.showing():
            detail = drive(
                st.settings,
                journal,
                locks,
                rollout_id,
                inventory=inventory if inventory is not None else st.inventory(),
                in_window=in_window,
                on_update=view.update,
            )
    except KeyboardInterrupt:
        typer.echo(
            f"interrupted; running stacks finish on their own. Resume: fleet rollout resume {rollout_id}"
        )
        raise typer.Exit(EXIT_INTERRUPTED) from None
    finish(detail)


def finish(detail: Any) -> NoReturn:
    """Print a rollout's summary and exit with the code its status maps to."""
    from fleet.rollout.driver import exit_code
    from fleet.rollout.view import summary_lines

    out = console()
    for line in summary_lines(detail):
        out.print(line, markup=False, highlight=False)
    raise typer.Exit(exit_code(detail.rollout.status))
