"""README's "A tour of the commands" table against the command tree: every command is in it, and
every command it names exists."""

from __future__ import annotations

import re
from pathlib import Path

import typer
from typer.core import TyperGroup

from fleet.cli.main import app

README = Path(__file__).resolve().parents[3] / "README.md"


def commands() -> set[str]:
    """Every command a user can run: ``init``, ``rollout watch``, ... (groups by their leaves)."""
    root = typer.main.get_command(app)
    assert isinstance(root, TyperGroup)
    found = set()
    for name, command in root.commands.items():
        if isinstance(command, TyperGroup):
            found |= {f"{name} {sub}" for sub in command.commands}
        else:
            found.add(name)
    return found


def tour() -> set[str]:
    """The commands the tour's table names in its first column (``a\\|b`` names both)."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## A tour of the commands") :]
    section = section[: section.index("\n## ", 1)]
    root = typer.main.get_command(app)
    assert isinstance(root, TyperGroup)
    named = set()
    for row in re.findall(r"^\| `fleet ([^|]*(?:\\\|[^|]*)*)` \|", section, flags=re.MULTILINE):
        for usage in re.split(r"` / `fleet ", row):
            words = usage.split()
            group = root.commands.get(words[0])
            assert group is not None, f"README names `fleet {words[0]}`, which does not exist"
            if isinstance(group, TyperGroup):
                subs = [w for w in words[1:] if not w.startswith(("-", "[")) and w.upper() != w]
                alternatives = subs[0].split("\\|") if subs else []
                if alternatives and alternatives[0] in group.commands:
                    named |= {f"{words[0]} {sub}" for sub in alternatives}
                else:  # `fleet rollout NAME...`: the group's default command
                    named.add(f"{words[0]} start")
            else:
                named.add(words[0])
    return named


def test_the_tour_lists_every_command_and_only_commands_that_exist() -> None:
    missing = commands() - tour()
    unknown = tour() - commands()
    assert not missing, f"commands missing from README's tour: {sorted(missing)}"
    assert not unknown, f"README's tour names commands that do not exist: {sorted(unknown)}"
