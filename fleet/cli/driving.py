"""Running a rollout in the foreground: preflight, the live view, the summary and the exit code.

Every command that drives a rollout (``rollout``, ``rollout resume``, ``upgrade apply``, ``upgrade
run``) comes through :func:`drive_here`, which hands the rollout to the one driver
(:func:`fleet.rollout.driver.drive`) and exits with :func:`fleet.rollout.driver.exit_code`; the
commands that only follow one (``rollout watch``) end through :func:`finish` the same way.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import typer

from fleet.cli.app import State
from fleet.cli.output import Output, console, emit
from fleet.kinds import EngineKind


def preflight(st: State, engine: EngineKind | str | None, *, instead: str | None = None) -> None:
    """Stop before anything is touched when a rollout cannot run here: state that only this
    machine sees while stacks may run on any machine (exit 2), a broker that does not answer
    (exit 1), or no ``pulumi`` CLI (its error then ends with ``instead``, the command's own way
    to go on without it, when it has one)."""
    if engine is None:
        return
    from fleet.engines import require_shared_state

    require_shared_state(st.settings, st.inventory(), EngineKind(engine))
    if st.settings.broker_url:  # unreachable, a recorded rollout would only wait for it
        from fleet.executors.celery import check_broker

        check_broker(st.settings.broker_url)
    if EngineKind(engine) is EngineKind.pulumi:
        from fleet.engines.pulumi import PulumiEngine

        with without_pulumi(instead):
            PulumiEngine(st.settings).preflight(st.inventory())


@contextmanager
def without_pulumi(instead: str | None) -> Iterator[None]:
    """A missing ``pulumi`` CLI's error, followed by ``instead`` (``"; or, offline: --dry-run"``)."""
    from fleet.errors import MissingTool

    try:
        yield
    except MissingTool as error:
        if instead is None or "pulumi CLI" not in error.message:
            raise
        raise MissingTool(f"{error.message}{instead}") from None


def drive_here(
    st: State,
    journal: Any,
    locks: Any,
    rollout_id: str,
    *,
    inventory: Any = None,
    in_window: bool | None = None,
    output: Output = Output.table,
) -> NoReturn:
    """Drive ``rollout_id`` here with the live view, then print the summary and exit with the
    outcome's code. Ctrl-C leaves the running stacks to finish and exits 130.

    With ``output`` json or yaml, the live view and the summary go to stderr and stdout gets the
    rollout in full (as ``fleet history ID -o json`` shows it)."""
    detail = drive_shown(
        st, journal, locks, rollout_id, inventory=inventory, in_window=in_window, output=output
    )
    finish(detail, output)


def drive_shown(
    st: State,
    journal: Any,
    locks: Any,
    rollout_id: str,
    *,
    inventory: Any = None,
    in_window: bool | None = None,
    output: Output = Output.table,
) -> Any:
    """Drive ``rollout_id`` here with the live view and return the journal's view of its end.
    Ctrl-C leaves the running stacks to finish and exits 130."""
    from fleet.rollout.driver import EXIT_INTERRUPTED, drive
    from fleet.rollout.view import RolloutView, journal_tail

    out = console(stderr=output is not Output.table)
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
            f"interrupted; running stacks finish on their own. Resume: fleet rollout resume {rollout_id}",
            err=output is not Output.table,
        )
        raise typer.Exit(EXIT_INTERRUPTED) from None
    return detail


def finish(detail: Any, output: Output = Output.table) -> NoReturn:
    """Print a rollout's summary (``-o json|yaml``: the rollout in full on stdout, the summary on
    stderr) and exit with the code its status maps to."""
    from fleet.cli.status import rollout_document
    from fleet.rollout.driver import exit_code
    from fleet.rollout.view import summary_lines

    out = console(stderr=output is not Output.table)
    for line in summary_lines(detail):
        out.print(line, markup=False, highlight=False)
    if output is not Output.table:
        emit(rollout_document(detail), output, table=str)
    raise typer.Exit(exit_code(detail.rollout.status))
