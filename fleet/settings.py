"""Process settings from the environment (``FLEET_*``); command-line flags override them.

Read once at the CLI edge and passed down explicitly; nothing reads settings at import time.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from fleet.kinds import EngineKind


class Settings(BaseSettings):
    """Where the inventory, the journal and the broker are, and how stacks run."""

    model_config = SettingsConfigDict(env_prefix="FLEET_", extra="ignore")

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
        description="Seconds before an unacknowledged task is redelivered; above the longest update",
    )
    workers: int = Field(default=0, ge=0, description="Local executor processes; 0: one per core")
    lock_ttl: int = Field(default=300, ge=5, description="Seconds after which a silent lock is stale")
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
    log_level: str = Field(
        default="WARNING", description="Log level of the fleet commands (DEBUG, INFO, WARNING, ERROR)"
    )

    @property
    def rollout_engine(self) -> EngineKind:
        """The engine a real rollout uses: FLEET_ENGINE, else pulumi."""
        return self.engine or EngineKind.pulumi
