"""The ``fleet`` Typer app: its global options, the State handed to commands, and the one error
boundary. Command modules (``fleet/cli/*.py``) add themselves to :data:`app`; :mod:`fleet.cli.main`
imports them all and runs it."""

from __future__ import annotations

import errno
import gc
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from typer.core import TyperArgument, TyperGroup, TyperOption

from fleet.errors import FleetError, UserError, cut_line, report_lines

if TYPE_CHECKING:  # fleet --help imports no pydantic
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
            if _own_process:
                # The inventory lives as long as the command: out of the cyclic collector's
                # sight (gc.freeze), which would otherwise walk its objects again and again (a
                # third of `fleet validate`'s CPU at 10,000 workloads). Objects freed are freed.
                gc.freeze()
        return self._inventory


_own_process = False
"""True when the command is its process (the ``fleet`` console script, ``python -m fleet``), not
a call inside a longer-lived one such as a test: freezing everything alive is for the former."""


def run_as_process() -> None:
    """Called by the console-script entry point before it runs the command."""
    global _own_process
    _own_process = True


COMPLETE_VAR = "_FLEET_COMPLETE"
"""The variable shell completion scripts set when they call ``fleet`` back."""
GLOBAL_FLAGS = frozenset({"--debug", "--verbose", "--version", "--no-color"})
"""Global options without a value; ``-v``/``-vv`` and ``-i DIR``/``--inventory DIR`` are handled too."""
_VERBOSE = re.compile(r"-v+")


def hoist_global_options(args: list[str]) -> list[str]:
    """``args`` with the global options moved in front of the subcommand, so ``fleet validate -i
    DIR`` means ``fleet -i DIR validate`` (as kubectl, helm and pulumi take global flags anywhere).
    Nothing after ``--`` moves."""
    front: list[str] = []
    rest: list[str] = []
    index = 0
    while index < len(args):
        arg = args[index]
        if arg == "--":
            rest.extend(args[index:])
            break
        if arg in GLOBAL_FLAGS or _VERBOSE.fullmatch(arg) or arg.startswith("--inventory="):
            front.append(arg)
        elif arg in ("-i", "--inventory") and index + 1 < len(args):
            front.extend(args[index : index + 2])
            index += 1
        elif arg.startswith("-i") and not arg.startswith("--"):
            front.append(arg)  # -iDIR
        else:
            rest.append(arg)
        index += 1
    return front + rest


def _value_label(param: Any) -> Callable[[Any], str | None]:
    """How ``param``'s value shows in help: an argument by its name alone (``DIR``, not ``DIR
    <path>``), an option by its metavar or its name (``--bake-time BAKE_TIME``, not ``<str>``),
    a choice by its choices (``table|json|yaml``): never a Python type such as ``<list[str]>``."""

    def label(ctx: Any) -> str | None:
        if isinstance(param, TyperArgument):
            return None
        if param.metavar is not None:
            return str(param.metavar)
        shown = str(TyperOption.display_type_rich(param, ctx) or "").strip("<>.")
        return shown if "|" in shown else (param.name or "value").upper()

    return label


def _usage_name(param: Any) -> Callable[[], str]:
    """An argument in the usage line as Unix man pages write it: ``ID``, ``[ID]``, ``[NAME]...``
    (Typer writes a required one as ``{ID}``)."""

    def name() -> str:
        shown = str(param.metavar) if param.required else f"[{param.metavar}]"
        return shown + ("..." if param.nargs != 1 else "")

    return name


def _plain_value_labels(command: Any) -> None:
    for param in getattr(command, "params", ()):
        if isinstance(param, TyperArgument):
            if param.metavar is None:
                param.metavar = (param.name or "value").upper()  # ROLLOUT_ID, not {rollout_id}
            setattr(param, "_usage_display_name", _usage_name(param))  # noqa: B010 (an instance's own)
        if isinstance(param, TyperArgument | TyperOption):
            setattr(param, "display_type_rich", _value_label(param))  # noqa: B010 (an instance's own)
    for sub in getattr(command, "commands", {}).values():
        _plain_value_labels(sub)


