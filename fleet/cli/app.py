"""The ``fleet`` Typer app: its global options, the State handed to commands, and the one error
boundary. Command modules (``fleet/cli/*.py``) add themselves to :data:`app`; :mod:`fleet.cli.main`
imports them all and runs it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from typer.core import TyperGroup

from fleet.errors import FleetError, UserError

if TYPE_CHECKING:  # pydantic-settings costs a tenth of a second to import: not for `fleet --help`
    from fleet.settings import Settings


@dataclass
class State:
    """What the global options decided; handed to every command through the click context."""

    settings: Settings
    debug: bool = False
    _inventory: Any = field(default=None, repr=False)

    def inventory(self) -> Any:
        """The loaded inventory (loaded once, on first use)."""
        if self._inventory is None:
            from fleet.inventory.loader import load_inventory

            self._inventory = load_inventory(self.settings.inventory)
        return self._inventory


class FleetGroup(TyperGroup):
    """Turns every FleetError into its lines on stderr and its exit code, without a traceback."""

    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except FleetError as exc:
            state = ctx.obj if isinstance(ctx.obj, State) else None
            if state is not None and state.debug:
                raise
            for line in exc.lines():
                typer.echo(f"error: {line}" if len(exc.lines()) == 1 else line, err=True)
            if len(exc.lines()) > 1:
                typer.echo(f"error: {exc.message}", err=True)
            ctx.exit(exc.exit_code)


app = typer.Typer(
    name="fleet",
    cls=FleetGroup,
    help="Roll observability stacks (Alloy, Mimir, Loki, Grafana) out to a fleet of clusters.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


@app.callback()
def _global(
    ctx: typer.Context,
    inventory: Path | None = typer.Option(
        None, "--inventory", "-i", help="Inventory directory [env: FLEET_INVENTORY; default: .]"
    ),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors."),
    verbose: int = typer.Option(
        0,
        "--verbose",
        "-v",
        count=True,
        show_default=False,
        help="More log lines on stderr: -v info, -vv debug [env: FLEET_LOG_LEVEL]",
    ),
) -> None:
    from fleet.settings import Settings

    settings = Settings()
    if inventory is not None:
        settings = settings.model_copy(update={"inventory": inventory})
    ctx.obj = State(settings=settings, debug=debug)
    if ctx.invoked_subcommand not in _OWN_LOGGING:
        from fleet.logs import configure_logging, level_for

        try:
            level = level_for(settings.log_level, verbose)
        except ValueError as error:
            raise UserError(f"FLEET_LOG_LEVEL: {error}") from None
        configure_logging(level)


_OWN_LOGGING = {"worker", "beat"}
"""Commands that run Celery, which sets its own logging up (--loglevel)."""


def state(ctx: typer.Context) -> State:
    """The State of the running command."""
    obj = ctx.find_root().obj
    assert isinstance(obj, State)
    return obj
