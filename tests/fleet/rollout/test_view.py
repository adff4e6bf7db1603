"""How a rollout looks: gate verdicts and errors in the live table, the change lines and the summary."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

from fleet.journal import Journal, RolloutDetail, journal_url_for
from fleet.rollout.hooks import DRY_RUN_GATE
from fleet.rollout.view import RolloutView, rollout_table, summary_lines, without_stack_name
from fleet.rollout.waves import Wave


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    with Journal(journal_url_for(tmp_path)) as opened:
        yield opened


def halted_by_a_gate(journal: Journal) -> str:
    """Canary passed its gate, wave 1 had a failed stack (a Pulumi-style error) and a silent
    workload, so the rollout halted before wave 2."""
    rollout = journal.create_rollout(
        [
            Wave(0, "canary", ("search-staging",)),
            Wave(1, "wave 1", ("analytics-prod", "eu-prod")),
            Wave(2, "wave 2", ("payments-prod",)),
        ],
        kind="upgrade",
        dry_run=False,
        policy={},
        versions={},
    )
    journal.set_status(rollout.id, "running")
    for index, stack, outcome, error in (
        (0, "search-staging", "succeeded", None),
        (1, "eu-prod", "succeeded", None),
        (1, "analytics-prod", "failed", "analytics-prod: analytics-prod: helm release loki timed out"),
    ):
        journal.mark_wave(rollout.id, index, "running")
        claim = journal.claim(rollout.id, stack, "w")
        assert claim.attempt is not None
        journal.finish(rollout.id, stack, claim.attempt, outcome, error=error)
    journal.mark_wave(rollout.id, 0, "succeeded")
    journal.record_gate(rollout.id, 0, passed=True, reason="receiving series from 1 workload")
    journal.mark_wave(rollout.id, 1, "failed")
    journal.record_gate(rollout.id, 1, passed=False, reason="silent: eu-prod (after 10m)")
    journal.mark_stacks(rollout.id, ["payments-prod"], "skipped")
    journal.set_status(rollout.id, "halted", reason="health gate after wave 1: silent: eu-prod (after 10m)")
    return rollout.id


def rendered(detail: RolloutDetail) -> str:
    out = io.StringIO()
    Console(file=out, width=160, color_system=None).print(rollout_table(detail))
    return out.getvalue()


def test_the_live_table_shows_each_gate_under_its_wave_and_errors_once(journal: Journal) -> None:
    text = rendered(journal.get_rollout(halted_by_a_gate(journal)))
    lines = [line.rstrip() for line in text.splitlines()]

    canary = next(i for i, line in enumerate(lines) if line.lstrip().startswith("canary"))
    assert "gate: passed (receiving series from 1 workload)" in lines[canary + 1]
    assert any("gate: failed: silent: eu-prod (after 10m)" in line for line in lines)
    [failed] = [line for line in lines if "analytics-prod" in line]
    assert re.search(r"analytics-prod\s+failed\s+\S+\s+helm release loki timed out$", failed), failed
    assert "analytics-prod: analytics-prod" not in text


def test_the_summary_names_each_failed_stack_once_and_every_gate(journal: Journal) -> None:
    rollout_id = halted_by_a_gate(journal)
    assert summary_lines(journal.get_rollout(rollout_id)) == [
        f"rollout {rollout_id} halted: 2 succeeded, 1 failed, 1 skipped",
        "  reason: health gate after wave 1: silent: eu-prod (after 10m)",
        "  analytics-prod: helm release loki timed out",
        "  gate after canary: passed (receiving series from 1 workload)",
        "  gate after wave 1: failed: silent: eu-prod (after 10m)",
    ]


def test_piped_the_view_prints_the_gate_after_its_wave(journal: Journal) -> None:
    out = io.StringIO()
    view = RolloutView(Console(file=out, width=160))
    view.update(journal.get_rollout(halted_by_a_gate(journal)))
    lines = out.getvalue().splitlines()
    assert lines[:3] == [
        "canary wave: succeeded",
        "search-staging: succeeded",
        "gate after canary: passed (receiving series from 1 workload)",
    ]
    assert "analytics-prod: failed (helm release loki timed out)" in lines
    gate = lines.index("gate after wave 1: failed: silent: eu-prod (after 10m)")
    assert gate > lines.index("wave 1: failed")


def test_a_dry_run_gate_says_it_was_skipped(journal: Journal) -> None:
    rollout = journal.create_rollout(
        [Wave(0, "canary", ("dev-1",))], kind="upgrade", dry_run=True, policy={}, versions={}
    )
    journal.record_gate(rollout.id, 0, passed=True, reason=DRY_RUN_GATE)
    assert summary_lines(journal.get_rollout(rollout.id))[-1] == (
        "  gate after canary: skipped: dry run (nothing was deployed)"
    )


@pytest.mark.parametrize(
    ("error", "shown"),
    [
        ("analytics-prod: analytics-prod: boom", "boom"),
        ("organization/fleet-acme/analytics-prod: boom", "boom"),
        ("stack analytics-prod: not found", "not found"),
        ("analytics-production: boom", "analytics-production: boom"),
        ("chart failed for analytics-prod: boom", "chart failed for analytics-prod: boom"),
        (None, ""),
    ],
)
def test_the_stack_name_is_not_repeated_in_front_of_its_error(error: str | None, shown: str) -> None:
    assert without_stack_name("analytics-prod", error) == shown
