"""Upgrade rollouts set going by the scheduler: a detached ``python -m fleet upgrade run`` process."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fleet_services import wait_for, write_script

from fleet.inventory.loader import load_inventory
from fleet.journal import Journal, RolloutKind, RolloutStatus, journal_url_for
from fleet.rollout.hooks import SCHEDULER_ACTOR
from fleet.schedule.launcher import DetachedLauncher


def test_the_launcher_starts_a_scheduled_upgrade_in_its_own_process(
    inventory: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [key for key in os.environ if key.startswith("FLEET_")]:
        monkeypatch.delenv(name)
    # A daily two-hour window that opened at the start of this hour: open now.
    fleet_yaml = inventory / "fleet.yaml"
    hour = datetime.now(UTC).hour
    text = fleet_yaml.read_text().replace(
        'schedule: "0 3 * * SAT", window: "4h"', f'schedule: "0 {hour} * * *", window: "2h"'
    )
    fleet_yaml.write_text(text + "  health: {enabled: false}\n")
    monkeypatch.setenv("FLEET_ENGINE", "scripted")
    monkeypatch.setenv("FLEET_ENGINE_SCRIPT", str(write_script(tmp_path / "script.json")))
    monkeypatch.setenv("FLEET_WORKERS", "1")

    launcher = DetachedLauncher()
    assert launcher.command[1:] == ["-m", "fleet"]
    assert launcher.start(load_inventory(inventory), ["search-staging"]) is None  # it does not wait

    def finished() -> object:
        with Journal(journal_url_for(inventory)) as journal:
            found = journal.list_rollouts(kind=RolloutKind.UPGRADE)
        return found and found[0].rollout.status.finished and found[0].rollout

    rollout = wait_for(finished, "the detached upgrade to finish")
    [process] = launcher.processes
    assert process.wait(60) == 0
    log = (inventory / ".fleet" / "beat.log").read_text()
    assert rollout.status is RolloutStatus.SUCCEEDED, log
    assert rollout.started_by == SCHEDULER_ACTOR
    assert f"rollout {rollout.id} succeeded: 1 succeeded" in log
