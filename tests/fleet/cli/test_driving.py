"""Before a real run touches anything: without the ``pulumi`` CLI each command says how to install
it and, where it has one, its own offline alternative (never a flag the command does not take)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from inventories import copy_example
from typer.testing import CliRunner

from fleet.cli.main import app


@pytest.mark.parametrize(
    ("argv", "instead"),
    [
        (["rollout", "--all", "--yes"], "; or, offline: --dry-run"),
        (["drift", "--all"], "; or, offline: --offline"),
        (["upgrade", "apply", "--to", "alloy=1.5.0", "--yes"], "; or, to see the change only: --diff"),
        (["workload", "remove", "payments-prod", "--yes"], "; or, to see what it deletes: --dry-run"),
        (["credentials", "rotate", "--all", "--yes"], "; or, to see its phases: --dry-run"),
        (["upgrade", "run", "--stacks", "payments-prod"], ""),
    ],
)
def test_without_pulumi_each_command_names_only_its_own_alternative(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, argv: list[str], instead: str
) -> None:
    # Every one said "or use --dry-run": drift's is --offline, upgrade run has none.
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent))  # no pulumi here
    for name in ("FLEET_ENGINE", "FLEET_BROKER_URL", "FLEET_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    inventory = copy_example(tmp_path / "inv")
    result = CliRunner().invoke(app, ["-i", str(inventory), *argv])
    assert result.exit_code == 1, result.output
    [line] = result.output.splitlines()
    assert line.startswith("error: the pulumi CLI is not on PATH; install it with ")
    assert line.endswith(f"download-install/){instead}")
