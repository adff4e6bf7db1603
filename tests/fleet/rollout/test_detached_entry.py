"""``python -m fleet.rollout`` (the detached coordinator) reports bad input as the CLI does."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from fleet_services import fleet_env, run_fleet, write_script

from fleet.rollout.__main__ import main


def coordinator(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fleet.rollout", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.parametrize(
    ("variable", "value"),
    [("FLEET_WORKERS", "many"), ("FLEET_LOCK_TTL", "1"), ("FLEET_LOG_LEVEL", "LOUD")],
)
def test_a_bad_setting_is_the_clis_one_line_and_exit_code(
    inventory: Path, tmp_path: Path, variable: str, value: str
) -> None:
    env = fleet_env(inventory, write_script(tmp_path / "script.json"), **{variable: value})
    cli = run_fleet(env, "history")
    detached = coordinator(env, "r-20261201-0930-ab12")
    assert cli.returncode == 2, cli.stderr
    assert (detached.returncode, detached.stderr) == (cli.returncode, cli.stderr)
    [line] = detached.stderr.splitlines()
    assert line.startswith(f"error: {variable}") and value in line
    assert "Traceback" not in detached.stdout + detached.stderr
    assert not (inventory / ".fleet").exists()  # nothing opened, nothing recorded


def test_an_unknown_rollout_is_one_line_on_stderr(
    inventory: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, item in fleet_env(inventory, write_script(tmp_path / "script.json")).items():
        monkeypatch.setenv(key, item)
    assert main(["r-20000101-0000-dead"]) == 2
    captured = capsys.readouterr()
    [line] = captured.err.splitlines()
    assert line.startswith("error: ") and "r-20000101-0000-dead" in line
