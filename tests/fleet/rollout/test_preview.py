"""The offline preview: a stack's render compared with its last recorded render."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from fleet.drift.diff import diff_plans
from fleet.engines.render import RenderEngine
from fleet.inventory.loader import load_inventory
from fleet.inventory.models import CredentialGeneration
from fleet.journal import Journal, journal_url_for
from fleet.journal.credentials import begin_rotation, finish_rotation
from fleet.rollout.preview import preview_lines, render_preview


def test_a_changed_field_previews_as_updates_and_a_new_stack_as_creates(inventory: Path) -> None:
    with Journal(journal_url_for(inventory)) as journal:
        [first] = render_preview(load_inventory(inventory), journal, ["payments-prod"])
        assert first.counts()["create"] > 0 and first.counts()["update"] == 0  # nothing recorded yet
        plan = RenderEngine().render(load_inventory(inventory), "payments-prod").read_text()
        journal.record_render("payments-prod", json.loads(plan))
        path = inventory / "workloads" / "payments-prod.yaml"
        path.write_text(path.read_text().replace("retention: 60d", "retention: 90d"))

        [second] = render_preview(load_inventory(inventory), journal, ["payments-prod"])

    counts = second.counts()
    assert counts["update"] >= 1 and counts["create"] == counts["delete"] == counts["replace"] == 0
    lines = preview_lines([second])
    assert lines[0] == f"payments-prod: {counts['update']} to update"
    assert all(line.startswith("  ~ update ") for line in lines[1:])
    assert "90d" not in "\n".join(lines)  # resources and names only, never values


def _rotated_baseline(inventory: Path, journal: Journal) -> dict[str, Any]:
    """Record payments-prod's rotation to generation 1 in ``journal`` and, as the last render of
    the control room, its render at that generation (what a rollout after the rotation records)."""
    begin_rotation(journal, ["payments-prod"], "r-rotation")
    finish_rotation(journal, "r-rotation")
    rotated = dataclasses.replace(
        load_inventory(inventory), credentials={"payments-prod": CredentialGeneration(generation=1)}
    )
    plan = json.loads(RenderEngine().render(rotated, "controlroom").read_text())
    journal.record_render("controlroom", plan)
    first = json.loads(RenderEngine().render(load_inventory(inventory), "controlroom").read_text())
    assert diff_plans(plan, first)  # generation 0 would differ: the test can tell
    return plan


def test_a_rotated_control_room_previews_at_the_generation_the_journal_records(inventory: Path) -> None:
    with Journal(journal_url_for(inventory)) as journal:
        _rotated_baseline(inventory, journal)
        [preview] = render_preview(load_inventory(inventory), journal, ["controlroom"])
    assert preview.error is None
    assert sum(preview.counts().values()) == 0, preview_lines([preview])


def test_an_offline_preview_writes_nothing_into_the_inventory(inventory: Path) -> None:
    """The first offline preview created .fleet/render/ with every stack's plan, which nothing
    reads: a preview compares with the journal's renders, and keeps its own in memory."""
    from malformed import snapshot
    from typer.testing import CliRunner

    from fleet.cli.main import app

    before = snapshot(inventory)
    result = CliRunner().invoke(app, ["-i", str(inventory), "rollout", "--all", "--dry-run", "--preview"])
    assert result.exit_code == 0, result.output
    assert "payments-prod: " in result.output and "to create" in result.output
    assert not (inventory / ".fleet").exists()  # no render, and no journal either
    assert snapshot(inventory) == before
