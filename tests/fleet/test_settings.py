"""Process settings: the engine of real rollouts comes from FLEET_ENGINE, pulumi by default."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from fleet.errors import UserError
from fleet.kinds import EngineKind
from fleet.settings import Settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("FLEET_ENGINE", "FLEET_ENGINE_SCRIPT", "FLEET_LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)


def test_real_rollouts_use_pulumi_unless_fleet_engine_says_otherwise(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert Settings().rollout_engine is EngineKind.pulumi
    monkeypatch.setenv("FLEET_ENGINE", "scripted")
    monkeypatch.setenv("FLEET_ENGINE_SCRIPT", str(tmp_path / "script.json"))
    settings = Settings()
    assert settings.rollout_engine is EngineKind.scripted
    assert settings.engine_script == tmp_path / "script.json"


def test_an_unknown_engine_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEET_ENGINE", "terraform")
    with pytest.raises(ValidationError):
        Settings()


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "FLEET_LOCK_TTL",
            "abc",
            "FLEET_LOCK_TTL='abc': expected a whole number "
            "(Seconds after which a silent lock is stale); fix it or unset FLEET_LOCK_TTL",
        ),
        (
            "FLEET_WORKERS",
            "-1",
            "FLEET_WORKERS='-1': must be at least 0 "
            "(Local executor processes; 0: one per core); fix it or unset FLEET_WORKERS",
        ),
        (
            "FLEET_VISIBILITY_TIMEOUT",
            "0",
            "FLEET_VISIBILITY_TIMEOUT='0': must be at least 1",
        ),
        # Far beyond what a machine runs or waits; such a value crashed a rollout it had recorded.
        ("FLEET_WORKERS", "9" * 23, "FLEET_WORKERS='99999999999999999999999': must be at most 1024"),
        ("FLEET_LOCK_TTL", "9999999999", "FLEET_LOCK_TTL='9999999999': must be at most 604800"),
        (
            "FLEET_DATABASE_URL",
            "garbage",
            "FLEET_DATABASE_URL='garbage': use sqlite:///PATH or postgresql+psycopg://USER@HOST/DB",
        ),
        (
            "FLEET_DATABASE_URL",
            "mysql://fleet:hunter2@db/fleet",
            "FLEET_DATABASE_URL='mysql://fleet:***@db/fleet': use sqlite:///PATH or postgresql+psycopg://",
        ),
        (
            "FLEET_CHARTS_OFFLINE",
            "maybe",
            "FLEET_CHARTS_OFFLINE='maybe': expected true or false",
        ),
        ("FLEET_ENGINE", "bogus", "FLEET_ENGINE='bogus': expected 'pulumi', 'render' or 'scripted'"),
        ("FLEET_LOCK_TTL", "9" * 100_000, "FLEET_LOCK_TTL='99999999"),
        (
            "FLEET_BROKER_URL",
            "amqp://guest:hunter2@rabbit//",
            "FLEET_BROKER_URL='amqp://guest:***@rabbit//': "
            "fleet runs on Redis: use a redis:// or rediss:// URL",
        ),
        (
            "FLEET_RESULT_BACKEND",
            "rpc://",
            "FLEET_RESULT_BACKEND='rpc://': fleet runs on Redis: use a redis:// or rediss:// URL",
        ),
    ],
)
def test_a_bad_setting_is_one_user_error_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(UserError) as caught:
        Settings.from_environment()
    assert caught.value.message.startswith(message)
    assert caught.value.message.endswith(f"fix it or unset {variable}")
    assert len(caught.value.message) < 400


def test_variables_are_read_in_any_case_and_arguments_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEET_LOCK_TTL", "42")
    monkeypatch.setenv("fleet_workers", "3")
    monkeypatch.setenv("FLEET_NOT_A_SETTING", "ignored")
    settings = Settings()
    assert (settings.lock_ttl, settings.workers) == (42, 3)
    assert Settings(lock_ttl=7).lock_ttl == 7
    assert Settings(inventory=Path("/inv")).lock_ttl == 42


def test_settings_do_not_import_pydantic_settings() -> None:
    # It cost every command 0.12 s of CPU; a plain model reads the variables.
    code = "import sys, fleet.settings; print('pydantic_settings' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
