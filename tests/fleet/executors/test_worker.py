"""run_job: claim in the journal, run the engine, record the outcome; exactly once."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fleet_services import write_script
from journals import running_rollout

from fleet.executors.jobs import JobState, StackJob
from fleet.executors.worker import run_job, run_message
from fleet.journal import Journal, Outcome, RolloutStatus, StackStatus, journal_url_for
from fleet.kinds import Action, EngineKind
from fleet.settings import Settings


def _settings(script: Path) -> Settings:
    return Settings(engine_script=script, lock_ttl=5, database_url=None)


def _job(rollout_id: str, stack: str, inventory: Path) -> StackJob:
    return StackJob(rollout_id, stack, Action.up, EngineKind.scripted, str(inventory))


def test_a_job_runs_once_and_a_redelivered_job_is_declined(inventory: Path, tmp_path: Path) -> None:
    log = tmp_path / "runs.log"
    script = write_script(tmp_path / "script.json", log=str(log))
    rollout_id = running_rollout(inventory, ["payments-prod"])
    job = _job(rollout_id, "payments-prod", inventory)

    first = run_job(job, _settings(script))
    again = run_job(job.resubmission(), _settings(script))

    assert first.state is JobState.succeeded
    assert again.state is JobState.declined
    assert again.info["reason"] == "already_succeeded"
    assert log.read_text().count("end payments-prod") == 1
    with Journal(journal_url_for(inventory)) as journal:
        state = journal.get_rollout(rollout_id).stack("payments-prod")
    assert state.status is StackStatus.SUCCEEDED
    assert [attempt.outcome for attempt in state.attempts] == [Outcome.SUCCEEDED]
    attempt = state.attempts[0]
    assert attempt.versions is not None and attempt.versions["mimir"] == "6.0.0"
    assert attempt.summary is not None and len(attempt.summary["spec_hash"]) == 64


def test_a_long_job_heart_beats_its_attempt_and_a_finished_one_is_beaten_no_more(
    inventory: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    script = write_script(tmp_path / "script.json", default={"duration": 2.5})
    rollout_id = running_rollout(inventory, ["payments-prod", "search-staging"])
    settings = _settings(script)  # a heartbeat every lock_ttl / 5 = 1 s

    for stack in ("payments-prod", "search-staging"):  # the process's one heartbeat thread, twice
        assert run_job(_job(rollout_id, stack, inventory), settings).state is JobState.succeeded
    with Journal(journal_url_for(inventory)) as journal:
        detail = journal.get_rollout(rollout_id)
    for stack in ("payments-prod", "search-staging"):
        [attempt] = detail.stack(stack).attempts
        assert attempt.heartbeat_at > attempt.started_at, stack
    caplog.set_level("WARNING", logger="fleet")
    time.sleep(1.5)  # a beat of a finished attempt would be taken for a takeover
    assert not [record for record in caplog.records if "taken over" in record.getMessage()]


def test_a_program_error_is_recorded_as_a_failure_and_not_retried(inventory: Path, tmp_path: Path) -> None:
    log = tmp_path / "runs.log"
    script = write_script(
        tmp_path / "script.json", log=str(log), stacks={"payments-prod": {"fail": "chart broke"}}
    )
    rollout_id = running_rollout(inventory, ["payments-prod"])

    result = run_job(_job(rollout_id, "payments-prod", inventory), _settings(script), backoff=(0.0, 0.0))

    assert result.state is JobState.failed
    assert result.info["error"] == "chart broke"
    assert log.read_text().count("start payments-prod") == 1
    with Journal(journal_url_for(inventory)) as journal:
        state = journal.get_rollout(rollout_id).stack("payments-prod")
    assert state.status is StackStatus.FAILED
    assert state.error == "chart broke"


def test_transient_failures_are_retried_with_backoff(inventory: Path, tmp_path: Path) -> None:
    log = tmp_path / "runs.log"
    script = write_script(
        tmp_path / "script.json", log=str(log), stacks={"payments-prod": {"transient_failures": 2}}
    )
    rollout_id = running_rollout(inventory, ["payments-prod"])
    waited: list[float] = []

    result = run_job(
        _job(rollout_id, "payments-prod", inventory),
        _settings(script),
        backoff=(0.5, 1.5, 4.5),
        sleep=waited.append,
    )

    assert result.state is JobState.succeeded
    assert waited == [0.5, 1.5]
    assert log.read_text().count("start payments-prod") == 3


def test_transient_failures_beyond_the_backoff_stand_as_a_failure(inventory: Path, tmp_path: Path) -> None:
    script = write_script(tmp_path / "script.json", stacks={"payments-prod": {"transient_failures": 5}})
    rollout_id = running_rollout(inventory, ["payments-prod"])

    result = run_job(
        _job(rollout_id, "payments-prod", inventory), _settings(script), backoff=(0.0,), sleep=lambda _: None
    )

    assert result.state is JobState.failed
    assert result.info["error"] == "scripted transient failure"


def test_a_job_of_a_halted_rollout_does_not_start(inventory: Path, tmp_path: Path) -> None:
    log = tmp_path / "runs.log"
    script = write_script(tmp_path / "script.json", log=str(log))
    rollout_id = running_rollout(inventory, ["payments-prod"])
    with Journal(journal_url_for(inventory)) as journal:
        journal.set_status(rollout_id, RolloutStatus.HALTED, reason="test")

    result = run_job(_job(rollout_id, "payments-prod", inventory), _settings(script))

    assert result.state is JobState.declined
    assert result.info["reason"] == "not_running"
    assert not log.exists()


def test_an_undecodable_message_is_an_error_result_not_an_exception() -> None:
    result = run_message('{"schema": 7}')
    assert result["state"] == "error"
    assert "schema version 7" in result["info"]["error"]


def test_scripted_engine_without_a_script_is_a_recorded_failure(inventory: Path) -> None:
    rollout_id = running_rollout(inventory, ["payments-prod"])
    result = run_job(_job(rollout_id, "payments-prod", inventory), Settings(engine_script=None, lock_ttl=5))
    assert result.state is JobState.failed
    assert "FLEET_ENGINE_SCRIPT" in result.info["error"]


@pytest.mark.parametrize("stack", ["controlroom", "analytics-prod"])
def test_the_recorded_versions_are_the_stacks_own(inventory: Path, tmp_path: Path, stack: str) -> None:
    script = write_script(tmp_path / "script.json")
    rollout_id = running_rollout(inventory, [stack])
    run_job(_job(rollout_id, stack, inventory), _settings(script))
    with Journal(journal_url_for(inventory)) as journal:
        versions = journal.get_rollout(rollout_id).stack(stack).attempts[0].versions
    assert versions is not None
    assert versions["loki"] == ("6.30.1" if stack == "analytics-prod" else "6.46.0")  # the workload's pin


def test_the_inventory_is_read_again_when_what_a_stack_depends_on_changed(inventory: Path) -> None:
    from fleet.executors.worker import load_job_inventory

    root = inventory.resolve()
    first = load_job_inventory(root, "payments-prod")
    assert load_job_inventory(root, "payments-prod") is first  # nothing changed: no re-read

    own = root / "workloads" / "payments-prod.yaml"
    own.write_text(own.read_text().replace("environment: production", "environment: staging"))
    second = load_job_inventory(root, "payments-prod")
    assert second is not first
    assert second.workload("payments-prod").spec.environment == "staging"

    added = root / "workloads" / "new-dev.yaml"
    added.write_text(own.read_text().replace("name: payments-prod", "name: new-dev"))
    assert "new-dev" in load_job_inventory(root, "controlroom").names  # the set of workloads changed