class HelpGroup(TyperGroup):
    """A command group as fleet shows it: run bare, it prints its help and exits 0; its command
    list shows each command's whole summary (the first paragraph of its docstring), wrapped,
    never cut with ``...``; values are labelled by name, never by Python type. Sub-apps adopt it
    with ``typer.Typer(cls=HelpGroup, ...)``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _plain_value_labels(self)

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:  # type: ignore[override]
        if not args and not ctx.resilient_parsing:  # not while completing `fleet <TAB>`
            typer.echo(ctx.get_help())
            ctx.exit(0)
        return super().parse_args(ctx, args)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is None or command.hidden:
                continue
            summary = command.short_help or (command.help or "").split("\n\n", 1)[0]
            rows.append((name, " ".join(summary.split())))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


class FleetGroup(HelpGroup):
    """The root group: takes global options anywhere on the line, and turns every FleetError into
    its lines on stderr and its exit code, without a traceback."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:  # type: ignore[override]
        return super().parse_args(ctx, hoist_global_options(args))

    def main(self, *args: Any, **kwargs: Any) -> Any:
        if os.environ.get(COMPLETE_VAR):
            # A completion script asking (fleet completion bash|zsh|fish): Typer's shells are
            # registered only here, so every other run stays as light as before.
            from typer._completion_classes import completion_init

            completion_init()
        return super().main(*args, **kwargs)

    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except FleetError as exc:
            if _debug(ctx):
                raise
            for line in report_lines(exc):
                typer.echo(line, err=True)
            ctx.exit(exc.exit_code)
        except (typer.TyperException, typer.Exit, typer.Abort) as exc:
            # Not errors to report here: usage errors, exit codes, Ctrl-C at a prompt. Typer
            # raises its own click's exceptions (typer._click), never the click package's.
            _in_plain_words(exc)
            raise
        except Exception as exc:
            # A closed pipe (`fleet history | head`) is click's to end quietly.
            if _debug(ctx) or (isinstance(exc, OSError) and exc.errno == errno.EPIPE):
                raise
            if isinstance(exc, OSError) and exc.filename is not None:
                # The file system refused (read-only, full, not a directory): the path says where.
                typer.echo(cut_line(f"error: {exc.filename}: {exc.strerror or exc}"), err=True)
                ctx.exit(1)
            # The last resort: a bug, or a failure nothing above knew how to describe.
            detail = next(iter(str(exc).strip().splitlines()), "")
            typer.echo(
                cut_line(f"error: unexpected {type(exc).__name__}: {detail} (--debug shows the traceback)"),
                err=True,
            )
            ctx.exit(1)


def _in_plain_words(error: BaseException) -> None:
    """A flag's bad value, which Typer checks with pydantic, said as fleet says it ("must be at
    least 1", not "Input should be greater than or equal to 1"); click still prints it."""
    from pydantic import ValidationError

    from fleet.messages import plain_message

    cause = error.__cause__
    if isinstance(error, typer.BadParameter) and isinstance(cause, ValidationError) and cause.errors():
        error.message = plain_message(cause.errors(include_url=False)[0])


def _debug(ctx: typer.Context) -> bool:
    if isinstance(ctx.obj, State):
        return ctx.obj.debug
    return bool(ctx.params.get("debug"))  # the settings failed before State existed


app = typer.Typer(
    name="fleet",
    cls=FleetGroup,
    help="Roll observability stacks (Alloy, Mimir, Loki, Grafana) out to a fleet of clusters.",
    add_completion=False,  # `fleet completion bash|zsh|fish` instead (fleet/cli/version.py)
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["--help", "-h"], "max_content_width": 100},
    epilog=(
        "\b\nGlobal options (-i, -v, --debug, --no-color) go before or after the command.\n"
        "Examples:\n"
        "  fleet init && fleet validate\n"
        "  fleet rollout --all --dry-run\n"
        "  fleet history -o json\n"
        "Exit codes: 0 ok, 1 failed/halted/cancelled/drift, 2 invalid input, 3 paused, 130 interrupted."
    ),
)


def _print_version(value: bool) -> None:
    if value:
        from fleet.cli.about import version_lines
        from fleet.settings import Settings

        for line in version_lines(Settings.from_environment()):
            typer.echo(line)
        raise typer.Exit(0)


@app.callback()
def _global(
    ctx: typer.Context,
    inventory: Path | None = typer.Option(
        None,
        "--inventory",
        "-i",
        metavar="DIR",
        show_default=False,
        help="Inventory directory [env: FLEET_INVENTORY; default: .]",
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
    no_color: bool = typer.Option(False, "--no-color", help="No colours (as NO_COLOR=1 does)."),
    _version: bool = typer.Option(
        False,
        "--version",
        callback=_print_version,
        is_eager=True,
        help="Print the versions of fleet, Python, the Pulumi SDK and Helm, and the journal; exit.",
    ),
) -> None:
    from fleet.settings import Settings

    if no_color:
        os.environ["NO_COLOR"] = "1"  # rich reads it for every console made from here on
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
