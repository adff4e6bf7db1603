"""The journal listings on an inventory nothing was ever recorded for: they say so, exit 0, and
create nothing (no ``.fleet/fleet.db`` left behind by a look). And `fleet status` for a large fleet."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from inventories import copy_example
from typer.testing import CliRunner

from fleet.cli.main import app

runner = CliRunner()
NOTHING = "nothing is recorded for this inventory yet"
NO_DATABASE: dict[str, str | None] = {"FLEET_DATABASE_URL": None}


def fleet(*args: str | Path) -> Any:
    return runner.invoke(app, [str(a) for a in args], env=NO_DATABASE)


@pytest.fixture
def inv(tmp_path: Path) -> Path:
    return copy_example(tmp_path / "inv")


@pytest.mark.parametrize("command", [["status"], ["history"], ["versions"], ["rollout", "list"]])
def test_a_listing_says_nothing_is_recorded_and_creates_nothing(inv: Path, command: list[str]) -> None:
    result = fleet("-i", inv, *command)
    assert result.exit_code == 0, result.output
    assert f"{NOTHING} (no {inv / '.fleet' / 'fleet.db'}; a rollout creates it)" in result.stdout
    assert not (inv / ".fleet").exists()


def test_status_and_versions_still_list_every_stack_as_never_deployed(inv: Path) -> None:
    status = fleet("-i", inv, "status")
    assert "payments-prod   never deployed" in status.stdout
    versions = fleet("-i", inv, "versions")
    assert "not deployed" in versions.stdout and "0 stack(s) differ" in versions.stdout


@pytest.mark.parametrize("command", [["status"], ["history"], ["versions"]])
def test_json_is_what_an_empty_journal_gives(inv: Path, command: list[str]) -> None:
    result = fleet("-i", inv, *command, "-o", "json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert NOTHING not in result.stdout
    if command == ["history"]:
        assert document == []
    elif command == ["status"]:
        assert {row["result"] for row in document} == {"never deployed"}
    else:
        assert {row["state"] for row in document} == {"not deployed"}
    assert not (inv / ".fleet").exists()


def test_one_rollout_by_id_is_not_found_and_nothing_is_created(inv: Path) -> None:
    result = fleet("-i", inv, "history", "r-20261201-0930-ab12")
    assert result.exit_code == 2
    assert "no rollout 'r-20261201-0930-ab12': nothing is recorded for this inventory yet" in result.stderr
    assert not (inv / ".fleet").exists()


def test_a_large_fleet_gets_plain_columns_with_errors_cut(monkeypatch: pytest.MonkeyPatch) -> None:
    from fleet.cli import status

    monkeypatch.setattr(status, "PLAIN_ROWS", 1)
    row = {
        "stack": "eu-prod",
        "in_inventory": True,
        "last_rollout": "r-1",
        "result": "failed",
        "when": "2026-12-01T09:30:00+00:00",
        "versions": None,
        "error": "eu-prod: mimir-ingester not ready\n" + "x" * 200,
        "rotation": None,
        "last_dry_run": None,
    }
    other = {**row, "stack": "dev-1", "result": "succeeded", "error": None}
    text = status._status_table([row, other])
    assert isinstance(text, str)  # plain text, not a rich table
    lines = text.splitlines()
    assert lines[0].split() == ["stack", "last", "rollout", "result", "when", "error"]
    assert lines[1].startswith(" eu-prod  r-1           failed     2026-12-01 09:30:00  mimir-ingester not")
    assert lines[1].endswith("…") and len(lines[1].split("  ")[-1]) == status.ERROR_WIDTH
    assert lines[2].rstrip().endswith("2026-12-01 09:30:00")
    monkeypatch.setattr(status, "PLAIN_ROWS", 1000)
    assert not isinstance(status._status_table([row, other]), str)  # a table fitted to the terminal
