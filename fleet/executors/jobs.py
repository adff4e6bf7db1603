"""The job schema: what a coordinator hands an executor to run one stack, and what comes back.

A job is small, versioned JSON that names things and carries no secrets: the rollout id, the
stack, the action, which engine, the inventory's path and the submission number. A worker reads
everything else (journal URL, passphrase, credentials) from its own environment, so a task
message sitting in Redis never holds a password.
"""

from __future__ import annotations

import dataclasses
import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from fleet.kinds import Action, EngineKind

SCHEMA_VERSION = 1


class JobKey(NamedTuple):
    """What identifies a job across submissions: one stack in one rollout."""

    rollout_id: str
    stack: str


class JobError(ValueError):
    """A job or result message that is not valid for this version of fleet."""


@dataclass(frozen=True)
class StackJob:
    """Run ``action`` on ``stack`` for rollout ``rollout_id``; ``attempt`` counts submissions."""

    rollout_id: str
    stack: str
    action: Action
    engine: EngineKind
    inventory: str
    """The inventory directory, as the workers see it (a shared path, or the same checkout)."""
    attempt: int = 1

    @property
    def key(self) -> JobKey:
        return JobKey(self.rollout_id, self.stack)

    @property
    def task_id(self) -> str:
        """A unique, readable id for this submission (Celery's task id)."""
        return f"{self.rollout_id}:{self.stack}:{self.attempt}"

    def resubmission(self) -> StackJob:
        """The same job, to be submitted again (after a lost message or a lost worker)."""
        return dataclasses.replace(self, attempt=self.attempt + 1)

    def to_json(self) -> str:
        """The job as one line of JSON, with its schema version."""
        return json.dumps(
            {
                "schema": SCHEMA_VERSION,
                "rollout_id": self.rollout_id,
                "stack": self.stack,
                "action": self.action.value,
                "engine": self.engine.value,
                "inventory": self.inventory,
                "attempt": self.attempt,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> StackJob:
        """Decode a job; JobError when it is not JSON, has another schema version or a bad field."""
        data = _object(text, "job")
        try:
            job = cls(
                rollout_id=_text(data, "rollout_id"),
                stack=_text(data, "stack"),
                action=Action(data["action"]),
                engine=EngineKind(data["engine"]),
                inventory=_text(data, "inventory"),
                attempt=int(data["attempt"]),
            )
        except (KeyError, ValueError, TypeError) as error:
            raise JobError(f"bad job message: {error}") from None
        if job.attempt < 1:
            raise JobError(f"bad job message: attempt must be 1 or more, not {job.attempt}")
        return job


class JobState(enum.StrEnum):
    """How a job ended, as an executor event reports it."""

    succeeded = "succeeded"
    """The stack ran and succeeded (recorded in the journal)."""
    failed = "failed"
    """The stack ran and failed (recorded in the journal)."""
    declined = "declined"
    """The journal refused the claim: already succeeded, running elsewhere, cancelled, not running."""
    error = "error"
    """The job itself broke (a crashed process, an undecodable message): the journal knows more."""


@dataclass(frozen=True)
class JobResult:
    """What a task returns: small, JSON-friendly, secret-free."""

    key: JobKey
    state: JobState
    info: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA_VERSION,
            "rollout_id": self.key.rollout_id,
            "stack": self.key.stack,
            "state": self.state.value,
            "info": dict(self.info),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> JobResult:
        """Decode a result; JobError when it has another schema version or a bad field."""
        _check_schema(data, "result")
        try:
            key = JobKey(_text(data, "rollout_id"), _text(data, "stack"))
            return cls(key, JobState(data["state"]), dict(data.get("info") or {}))
        except (KeyError, ValueError, TypeError) as error:
            raise JobError(f"bad job result: {error}") from None


def _object(text: str | bytes, what: str) -> Mapping[str, Any]:
    try:
        data = json.loads(text)
    except ValueError as error:
        raise JobError(f"bad {what} message: not JSON ({error})") from None
    if not isinstance(data, dict):
        raise JobError(f"bad {what} message: expected a JSON object")
    _check_schema(data, what)
    return data


def _check_schema(data: Mapping[str, Any], what: str) -> None:
    if data.get("schema") != SCHEMA_VERSION:
        raise JobError(
            f"bad {what} message: schema version {data.get('schema')!r}, this fleet speaks {SCHEMA_VERSION}; "
            "run the same fleet version on the coordinator and the workers"
        )


def _text(data: Mapping[str, Any], name: str) -> str:
    value = data[name]
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string")
    return value
