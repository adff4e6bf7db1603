"""Asking before anything real changes.

Every mutating command calls :func:`confirm` (one line: ``confirm("Start this rollout?",
yes=yes)``). On a terminal it asks on stderr, so a piped stdout never swallows the question;
a declined prompt says that nothing changed and exits 1 (the README's "cancelled"). Without a
terminal nobody can answer, so the command refuses with exit 2 unless ``--yes`` was given: a
script or CI job never changes anything unconfirmed.
"""

from __future__ import annotations

import sys

import typer

from fleet.errors import UserError

EXIT_DECLINED = 1
"""A declined prompt is a cancelled run (README: cancelled → 1)."""

YES_OPTION = typer.Option(False, "--yes", "-y", help="Do not ask; required when stdin is not a terminal")


def confirm(question: str, *, yes: bool) -> None:
    """Return when the user agreed to ``question`` (or passed ``--yes``); otherwise exit.

    Raises UserError (exit 2) when stdin is not a terminal and ``yes`` is False; exits 1 with
    "Cancelled; nothing was changed." when the answer is no (or Ctrl-D)."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise UserError(f"{question.rstrip('?')}: stdin is not a terminal, so nobody can confirm; pass --yes")
    try:
        agreed = typer.confirm(question, default=False, err=True)
    except typer.Abort:
        agreed = False
        typer.echo("", err=True)
    if not agreed:
        typer.echo("Cancelled; nothing was changed.", err=True)
        raise typer.Exit(EXIT_DECLINED)


def confirm_name(question: str, name: str, *, declined: str) -> None:
    """Return when the user typed ``name`` at ``question`` (a destructive command's stronger
    confirmation); otherwise print ``declined`` and exit 1. Ctrl-C and Ctrl-D decline too.

    The caller has checked for a terminal (and ``--yes``) first."""
    try:
        typed = typer.prompt(question, default="", show_default=False, err=True)
    except typer.Abort:
        typed = None
        typer.echo("", err=True)
    if typed is None or typed.strip() != name:
        typer.echo(declined, err=True)
        raise typer.Exit(EXIT_DECLINED)
