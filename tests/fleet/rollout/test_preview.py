"""The offline preview: a stack's render compared with its last recorded render."""

from __future__ import annotations

import json
from pathlib import Path

from fleet.inventory.loader import load_inventory
from fleet.journal import Journal, journal_url_for
from fleet.rollout.preview import preview_lines, render_preview


def test_a_changed_field_previews_as_updates_and_a_new_stack_as_creates(inventory: Path) -> None:
    with Journal(journal_url_for(inventory)) as journal:
        [first] = render_preview(load_inventory(inventory), journal, ["payments-prod"])
        assert first.counts()["create"] > 0 and first.counts()["update"] == 0  # nothing recorded yet
        plan = (inventory / ".fleet" / "render" / "payments-prod" / "plan.json").read_text()
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
