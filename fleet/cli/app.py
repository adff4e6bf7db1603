"""The ``fleet`` Typer app: its global options, the State handed to commands, and the one error
boundary. Command modules (``fleet/cli/*.py``) add themselves to :data:`app`; :mod:`fleet.cli.main`
imports them all and runs it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
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
            if _debug(ctx):
                raise
            lines = exc.lines()
            shown = lines[:MAX_ERROR_LINES]
            for line in shown:
                typer.echo(_cut(f"error: {line}" if len(lines) == 1 else line), err=True)
            if len(lines) > len(shown):
                typer.echo(f"... and {len(lines) - len(shown)} more", err=True)
            if len(lines) > 1:
                typer.echo(f"error: {exc.message}", err=True)
            ctx.exit(exc.exit_code)
        except (click.ClickException, click.exceptions.Exit, click.Abort, typer.Exit, typer.Abort):
            raise  # not errors to report here: usage errors, exit codes, Ctrl-C at a prompt
        except Exception as exc:
            # The last resort: a bug, or a failure nothing above knew how to describe.
            if _debug(ctx):
                raise
            detail = next(iter(str(exc).strip().splitlines()), "")
            typer.echo(
                _cut(f"error: unexpected {type(exc).__name__}: {detail} (--debug shows the traceback)"),
                err=True,
            )
            ctx.exit(1)


MAX_ERROR_LINES = 100
"""Problems printed for one error; the rest are counted (one file may hold thousands)."""
MAX_LINE = 500
"""Characters of one error line; the rest of a line that long is someone's input."""


def _cut(line: str) -> str:
    return line if len(line) <= MAX_LINE else f"{line[:MAX_LINE]}… ({len(line)} characters)"


def _debug(ctx: typer.Context) -> bool:
    if isinstance(ctx.obj, State):
        return ctx.obj.debug
    return bool(ctx.params.get("debug"))  # the settings failed before State existed


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

    settings = Settings.from_environment()
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
