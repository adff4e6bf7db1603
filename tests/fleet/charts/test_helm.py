from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from fleet.charts.helm import helm_binary
from fleet.errors import MissingTool


def _executable(path: Path) -> Path:
    path.write_text("#!/bin/sh\necho helm\n")
    path.chmod(0o755)
    return path


def test_fleet_helm_wins_over_path(tmp_path: Path) -> None:
    chosen = _executable(tmp_path / "my-helm")
    (tmp_path / "bin").mkdir()
    _executable(tmp_path / "bin" / "helm")
    env = {"FLEET_HELM": str(chosen), "PATH": str(tmp_path / "bin")}
    assert helm_binary(env) == chosen


def test_helm_on_path(tmp_path: Path) -> None:
    found = _executable(tmp_path / "helm")
    assert helm_binary({"PATH": str(tmp_path)}) == found


def test_fleet_helm_that_is_not_executable_is_one_line_naming_it(tmp_path: Path) -> None:
    with pytest.raises(MissingTool) as caught:
        helm_binary({"FLEET_HELM": str(tmp_path / "nope"), "PATH": ""})
    assert "FLEET_HELM=" in caught.value.message and "\n" not in caught.value.message


def test_missing_helm_says_how_to_get_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.executable", str(tmp_path / "python"))
    with pytest.raises(MissingTool) as caught:
        helm_binary({"PATH": str(tmp_path)})
    assert "helm CLI is not on PATH" in caught.value.message
    assert "FLEET_HELM" in caught.value.message and "\n" not in caught.value.message


def test_the_venv_helm_is_helm_v4() -> None:
    """`make test` installs Helm v4 into the venv (scripts/install-helm.py); the tests render with it."""
    helm = helm_binary()
    version = subprocess.run(
        [str(helm), "version", "--template", "{{.Version}}"], capture_output=True, text=True, check=True
    ).stdout
    assert version.startswith("v4."), version
