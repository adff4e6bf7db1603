"""Safety of real operations, as a user meets it: `upgrade apply` writes fleet.yaml only once its
rollout can start; a multi-machine setup refuses state that only one machine sees; rendered
passwords stay out of the inventory, and `fleet init` keeps fleet's files out of git."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from inventories import copy_example
from typer.testing import CliRunner

from fleet.cli.main import app
from fleet.journal import Journal, journal_url_for
from fleet.journal.locks import LockHolder, StackLocks

runner = CliRunner()


@pytest.fixture
def inv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in [key for key in os.environ if key.startswith("FLEET_")]:
        monkeypatch.delenv(name)
    return copy_example(tmp_path / "inv")


def fleet(*args: str | Path, env: dict[str, str] | None = None) -> Any:
    return runner.invoke(app, [str(a) for a in args], env=env)


def _one_line(result: Any) -> str:
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    return lines[0]


# -- upgrade apply writes fleet.yaml only once the rollout can start ----------------------------------


def test_upgrade_apply_without_the_pulumi_cli_leaves_fleet_yaml_byte_identical(
    inv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent))  # no pulumi here
    before = (inv / "fleet.yaml").read_bytes()
    result = fleet("-i", inv, "upgrade", "apply", "--to", "alloy=1.5.0", "--yes")
    assert result.exit_code != 0
    assert "the pulumi CLI is not on PATH" in result.output
    assert "Wrote" not in result.output
    assert (inv / "fleet.yaml").read_bytes() == before
    with Journal(journal_url_for(inv)) as journal:
        assert journal.list_rollouts() == []


@pytest.fixture
def live_process() -> Iterator[int]:
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield process.pid
    process.kill()
    process.wait()


def test_upgrade_apply_refused_by_a_locked_stack_leaves_fleet_yaml_byte_identical(
    inv: Path, tmp_path: Path, live_process: int
) -> None:
    with Journal(journal_url_for(inv)) as journal:
        holder = LockHolder("bob@other-shell", os.uname().nodename, live_process)
        StackLocks(journal).acquire(["payments-prod"], "r-20260101-0000-beef", holder)
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"default": {"duration": 0}}))
    env = {"FLEET_ENGINE": "scripted", "FLEET_ENGINE_SCRIPT": str(script), "FLEET_WORKERS": "1"}
    before = (inv / "fleet.yaml").read_bytes()
    result = fleet("-i", inv, "upgrade", "apply", "--to", "alloy=1.5.0", "--yes", env=env)
    assert result.exit_code == 1, result.output
    assert "payments-prod locked by rollout r-20260101-0000-beef" in result.output
    assert (inv / "fleet.yaml").read_bytes() == before


# -- a multi-machine setup refuses state only one machine sees ----------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("rollout", "--all", "--yes"), "spec.state.backend: file://"),
        (("rollout", "--all", "--yes", "--dry-run"), "the render state"),
        (("upgrade", "apply", "--to", "alloy=1.5.0", "--yes"), "spec.state.backend: file://"),
        (("beat",), "spec.state.backend: file://"),  # its scheduled upgrades run on the workers
    ],
)
def test_a_broker_with_a_local_state_backend_is_refused_in_one_line(
    inv: Path, args: tuple[str, ...], expected: str
) -> None:
    before = (inv / "fleet.yaml").read_bytes()
    result = fleet("-i", inv, *args, env={"FLEET_BROKER_URL": "redis://127.0.0.1:1/0"})
    assert result.exit_code == 2, result.output
    line = _one_line(result)
    assert expected in line and "FLEET_BROKER_URL" in line
    assert (inv / "fleet.yaml").read_bytes() == before
    assert not (inv / ".fleet" / "fleet.db").exists()


@pytest.mark.parametrize(
    "args",
    [
        ("rollout", "--all", "--yes"),
        ("upgrade", "apply", "--to", "alloy=1.5.0", "--yes"),
        ("workload", "remove", "search-staging", "--yes"),
        ("credentials", "rotate", "--all", "--yes"),
    ],
)
def test_an_unreachable_broker_is_one_line_before_anything_is_recorded(
    inv: Path, args: tuple[str, ...]
) -> None:
    """Recorded, such a rollout would only wait for the broker, warning every second."""
    before = {path: path.read_bytes() for path in inv.rglob("*.yaml")}
    env = {"FLEET_BROKER_URL": "redis://:s3cret@127.0.0.1:1/0", "FLEET_ENGINE": "scripted"}
    result = fleet("-i", inv, *args, env=env)
    assert result.exit_code == 1, result.output
    line = _one_line(result)
    assert "cannot reach the broker redis://:***@127.0.0.1:1/0 (FLEET_BROKER_URL)" in line, line
    assert "s3cret" not in result.output
    assert {path: path.read_bytes() for path in inv.rglob("*.yaml")} == before
    assert not (inv / ".fleet" / "fleet.db").exists()


# -- rendered passwords stay out of the inventory ------------------------------------------------------


def test_the_render_state_lives_in_the_users_state_directory_not_the_inventory(
    inv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state_home = tmp_path / "state-home"
    monkeypatch.setenv("XDG_STATE_HOME", str(state_home))
    assert fleet("-i", inv, "render", "controlroom", "--no-charts").exit_code == 0

    (state,) = state_home.glob("fleet/render/*/controlroom.json")
    assert stat.S_IMODE(state.stat().st_mode) == 0o600
    assert stat.S_IMODE(state.parent.stat().st_mode) == 0o700
    passwords = [entry["result"] for entry in json.loads(state.read_text())["passwords"].values()]
    assert passwords
    inside = [path for path in inv.rglob("*") if path.is_file()]
    assert not any(p in path.read_text(errors="replace") for path in inside for p in passwords)


def test_a_render_state_left_in_the_inventory_moves_to_the_state_directory(
    inv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "before"))
    assert fleet("-i", inv, "render", "controlroom", "--no-charts").exit_code == 0
    (old,) = (tmp_path / "before").glob("fleet/render/*/controlroom.json")
    legacy = inv / ".fleet" / "render" / ".state" / "controlroom.json"
    legacy.parent.mkdir(parents=True)
    legacy.write_bytes(old.read_bytes())  # where an older fleet kept it

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "after"))
    assert fleet("-i", inv, "render", "controlroom", "--no-charts").exit_code == 0
    (moved,) = (tmp_path / "after").glob("fleet/render/*/controlroom.json")
    assert not legacy.exists()
    assert json.loads(moved.read_text())["passwords"] == json.loads(old.read_text())["passwords"]


def test_init_writes_a_gitignore_that_keeps_fleets_files_out_of_git(tmp_path: Path) -> None:
    target = tmp_path / "new"
    result = fleet("init", target)
    assert result.exit_code == 0, result.output
    assert ".fleet/" in (target / ".gitignore").read_text().splitlines()
    subprocess.run(["git", "init", "-q", str(target)], check=True)
    (target / ".fleet").mkdir()
    (target / ".fleet" / "fleet.db").write_text("journal")
    ignored = subprocess.run(
        ["git", "-C", str(target), "check-ignore", ".fleet/fleet.db"], capture_output=True, text=True
    )
    assert ignored.returncode == 0 and ignored.stdout.strip() == ".fleet/fleet.db"
