"""Process settings from the environment (``FLEET_*``); command-line flags override them.

Read once at the CLI edge and passed down explicitly; nothing reads settings at import time.

A plain pydantic model that reads its own variables: pydantic-settings did the same for these
flat fields but cost every command 0.12 s of CPU to import (its cloud secret providers, dotenv,
asyncio), a quarter of `fleet validate` at 1000 workloads.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from fleet.errors import UserError
from fleet.kinds import EngineKind
from fleet.messages import plain_message

_MAX_ECHO = 80
_PASSWORD_IN_URL = re.compile(r"(://[^:/@\s]*:)[^@\s]*@")
ENV_PREFIX = "FLEET_"
_JOURNAL_URL = re.compile(r"(sqlite|postgresql)(\+\w+)?://")


class Settings(BaseModel):
    """Where the inventory, the journal and the broker are, and how stacks run.

    ``Settings()`` reads each field from ``FLEET_<FIELD>`` (the name in any case, as
    pydantic-settings read it); a value passed as an argument wins over the variable.
    """

    model_config = ConfigDict(extra="ignore")

    inventory: Path = Field(default=Path("."), description="The inventory directory")
    database_url: str | None = Field(
        default=None, description="Journal database; default: SQLite at <inventory>/.fleet/fleet.db"
    )
    broker_url: str | None = Field(
        default=None,
        description="Celery broker (redis://…); unset: the local process-pool executor",
    )
    result_backend: str | None = Field(default=None, description="Celery results; default: the broker")
    visibility_timeout: int = Field(
        default=4 * 3600,
        ge=1,
        description="Seconds before an unacknowledged task is redelivered; above the longest update",
    )
    # Upper bounds far beyond any machine or wait: a larger value overflowed mid-rollout.
    workers: int = Field(default=0, ge=0, le=1024, description="Local executor processes; 0: one per core")
    lock_ttl: int = Field(
        default=300, ge=5, le=7 * 86400, description="Seconds after which a silent lock is stale"
    )
    passphrase: str | None = Field(default=None, repr=False, description="Pulumi config passphrase")
    engine: EngineKind | None = Field(
        default=None,
        description=(
            "Engine of real (non dry-run) rollouts; default: pulumi. `scripted` runs no program "
            "(it follows FLEET_ENGINE_SCRIPT) and is for tests and benchmarks only"
        ),
    )
    engine_script: Path | None = Field(
        default=None, description="The scripted engine's JSON script (see fleet/engines/scripted.py)"
    )
    metrics_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="Port where a process driving a rollout serves its Prometheus metrics; unset: none",
    )
    charts_offline: bool = Field(
        default=False,
        description=(
            "Real rollouts install charts only from the chart cache: a chart version that is not "
            "cached fails its stack instead of being fetched from its repository"
        ),
    )
    log_level: str = Field(
        default="WARNING", description="Log level of the fleet commands (DEBUG, INFO, WARNING, ERROR)"
    )

    @field_validator("database_url")
    @classmethod
    def _journal_database(cls, url: str | None) -> str | None:
        # The journal is SQLite or PostgreSQL; anything else failed later without naming the variable.
        if url is not None and not _JOURNAL_URL.match(url):
            raise ValueError("use sqlite:///PATH or postgresql+psycopg://USER@HOST/DB")
        return url

    @field_validator("broker_url", "result_backend")
    @classmethod
    def _redis_only(cls, url: str | None) -> str | None:
        # The scheduler's lease, the result polling and the visibility timeout are Redis's; any
        # other Celery transport failed later, inside a worker, with a traceback.
        if url is not None and not url.startswith(("redis://", "rediss://")):
            raise ValueError("fleet runs on Redis: use a redis:// or rediss:// URL")
        return url

    @model_validator(mode="before")
    @classmethod
    def _from_variables(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        wanted = {f"{ENV_PREFIX}{name}".lower(): name for name in cls.model_fields}
        found = {wanted[key.lower()]: value for key, value in os.environ.items() if key.lower() in wanted}
        return {**found, **data}

    @classmethod
    def from_environment(cls) -> Settings:
        """The settings of this process; a bad ``FLEET_*`` value is a UserError naming the variable,
        what it holds (cut short) and what it should hold."""
        try:
            return cls()
        except ValidationError as error:
            first = error.errors(include_url=False)[0]
            name = str(first["loc"][0]) if first["loc"] else ""
            variable = f"FLEET_{name.upper()}"
            value = _PASSWORD_IN_URL.sub(r"\1***@", repr(first.get("input")))
            if len(value) > _MAX_ECHO:
                value = f"{value[:_MAX_ECHO]}… ({len(value)} characters)"
            info = cls.model_fields.get(name)
            meaning = f" ({info.description})" if info is not None and info.description else ""
            message = plain_message(first)
            raise UserError(f"{variable}={value}: {message}{meaning}; fix it or unset {variable}") from None

    @property
    def rollout_engine(self) -> EngineKind:
        """The engine a real rollout uses: FLEET_ENGINE, else pulumi."""
        return self.engine or EngineKind.pulumi
