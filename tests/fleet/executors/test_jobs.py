"""The job schema: small versioned JSON, no secrets, strict decoding."""

from __future__ import annotations

import json

import pytest

from fleet.executors.jobs import SCHEMA_VERSION, JobError, JobKey, JobResult, JobState, StackJob
from fleet.kinds import Action, EngineKind


def _job(**changes: object) -> StackJob:
    fields: dict[str, object] = {
        "rollout_id": "r-20260101-0000-abcd",
        "stack": "payments-prod",
        "action": Action.up,
        "engine": EngineKind.pulumi,
        "inventory": "/srv/fleet",
    }
    fields.update(changes)
    return StackJob(**fields)  # type: ignore[arg-type]


def test_a_job_round_trips_through_json_with_its_schema_version() -> None:
    job = _job(attempt=3)
    data = json.loads(job.to_json())
    assert data == {
        "schema": SCHEMA_VERSION,
        "rollout_id": "r-20260101-0000-abcd",
        "stack": "payments-prod",
        "action": "up",
        "engine": "pulumi",
        "inventory": "/srv/fleet",
        "attempt": 3,
    }
    assert StackJob.from_json(job.to_json()) == job
    assert job.key == JobKey("r-20260101-0000-abcd", "payments-prod")


def test_a_resubmission_is_the_same_job_with_the_next_attempt_and_its_own_task_id() -> None:
    job = _job()
    again = job.resubmission()
    assert again.key == job.key
    assert again.attempt == 2
    assert again.task_id != job.task_id


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"schema": 99}', "schema version 99"),
        (
            '{"schema": 1, "rollout_id": "r", "stack": "s", "action": "explode", "engine": "pulumi", '
            '"inventory": "/i", "attempt": 1}',
            "explode",
        ),
        (
            '{"schema": 1, "rollout_id": "", "stack": "s", "action": "up", "engine": "pulumi", '
            '"inventory": "/i", "attempt": 1}',
            "rollout_id",
        ),
        (
            '{"schema": 1, "rollout_id": "r", "stack": "s", "action": "up", "engine": "pulumi", '
            '"inventory": "/i", "attempt": 0}',
            "attempt",
        ),
        ('{"schema": 1, "rollout_id": "r", "stack": "s", "action": "up", "engine": "pulumi"}', "inventory"),
    ],
)
def test_bad_messages_are_refused_with_the_reason(message: str, expected: str) -> None:
    with pytest.raises(JobError, match=expected):
        StackJob.from_json(message)


def test_results_round_trip_and_refuse_other_schema_versions() -> None:
    result = JobResult(JobKey("r", "s"), JobState.failed, {"error": "boom", "attempt": 1})
    assert JobResult.from_json(result.to_json()) == result
    with pytest.raises(JobError, match="schema version"):
        JobResult.from_json({**result.to_json(), "schema": 2})
