"""Process settings: the engine of real rollouts comes from FLEET_ENGINE, pulumi by default."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

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
