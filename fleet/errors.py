"""One error tree for the whole manager.

Every error a user can cause or meet derives from :class:`FleetError`. The CLI boundary turns
each into a one-line message and the exit code attached to its type; nothing else in the code
prints tracebacks or calls ``sys.exit``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class FleetError(Exception):
    """Base of every error fleet reports to a user."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def lines(self) -> list[str]:
        """The lines to print for this error (one, unless it carries several problems)."""
        return [self.message]


MAX_ERROR_LINES = 100
"""Problems printed for one error; the rest are counted (one file may hold thousands)."""
MAX_LINE = 500
"""Characters of one error line; the rest of a line that long is someone's input."""


def cut_line(line: str) -> str:
    """``line``, cut at :data:`MAX_LINE` characters (with the length it had)."""
    return line if len(line) <= MAX_LINE else f"{line[:MAX_LINE]}… ({len(line)} characters)"


def report_lines(error: FleetError) -> list[str]:
    """What a user sees of ``error`` on stderr: ``error: <message>`` for a one-line error; for
    several problems, the problems (at most :data:`MAX_ERROR_LINES`, the rest counted) and then
    the message. Every entry point (the CLI, the detached coordinator) prints these."""
    lines = error.lines()
    if len(lines) == 1:
        return [cut_line(f"error: {lines[0]}")]
    shown = [cut_line(line) for line in lines[:MAX_ERROR_LINES]]
    if len(lines) > len(shown):
        shown.append(f"... and {len(lines) - len(shown)} more")
    return [*shown, cut_line(f"error: {error.message}")]


class UserError(FleetError):
    """Invalid input: a bad file, flag or argument. Exit code 2."""

    exit_code = 2


class InvalidInventory(UserError):
    """One or more problems in the inventory, each a ``file:line: field: message`` line."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        noun = "problem" if len(problems) == 1 else "problems"
        super().__init__(f"{len(problems)} {noun} in the inventory")

    def lines(self) -> list[str]:
        return list(self.problems)


class OperationError(FleetError):
    """An operation that was attempted and failed (a deploy, a gate, a lock). Exit code 1."""

    exit_code = 1


class LockHeld(OperationError):
    """A stack is already being rolled out by another rollout."""


class MissingTool(OperationError):
    """A required external tool (the ``pulumi`` CLI) is not installed."""


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` when one of ``choices`` is close to ``word``, else ``""``: the
    tail of an error about an unknown name or key."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""
