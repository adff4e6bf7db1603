"""``fleet version`` (and ``fleet --version``) and ``fleet completion bash|zsh|fish``."""

from __future__ import annotations

import typer

from fleet.cli.about import version_info
from fleet.cli.app import COMPLETE_VAR, app, state
from fleet.cli.help import examples
from fleet.cli.output import OUTPUT_OPTION, Output, emit

SHELLS = ("bash", "zsh", "fish")


@app.command(
    epilog=examples("fleet version", "fleet version -o json", "FLEET_HELM=/opt/helm fleet --version")
)
def version(ctx: typer.Context, output: Output = OUTPUT_OPTION) -> None:
    """Print the versions of fleet, Python, the Pulumi SDK and Helm, and the journal in use."""
    info = version_info(state(ctx).settings)
    emit(info, output, table=lambda: "\n".join(f"{key}: {value}" for key, value in info.items()))


@app.command(
    epilog=examples(
        "fleet completion bash > ~/.local/share/bash-completion/completions/fleet",
        'fleet completion zsh > "${fpath[1]}/_fleet"',
        "fleet completion fish > ~/.config/fish/completions/fleet.fish",
    )
)
def completion(shell: str = typer.Argument(..., metavar="bash|zsh|fish", help="The shell")) -> None:
    """Print the shell completion script for bash, zsh or fish (source it, or save it where your
    shell loads completions)."""
    from fleet.errors import UserError

    if shell not in SHELLS:
        raise UserError(f"completion: unknown shell {shell!r}; choose bash, zsh or fish")
    # Typer's own scripts: they call back into `fleet` with _FLEET_COMPLETE set.
    from typer._completion_classes import completion_init
    from typer._completion_shared import get_completion_script

    completion_init()
    typer.echo(get_completion_script(prog_name="fleet", complete_var=COMPLETE_VAR, shell=shell))
