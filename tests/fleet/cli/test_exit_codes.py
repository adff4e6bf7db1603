"""The README's exit-code table, through every entry point that drives or follows a rollout.

| outcome                                          | code |
| succeeded, or nothing to do                      | 0    |
| failed, halted or cancelled                      | 1    |

(``resume`` and ``watch`` of a rollout that already finished exit with its outcome's code.)
| invalid input                                    | 2    |
| paused (the maintenance window closed)           | 3    |
| interrupted (Ctrl-C in the foreground)           | 130  |

Every case runs the real ``fleet`` CLI (or ``python -m fleet.rollout``, or the scheduler's
launcher) with the scripted engine and the local executor.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fleet_services import fleet_env, run_fleet, start_fleet, wait_for, write_script

from fleet.inventory.loader import load_inventory
from fleet.journal import Journal, RolloutStatus, StackStatus, journal_url_for
from fleet.schedule.launcher import DetachedLauncher

SUCCEEDED, FAILED, INVALID, PAUSED, INTERRUPTED = 0, 1, 2, 3, 130
ROLLOUT_ID = re.compile(r"\br-\d{8}-\d{4}-[0-9a-f]{4}\b")


def rollout_id_in(output: str) -> str:
    match = ROLLOUT_ID.search(output)
    assert match, output
    return match.group(0)


def env_for(inventory: Path, tmp_path: Path, **script: object) -> dict[str, str]:
    script.setdefault("default", {"duration": 0.1})
    return fleet_env(inventory, write_script(tmp_path / "script.json", **script), None, FLEET_WORKERS="2")


def expect(result: subprocess.CompletedProcess[str], code: int) -> subprocess.CompletedProcess[str]:
    assert result.returncode == code, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


def status_of(inventory: Path, rollout_id: str) -> RolloutStatus:
    with Journal(journal_url_for(inventory)) as journal:
        return journal.rollout(rollout_id).status


def without_gates(inventory: Path) -> None:
    path = inventory / "fleet.yaml"
    path.write_text(path.read_text() + "  health: {enabled: false}\n")


def close_the_window(inventory: Path) -> None:
    """A daily one-hour maintenance window half a day away, and no health gates."""
    closed_hour = (datetime.now(UTC) + timedelta(hours=12)).hour
    path = inventory / "fleet.yaml"
    text = path.read_text().replace(
        'schedule: "0 3 * * SAT", window: "4h"', f'schedule: "0 {closed_hour} * * *", window: "1h"'
    )
    path.write_text(text)
    without_gates(inventory)


# -- fleet rollout ---------------------------------------------------------------------------------


def test_rollout_succeeded_0_then_resume_and_watch_of_it_have_nothing_to_do_0(
    inventory: Path, tmp_path: Path
) -> None:
    env = env_for(inventory, tmp_path)
    rollout_id = rollout_id_in(expect(run_fleet(env, "rollout", "--all", "--yes"), SUCCEEDED).stdout)
    resumed = expect(run_fleet(env, "rollout", "resume", rollout_id), SUCCEEDED)
    assert f"Rollout {rollout_id} already succeeded; nothing to resume." in resumed.stdout
    expect(run_fleet(env, "rollout", "watch", rollout_id), SUCCEEDED)
    cancelled = expect(run_fleet(env, "rollout", "cancel", rollout_id), SUCCEEDED)
    assert "already succeeded; nothing to cancel" in cancelled.stdout
    assert status_of(inventory, rollout_id) is RolloutStatus.SUCCEEDED


def test_rollout_failed_within_budget_1_then_resume_after_the_fix_0(inventory: Path, tmp_path: Path) -> None:
    env = env_for(inventory, tmp_path, stacks={"search-staging": {"fail": "chart failed"}})
    started = expect(run_fleet(env, "rollout", "--all", "--yes", "--failure-budget", "3"), FAILED)
    rollout_id = rollout_id_in(started.stdout)
    assert status_of(inventory, rollout_id) is RolloutStatus.FAILED
    expect(run_fleet(env, "rollout", "watch", rollout_id), FAILED)
    fixed = env_for(inventory, tmp_path)
    expect(run_fleet(fixed, "rollout", "resume", rollout_id), SUCCEEDED)


def test_rollout_halted_1_and_resumed_halted_again_1(inventory: Path, tmp_path: Path) -> None:
    env = env_for(inventory, tmp_path, stacks={"search-staging": {"fail": "chart failed"}})
    started = expect(run_fleet(env, "rollout", "--all", "--yes", "--failure-budget", "0"), FAILED)
    rollout_id = rollout_id_in(started.stdout)
    assert status_of(inventory, rollout_id) is RolloutStatus.HALTED
    expect(run_fleet(env, "rollout", "watch", rollout_id), FAILED)
    expect(run_fleet(env, "rollout", "resume", rollout_id), FAILED)


@pytest.mark.parametrize(
    "args",
    [
        ("rollout", "no-such-workload", "--yes"),
        ("rollout", "--all", "--yes", "--wave-size", "0"),
        ("rollout", "resume", "r-20000101-0000-dead"),
        ("rollout", "watch", "r-20000101-0000-dead"),
        ("rollout", "cancel", "r-20000101-0000-dead"),
        ("upgrade", "apply", "--to", "alloy=not-a-version", "--yes"),
        ("upgrade", "run", "r-20000101-0000-dead"),
        ("drift", "--offline"),
    ],
)
def test_invalid_input_is_2_everywhere(inventory: Path, tmp_path: Path, args: tuple[str, ...]) -> None:
    result = expect(run_fleet(env_for(inventory, tmp_path), *args), INVALID)
    assert result.stderr.startswith("error: ")
    assert "Traceback" not in result.stderr


def test_rollout_cancelled_1_and_the_cancel_itself_0(inventory: Path, tmp_path: Path) -> None:
    env = env_for(inventory, tmp_path, default={"duration": 3})
    cli = start_fleet(env, tmp_path / "cli.log", "rollout", "--all", "--yes", "--wave-size", "1")
    rollout_id = wait_for(lambda: ROLLOUT_ID.search(_read(tmp_path / "cli.log")), "an id").group(0)
    expect(run_fleet(env, "rollout", "cancel", rollout_id), SUCCEEDED)
    assert cli.wait(timeout=120) == FAILED, _read(tmp_path / "cli.log")
    assert status_of(inventory, rollout_id) is RolloutStatus.CANCELLED
    expect(run_fleet(env, "rollout", "watch", rollout_id), FAILED)
    resumed = expect(run_fleet(env, "rollout", "resume", rollout_id), FAILED)  # it stays cancelled
    assert "already cancelled; nothing to resume" in resumed.stdout


def test_rollout_interrupted_130_and_resume_finishes_it_0(inventory: Path, tmp_path: Path) -> None:
    env = env_for(inventory, tmp_path, default={"duration": 2})
    log = tmp_path / "cli.log"
    cli = start_fleet(env, log, "rollout", "--all", "--yes", "--wave-size", "1")

    def running() -> bool:
        if not (match := ROLLOUT_ID.search(_read(log))):
            return False
        with Journal(journal_url_for(inventory)) as journal:
            detail = journal.get_rollout(match.group(0))
        return any(state.status is StackStatus.RUNNING for state in detail.stacks)

    wait_for(running, "a stack to run")
    os.kill(cli.pid, signal.SIGINT)
    assert cli.wait(timeout=120) == INTERRUPTED, _read(log)
    assert "interrupted; running stacks finish on their own" in _read(log)
    expect(run_fleet(env, "rollout", "resume", rollout_id_in(_read(log))), SUCCEEDED)


# -- the detached coordinator ----------------------------------------------------------------------


def test_the_detached_coordinator_exits_like_the_cli(inventory: Path, tmp_path: Path) -> None:
    env = env_for(inventory, tmp_path, stacks={"search-staging": {"fail": "chart failed"}})
    detached = expect(run_fleet(env, "rollout", "--all", "--yes", "--detach"), SUCCEEDED)
    rollout_id = rollout_id_in(detached.stdout)
    expect(run_fleet(env, "rollout", "watch", rollout_id), FAILED)
    coordinator = [sys.executable, "-m", "fleet.rollout"]
    again = subprocess.run([*coordinator, rollout_id], env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == FAILED, again.stdout + again.stderr  # halted again
    unknown = subprocess.run([*coordinator, "r-20000101-0000-dead"], env=env, capture_output=True, text=True)
    assert unknown.returncode == INVALID, unknown.stdout + unknown.stderr


# -- upgrades, by hand and by the scheduler --------------------------------------------------------


def test_upgrade_apply_succeeded_0_then_nothing_to_do_0(inventory: Path, tmp_path: Path) -> None:
    env = env_for(inventory, tmp_path)
    (inventory / "fleet.yaml").write_text(
        (inventory / "fleet.yaml").read_text() + "  health: {enabled: false}\n"
    )
    expect(run_fleet(env, "rollout", "--all", "--yes"), SUCCEEDED)  # deployed: the upgrade has a before
    expect(run_fleet(env, "upgrade", "apply", "--to", "alloy=1.11.1", "--yes"), SUCCEEDED)
    again = expect(run_fleet(env, "upgrade", "apply", "--to", "alloy=1.11.1", "--yes"), SUCCEEDED)
    assert "No stack needs a change." in again.stdout


def test_upgrade_apply_halted_1(inventory: Path, tmp_path: Path) -> None:
    (inventory / "fleet.yaml").write_text(
        (inventory / "fleet.yaml").read_text() + "  health: {enabled: false}\n"
    )
    expect(run_fleet(env_for(inventory, tmp_path), "rollout", "--all", "--yes"), SUCCEEDED)
    env = env_for(inventory, tmp_path, stacks={"search-staging": {"fail": "chart failed"}})
    expect(run_fleet(env, "upgrade", "apply", "--to", "alloy=1.11.1", "--yes"), FAILED)


def test_a_paused_upgrade_is_3_through_run_resume_watch_and_the_scheduler(
    inventory: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    close_the_window(inventory)
    env = env_for(inventory, tmp_path)
    scheduled = expect(run_fleet(env, "upgrade", "run", "--scheduled", "--stacks", "search-staging"), PAUSED)
    rollout_id = rollout_id_in(scheduled.stdout)
    expect(run_fleet(env, "upgrade", "run", rollout_id), PAUSED)
    expect(run_fleet(env, "rollout", "resume", rollout_id), PAUSED)
    expect(run_fleet(env, "rollout", "watch", rollout_id), PAUSED)

    for key, value in env.items():  # the scheduler's process environment
        monkeypatch.setenv(key, value)
    launcher = DetachedLauncher()
    launcher.resume(load_inventory(inventory), rollout_id)
    [process] = launcher.processes
    assert process.wait(timeout=120) == PAUSED, _read(inventory / ".fleet" / "beat.log")


# -- drift -------------------------------------------------------------------------------------------


def test_drift_none_0_drifted_1(inventory: Path, tmp_path: Path) -> None:
    env = env_for(inventory, tmp_path)
    expect(run_fleet(env, "drift", "search-staging", "--offline"), SUCCEEDED)  # the baseline
    expect(run_fleet(env, "drift", "search-staging", "--offline"), SUCCEEDED)
    path = inventory / "workloads" / "search-staging.yaml"
    path.write_text(path.read_text() + "  mimir: {replicas: 2}\n")
    expect(run_fleet(env, "drift", "search-staging", "--offline"), FAILED)


def _read(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""
