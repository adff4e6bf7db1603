"""The one error boundary (fleet/cli/app.py): every failure is a few short lines and an exit code,
never a traceback unless --debug asks (issue 11, point 10)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from inventories import copy_example
from typer.testing import CliRunner

import fleet.inventory.loader
from fleet.cli.main import app
from fleet.errors import MAX_ERROR_LINES, MAX_LINE, InvalidInventory, UserError


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    return copy_example(tmp_path / "inv")


def failing_load(error: Exception) -> object:
    def load(root: Path) -> None:
        raise error

    return load


def test_an_unexpected_exception_is_one_line_and_exit_1(
    inventory: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        fleet.inventory.loader, "load_inventory", failing_load(ZeroDivisionError("boom\nmore"))
    )
    result = CliRunner().invoke(app, ["-i", str(inventory), "validate"])
    assert (result.exit_code, result.output) == (
        1,
        "error: unexpected ZeroDivisionError: boom (--debug shows the traceback)\n",
    )


def test_debug_lets_the_traceback_through(inventory: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fleet.inventory.loader, "load_inventory", failing_load(ZeroDivisionError("boom")))
    result = CliRunner().invoke(app, ["--debug", "-i", str(inventory), "validate"])
    assert isinstance(result.exception, ZeroDivisionError)


def test_debug_works_even_when_the_settings_are_bad(inventory: Path) -> None:
    result = CliRunner().invoke(
        app, ["--debug", "-i", str(inventory), "validate"], env={"FLEET_WORKERS": "x"}
    )
    assert isinstance(result.exception, UserError)


def test_no_error_floods_the_terminal(inventory: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    problems = [f"workloads/x.yaml:{n}: k{n}: unknown key" for n in range(10_000)]
    monkeypatch.setattr(fleet.inventory.loader, "load_inventory", failing_load(InvalidInventory(problems)))
    lines = CliRunner().invoke(app, ["-i", str(inventory), "validate"]).output.splitlines()
    assert lines[:MAX_ERROR_LINES] == problems[:MAX_ERROR_LINES]
    assert lines[MAX_ERROR_LINES:] == [
        f"... and {10_000 - MAX_ERROR_LINES} more",
        "error: 10000 problems in the inventory",
    ]


def test_no_error_line_is_longer_than_the_cap(inventory: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fleet.inventory.loader, "load_inventory", failing_load(UserError("x" * 50_000_000)))
    result = CliRunner().invoke(app, ["-i", str(inventory), "validate"])
    [line] = result.output.splitlines()
    assert result.exit_code == 2
    assert len(line) < MAX_LINE + 40 and line.endswith("(50000007 characters)")


@pytest.mark.parametrize(
    "argv",
    [
        ["status", "--bogus"],
        ["rollout", "--bogus"],
        ["credentials", "rotate", "payments-prod", "--force"],
        ["workload", "list", "--output", "xml"],
        ["history", "a", "b"],
    ],
)
def test_a_usage_error_is_click_s_message_and_exit_2(inventory: Path, argv: list[str]) -> None:
    # Typer raises its own (vendored) click's exceptions: they are usage errors, not bugs.
    result = CliRunner().invoke(app, ["-i", str(inventory), *argv])
    assert result.exit_code == 2, result.output
    assert "error: unexpected" not in result.output
    assert "Error: " in result.output


def test_a_journal_that_cannot_be_created_is_one_line_naming_it_and_the_fix(inventory: Path) -> None:
    (inventory / ".fleet").write_text("not a directory")  # as a read-only inventory would refuse it
    for argv in (["rollout", "--all", "--dry-run"], ["drift", "--all", "--offline"]):
        result = CliRunner().invoke(app, ["-i", str(inventory), *argv])
        assert result.exit_code == 1, result.output
        [line] = result.output.splitlines()
        assert line.startswith(f"error: cannot create the journal's directory {inventory / '.fleet'}: ")
        assert line.endswith("make the inventory writable, or set FLEET_DATABASE_URL to a journal elsewhere")


def test_a_file_system_error_names_the_file_without_unexpected(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    result = CliRunner().invoke(app, ["init", str(tmp_path / "file" / "new")])
    assert result.exit_code == 1
    [line] = result.output.splitlines()
    assert line.startswith(f"error: {tmp_path / 'file' / 'new'}") and "Not a directory" in line
    assert "unexpected" not in line


def test_a_sqlite_journal_on_a_path_that_cannot_be_opened_says_what_to_check(
    inventory: Path, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'no-such-dir' / 'fleet.db'}"
    result = CliRunner().invoke(app, ["-i", str(inventory), "status"], env={"FLEET_DATABASE_URL": url})
    assert result.exit_code == 1
    assert result.output == (
        f"error: journal database {url} failed: unable to open database file; its directory must "
        "exist and be writable (FLEET_DATABASE_URL sets where it is)\n"
    )


def test_a_reader_that_stops_early_gets_no_error(inventory: Path) -> None:
    # `fleet history | head -1`: a closed pipe is not a file-system error to report. `true` exits
    # before fleet writes a byte, so every write meets the closed pipe.
    command = f"{sys.executable} -m fleet -i {inventory} upgrade plan --to alloy=1.5.0 -o yaml | true"
    result = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=120, check=False)
    assert result.stderr == ""


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (
            ["rollout", "--all", "--dry-run", "--canary", "abc"],
            "Invalid value for '--canary': expected a whole number",
        ),
        (["history", "-n", "0"], "Invalid value for '--limit' / '-n': must be at least 1"),
        (["render", "-j", "-1"], "Invalid value for '--jobs' / '-j': must be at least 0"),
        (["workload", "list", "-o", "xml"], "'xml' is not one of 'table', 'json', 'yaml'"),
    ],
)
def test_a_bad_flag_value_is_said_in_fleet_s_words_not_pydantic_s(
    inventory: Path, argv: list[str], said: str
) -> None:
    result = CliRunner().invoke(app, ["-i", str(inventory), *argv])
    assert result.exit_code == 2, result.output
    assert said in result.output
    assert "Input should" not in result.output and "Value error" not in result.output
    assert not (inventory / ".fleet").exists()


@pytest.mark.parametrize("command", [["history"], ["rollout", "list"]])
def test_a_limit_beyond_any_history_is_refused_not_an_overflow(inventory: Path, command: list[str]) -> None:
    from fleet.journal import Journal, journal_url_for

    with Journal(journal_url_for(inventory)):
        pass  # a journal, so the limit reaches the query (it overflowed SQLite's integers)
    result = CliRunner().invoke(app, ["-i", str(inventory), *command, "-n", "9" * 20])
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--limit' / '-n': must be at most 100000" in result.output
    assert "unexpected" not in result.output
