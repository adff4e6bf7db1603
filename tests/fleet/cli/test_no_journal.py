"""The journal listings on an inventory nothing was ever recorded for: they say so, exit 0, and
create nothing (no ``.fleet/fleet.db`` left behind by a look). The commands that record a rollout
plan against an empty journal and create it only when the rollout is recorded: a preview, a "no"
or a refused prompt leaves none. And `fleet status` for a large fleet."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fleet_services import fleet_env, write_script
from inventories import copy_example
from terminals import answer_on_a_terminal
from typer.testing import CliRunner

from fleet.cli.main import app
from fleet.journal import RolloutKind, RolloutStatus
from fleet.journal.db import journal_url_for
from fleet.journal.store import Journal

runner = CliRunner()
NOTHING = "nothing is recorded for this inventory yet"
NO_DATABASE: dict[str, str | None] = {"FLEET_DATABASE_URL": None}


def fleet(*args: str | Path, env: dict[str, str] | None = None) -> Any:
    return runner.invoke(app, [str(a) for a in args], env={**NO_DATABASE, **(env or {})})


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


@pytest.fixture
def scripted(tmp_path: Path) -> dict[str, str]:
    """A real (scripted-engine) rollout on the local executor: every stack succeeds at once."""
    script = write_script(tmp_path / "script.json", default={"duration": 0})
    return {"FLEET_ENGINE": "scripted", "FLEET_ENGINE_SCRIPT": str(script), "FLEET_WORKERS": "2"}


def no_journal(inv: Path) -> bool:
    return not (inv / ".fleet" / "fleet.db").exists()


@pytest.mark.parametrize("output", [[], ["-o", "json"]])
def test_a_preview_plans_against_an_empty_journal_and_creates_none(
    inv: Path, scripted: dict[str, str], output: list[str]
) -> None:
    result = fleet("-i", inv, "rollout", "--all", "--preview", *output, env=scripted)
    assert result.exit_code == 0, result.output
    if output:
        document = json.loads(result.stdout)
        assert document["preview"] is True
        stacks = {found["stack"]: found for found in document["stacks"]}
        assert set(stacks) == {"controlroom", "analytics-prod", "payments-prod", "search-staging"}
        assert all(found["error"] is None for found in stacks.values())
    else:
        assert "payments-prod" in result.stdout and "+ create" in result.stdout
    assert no_journal(inv)


@pytest.mark.parametrize(
    "command",
    [
        ["rollout", "--all"],
        ["credentials", "rotate", "--all"],
        ["workload", "remove", "payments-prod"],
    ],
)
def test_a_prompt_nobody_can_answer_creates_no_journal(
    inv: Path, scripted: dict[str, str], command: list[str]
) -> None:
    result = fleet("-i", inv, *command, env=scripted)
    assert result.exit_code == 2, result.output
    assert "pass --yes" in result.stderr
    assert no_journal(inv)


@pytest.mark.parametrize(
    ("command", "question", "answer", "said"),
    [
        (["rollout", "--all"], "Start this rollout? [y/N]", "n\n", "Cancelled; nothing was changed."),
        (
            ["upgrade", "apply", "--to", "alloy=1.5.0"],
            "Write fleet.yaml and upgrade? [y/N]",
            "n\n",
            "Cancelled; nothing was changed.",
        ),
        (
            ["credentials", "rotate", "--all"],
            "Rotate the central passwords of 3 workload(s)? [y/N]",
            "n\n",
            "Cancelled; nothing was changed.",
        ),
        (
            ["workload", "remove", "payments-prod"],
            "Type its name to confirm:",
            "search-staging\n",
            "Not removed; nothing was changed.",
        ),
        (
            ["workload", "remove", "payments-prod"],
            "Type its name to confirm:",
            "ctrl-c",
            "Not removed; nothing was changed.",
        ),
    ],
)
def test_a_declined_prompt_creates_no_journal(
    inv: Path, tmp_path: Path, command: list[str], question: str, answer: str, said: str
) -> None:
    fleet_yaml = (inv / "fleet.yaml").read_bytes()
    script = write_script(tmp_path / "script.json", default={"duration": 0})
    code, errors = answer_on_a_terminal(fleet_env(inv, script), command, question, answer)
    assert code == 1, errors
    assert errors.rstrip().endswith(said), errors
    assert no_journal(inv)
    assert (inv / "fleet.yaml").read_bytes() == fleet_yaml
    assert (inv / "workloads" / "payments-prod.yaml").exists()


def test_a_confirmed_rollout_records_into_the_real_journal_which_the_next_plan_reads(
    inv: Path, scripted: dict[str, str]
) -> None:
    result = fleet("-i", inv, "rollout", "--all", "--yes", "-o", "json", env=scripted)
    assert result.exit_code == 0, result.output
    recorded = json.loads(result.stdout)
    assert recorded["status"] == "succeeded"
    with Journal(journal_url_for(inv)) as journal:
        [summary] = journal.list_rollouts()
    assert summary.rollout.id == recorded["id"] and summary.rollout.status is RolloutStatus.SUCCEEDED

    again = fleet("-i", inv, "rollout", "--all", "--preview", "-o", "json", env=scripted)
    assert again.exit_code == 0, again.output
    document = json.loads(again.stdout)
    assert document["id"] is None and document["status"] == "nothing to do"
    assert set(document["unchanged"]) == {"controlroom", "analytics-prod", "payments-prod", "search-staging"}


@pytest.mark.parametrize(
    ("command", "kind", "count"),
    [
        (["credentials", "rotate", "--all"], RolloutKind.ROTATE, 3),  # accept, switch, retire
        (["workload", "remove", "search-staging"], RolloutKind.OFFBOARD, 1),
    ],
)
def test_a_confirmed_rotation_or_offboarding_creates_the_journal_and_records_there(
    inv: Path, scripted: dict[str, str], command: list[str], kind: RolloutKind, count: int
) -> None:
    result = fleet("-i", inv, *command, "--yes", env=scripted)
    assert result.exit_code == 0, result.output
    with Journal(journal_url_for(inv)) as journal:
        summaries = journal.list_rollouts()
    assert [summary.rollout.kind for summary in summaries] == [kind] * count
    assert {summary.rollout.status for summary in summaries} == {RolloutStatus.SUCCEEDED}


def test_a_first_dry_run_records_into_the_journal_it_creates(inv: Path) -> None:
    result = fleet("-i", inv, "rollout", "search-staging", "--dry-run", "-o", "json")
    assert result.exit_code == 0, result.output
    with Journal(journal_url_for(inv)) as journal:
        [summary] = journal.list_rollouts()
    assert summary.rollout.id == json.loads(result.stdout)["id"] and summary.rollout.dry_run


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
