from __future__ import annotations

import json
from pathlib import Path

from inventories import write_inventory
from typer.testing import CliRunner

from fleet.cli.main import app


def _inventory(root: Path) -> Path:
    return write_inventory(root, ["alpha"])


def test_render_writes_one_plan_per_stack(tmp_path: Path) -> None:
    root = _inventory(tmp_path / "inv")
    result = CliRunner().invoke(app, ["-i", str(root), "render"])
    assert result.exit_code == 0, result.output
    *lines, summary = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["controlroom", "alpha"]
    resources = sum(int(line.split()[1]) for line in lines)
    assert summary.startswith(f"rendered 2 stacks ({resources} resources) into ")
    render = root / ".fleet" / "render"
    for line in lines:
        stack, count, _word, path = line.split()
        assert Path(path) == render / stack / "plan.json"
        assert len(json.loads(Path(path).read_text(encoding="utf-8"))["resources"]) == int(count)
    secrets = json.loads((render / ".state" / "controlroom.json").read_text(encoding="utf-8"))["passwords"]
    for entry in secrets.values():
        assert entry["result"] not in result.output


def test_render_names_and_out(tmp_path: Path) -> None:
    root = _inventory(tmp_path / "inv")
    out = tmp_path / "plans"
    result = CliRunner().invoke(app, ["-i", str(root), "render", "controlroom", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "controlroom" / "plan.json").is_file()
    assert not (out / "alpha").exists()


def test_show_secrets_writes_the_values(tmp_path: Path) -> None:
    root = _inventory(tmp_path / "inv")
    out = tmp_path / "plans"
    result = CliRunner().invoke(
        app, ["-i", str(root), "render", "--all", "--out", str(out), "--show-secrets"]
    )
    assert result.exit_code == 0, result.output
    plan = json.loads((out / "controlroom" / "plan.json").read_text(encoding="utf-8"))
    password = plan["outputs"]["credentials"]["alpha"]["password"]
    assert password not in result.output
    assert password in (out / "alpha" / "plan.json").read_text(encoding="utf-8")


def test_unknown_names_exit_2(tmp_path: Path) -> None:
    root = _inventory(tmp_path / "inv")
    result = CliRunner().invoke(app, ["-i", str(root), "render", "alpha", "nope"])
    assert result.exit_code == 2
    assert "unknown stack: nope" in result.output
    assert not (root / ".fleet" / "render").exists()
    both = CliRunner().invoke(app, ["-i", str(root), "render", "alpha", "--all"])
    assert both.exit_code == 2
