"""``fleet worker``'s own flags are checked before Celery (or the broker) is touched: a bad value
is one line and exit 2, never Celery's error escaping as "unexpected"."""

from __future__ import annotations

from pathlib import Path

import pytest
from inventories import copy_example
from typer.testing import CliRunner

from fleet.cli.main import app


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--loglevel", "LOUD"],
            "error: --loglevel: 'LOUD' is not a log level; use DEBUG, INFO, WARNING or ERROR",
        ),
        (["-Q", ",,"], "error: --queues: ',,' names no queue; give names like fleet,fleet-beat"),
    ],
)
def test_a_bad_worker_flag_is_one_line_and_exit_2(tmp_path: Path, argv: list[str], message: str) -> None:
    inventory = copy_example(tmp_path / "inv")
    result = CliRunner().invoke(app, ["-i", str(inventory), "worker", *argv], env={"FLEET_BROKER_URL": None})
    assert result.exit_code == 2, result.output
    assert result.output.splitlines() == [message]


def test_a_log_level_in_any_case_is_accepted_up_to_the_broker_check(tmp_path: Path) -> None:
    inventory = copy_example(tmp_path / "inv")
    result = CliRunner().invoke(
        app, ["-i", str(inventory), "worker", "--loglevel", "debug"], env={"FLEET_BROKER_URL": None}
    )
    assert result.exit_code == 2
    assert "no broker: set FLEET_BROKER_URL" in result.output
