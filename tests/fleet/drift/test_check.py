"""Drift: the plan diff (pure), and ``fleet drift`` through the CLI on the example inventory:
what it prints, what the journal and ``fleet history`` keep, and the webhook it posts."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from inventories import copy_example
from typer.testing import CliRunner

from fleet.cli.main import app
from fleet.drift.check import ResourceChange, StackDrift, diff_plans
from fleet.journal import Journal, RolloutKind, RolloutStatus, journal_url_for

runner = CliRunner()


def plan(*resources: dict[str, Any]) -> dict[str, Any]:
    return {"stack": "w", "resources": list(resources), "outputs": {}}


def resource(name: str, inputs: dict[str, Any], type_: str = "kubernetes:core/v1:Secret") -> dict[str, Any]:
    return {"type": type_, "name": name, "parent": "w", "inputs": inputs}


def test_diff_names_added_removed_and_changed_paths_without_values() -> None:
    before = plan(
        resource("a", {"data": {"password": "[secret]"}, "replicas": 1, "args": ["x", "y"]}),
        resource("gone", {}),
    )
    after = plan(
        resource("a", {"data": {"password": "[secret]", "user": "u"}, "replicas": 2, "args": ["x", "z"]}),
        resource("new", {"k": 1}),
    )
    assert diff_plans(before, after) == (
        ResourceChange("changed", "kubernetes:core/v1:Secret", "a", ("args[1]", "data.user", "replicas")),
        ResourceChange("removed", "kubernetes:core/v1:Secret", "gone"),
        ResourceChange("added", "kubernetes:core/v1:Secret", "new"),
    )
    assert (
        str(diff_plans(before, after)[0])
        == "changed kubernetes:core/v1:Secret a (args[1], data.user, replicas)"
    )


def test_identical_plans_do_not_drift() -> None:
    same = plan(resource("a", {"x": [1, {"y": 2}]}))
    assert diff_plans(same, json.loads(json.dumps(same))) == ()


@pytest.fixture
def inv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    target = tmp_path / "inv"
    copy_example(target)
    monkeypatch.delenv("FLEET_DATABASE_URL", raising=False)
    return target


MIMIR_SUMMARY = (
    "1 resource differs: changed kubernetes:helm.sh/v4:Chart mimir-chart "
    "(values.distributor.replicas, values.gateway.replicas, values.ingester.replicas)"
)


def scale_mimir(inv: Path, replicas: int) -> None:
    path = inv / "workloads" / "payments-prod.yaml"
    path.write_text(path.read_text().replace("mimir: {replicas: 3", f"mimir: {{replicas: {replicas}"))


def test_drift_dry_run_records_a_baseline_then_finds_a_change(inv: Path) -> None:
    first = runner.invoke(app, ["-i", str(inv), "drift", "payments-prod", "--offline"])
    assert first.exit_code == 0, first.output
    assert first.stdout == (
        "payments-prod: no earlier render; recorded this one as the baseline\n"
        "checked 1 stack (offline): 0 drifted, 0 could not be checked\n"
    )
    assert first.stderr.startswith("recorded as drift check r-")
    assert not (inv / ".fleet" / "render").exists()  # the journal keeps the baseline, no plan file

    scale_mimir(inv, 5)
    second = runner.invoke(app, ["-i", str(inv), "drift", "payments-prod", "--offline", "-o", "json"])
    assert second.exit_code == 1, second.output
    report = json.loads(second.stdout)
    assert report["drifted"] == ["payments-prod"]
    (change,) = report["stacks"][0]["changes"]
    assert change == {
        "kind": "changed",
        "type": "kubernetes:helm.sh/v4:Chart",
        "name": "mimir-chart",
        "paths": ["values.distributor.replicas", "values.gateway.replicas", "values.ingester.replicas"],
    }
    with Journal(journal_url_for(inv)) as journal:
        baseline = journal.last_render("payments-prod")
        assert baseline is not None and '"replicas":3' in baseline.plan  # not overwritten without --accept
        checks = journal.list_rollouts(kind=RolloutKind.DRIFT)
        assert [c.rollout.status for c in checks] == [RolloutStatus.FAILED, RolloutStatus.SUCCEEDED]
        detail = journal.get_rollout(report["rollout"])
        assert detail.rollout.dry_run is True
        assert detail.rollout.halt_reason == "drift in payments-prod"
        assert detail.stack("payments-prod").error == MIMIR_SUMMARY

    accepted = runner.invoke(app, ["-i", str(inv), "drift", "payments-prod", "--offline", "--accept"])
    assert accepted.exit_code == 1, accepted.output  # this check still saw the drift ...
    again = runner.invoke(app, ["-i", str(inv), "drift", "payments-prod", "--offline"])
    # ... and accepted it
    assert (again.exit_code, again.stdout.splitlines()[0]) == (0, "payments-prod: no drift")


def test_a_drifted_stack_after_a_dry_run_rollout_is_recorded_notified_and_in_history(
    inv: Path, webhook: tuple[str, list[dict[str, Any]]]
) -> None:
    url, received = webhook
    with (inv / "fleet.yaml").open("a") as handle:
        handle.write(f"  notifications: {{webhook: {url}}}\n")
    env = {"FLEET_WORKERS": "2"}
    rollout = runner.invoke(app, ["-i", str(inv), "rollout", "--all", "--dry-run", "--yes"], env=env)
    assert rollout.exit_code == 0, rollout.output
    received.clear()  # the rollout's own "finished" message

    clean = runner.invoke(app, ["-i", str(inv), "drift", "--all", "--offline"])
    assert clean.exit_code == 0, clean.output
    assert received == []  # no drift, no message

    scale_mimir(inv, 4)
    result = runner.invoke(app, ["-i", str(inv), "drift", "--all", "--offline", "-o", "json"])
    assert result.exit_code == 1, result.output
    check_id = json.loads(result.stdout)["rollout"]

    [message] = received
    assert (message["rollout"], message["kind"], message["event"]) == (check_id, "drift", "failed")
    assert message["dry_run"] is True
    assert message["reason"] == "drift in payments-prod"
    assert message["counts"] == {"failed": 1, "succeeded": 3}
    stacks = {entry["stack"]: entry for entry in message["stacks"]}
    assert stacks["payments-prod"] == {"stack": "payments-prod", "status": "failed", "error": MIMIR_SUMMARY}
    assert stacks["controlroom"]["error"] is None

    history = runner.invoke(app, ["-i", str(inv), "history", "-o", "json"])
    assert history.exit_code == 0, history.output
    newest, previous, first = json.loads(history.stdout)
    assert (newest["id"], newest["kind"], newest["status"]) == (check_id, "drift", "failed")
    assert newest["stacks"] == {"failed": 1, "succeeded": 3}
    assert [w["name"] for w in newest["waves"]] == ["drift"]
    assert (previous["kind"], previous["status"]) == ("drift", "succeeded")
    assert first["kind"] == "rollout"
    table = runner.invoke(app, ["-i", str(inv), "history"]).stdout
    assert check_id in table and "drift" in table

    # A drift check deploys nothing: fleet status still shows nothing deployed.
    status = json.loads(runner.invoke(app, ["-i", str(inv), "status", "-o", "json"]).stdout)
    assert {row["result"] for row in status} == {"never deployed"}


def test_no_record_leaves_the_history_and_the_webhook_alone(
    inv: Path, webhook: tuple[str, list[dict[str, Any]]]
) -> None:
    url, received = webhook
    with (inv / "fleet.yaml").open("a") as handle:
        handle.write(f"  notifications: {{webhook: {url}}}\n")
    assert runner.invoke(app, ["-i", str(inv), "drift", "payments-prod", "--offline"]).exit_code == 0
    scale_mimir(inv, 4)
    result = runner.invoke(app, ["-i", str(inv), "drift", "payments-prod", "--offline", "--no-record"])
    assert result.exit_code == 1
    assert result.stdout.startswith("payments-prod: drifted\n  changed kubernetes:helm.sh/v4:Chart")
    assert result.stderr == ""
    assert received == []
    with Journal(journal_url_for(inv)) as journal:
        assert len(journal.list_rollouts()) == 1  # the first (recorded) check only


def test_a_recorded_check_runs_once(inv: Path) -> None:
    first = runner.invoke(app, ["-i", str(inv), "drift", "search-staging", "--offline", "-o", "json"])
    check_id = json.loads(first.stdout)["rollout"]
    again = runner.invoke(app, ["-i", str(inv), "drift", "--rollout", check_id])
    assert again.exit_code == 2
    assert again.stderr == f"error: drift check {check_id} already ran (succeeded)\n"
    mixed = runner.invoke(app, ["-i", str(inv), "drift", "--all", "--rollout", check_id])
    assert mixed.exit_code == 2
    assert "--rollout takes no stacks" in mixed.stderr


def test_the_summary_names_resources_and_paths_and_stays_short() -> None:
    changes = tuple(ResourceChange("added", "t", f"r{i}") for i in range(7))
    assert StackDrift("w", changes).summary() == (
        "7 resources differ: added t r0; added t r1; added t r2; added t r3; added t r4; and 2 more"
    )
    assert StackDrift("w").summary() is None
    assert StackDrift("w", error="stack is locked").summary() == "could not check: stack is locked"


def test_a_check_that_cannot_run_is_not_recorded(inv: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(inv))  # no pulumi here
    result = runner.invoke(app, ["-i", str(inv), "drift", "--all"])
    assert result.exit_code == 1
    with Journal(journal_url_for(inv)) as journal:
        assert journal.list_rollouts() == []


def test_live_drift_needs_the_pulumi_cli(inv: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(inv))  # no pulumi here
    result = runner.invoke(app, ["-i", str(inv), "drift", "--all"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: the pulumi CLI is not on PATH")


def test_drift_needs_stacks(inv: Path) -> None:
    result = runner.invoke(app, ["-i", str(inv), "drift"])
    assert result.exit_code == 2
    assert "name the stacks to check, or use --all" in result.stderr


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            'drift: {schedule: "0 25 * * *"}',
            "spec.drift: schedule '0 25 * * *' is not a valid cron expression",
        ),
        ('drift: {schedule: "0 * * * *", timezone: Mars/Olympus}', "time zone 'Mars/Olympus' is not an IANA"),
        ('drift: {schedule: "0 * * * *", every: 1h}', "spec.drift.every: unknown key (a typo?)"),
    ],
)
def test_validate_checks_the_drift_schedule(inv: Path, line: str, message: str) -> None:
    fleet_yaml = inv / "fleet.yaml"
    appended = len(fleet_yaml.read_text(encoding="utf-8").splitlines()) + 1
    with fleet_yaml.open("a") as handle:
        handle.write(f"  {line}\n")
    result = runner.invoke(app, ["-i", str(inv), "validate"])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: fleet.yaml:{appended}: ")
    assert message in result.stderr


def test_a_valid_drift_schedule_validates(inv: Path) -> None:
    with (inv / "fleet.yaml").open("a") as handle:
        handle.write('  drift: {schedule: "0 * * * *", timezone: Europe/Berlin, dry_run: true}\n')
    result = runner.invoke(app, ["-i", str(inv), "validate"])
    assert result.exit_code == 0, result.output


def test_a_live_check_holds_the_stack_locks_and_refuses_while_a_rollout_holds_them(
    inv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import subprocess
    import sys

    import fleet.drift.check as check
    from fleet.drift.diff import DriftReport
    from fleet.errors import LockHeld
    from fleet.inventory.loader import load_inventory
    from fleet.journal.locks import LockHolder, StackLocks

    inventory = load_inventory(inv)
    seen: list[dict[str, str]] = []

    def live(inventory: Any, stacks: Any, *, parallel: int) -> DriftReport:  # the pulumi CLI's part
        with Journal(journal_url_for(inv)) as journal:
            seen.append({lock.stack: lock.rollout_id for lock in StackLocks(journal).held()})
        return DriftReport(tuple(StackDrift(stack) for stack in stacks))

    monkeypatch.setattr(check, "live_drift", live)
    with Journal(journal_url_for(inv)) as journal:
        first = check.record_check(inventory, journal, ["payments-prod"], dry_run=False)
        check.run_check(inventory, journal, first.id)
        assert seen == [{"payments-prod": first.id}]
        assert StackLocks(journal).held() == []  # released once the results are recorded
        assert journal.rollout(first.id).status is RolloutStatus.SUCCEEDED

        rollout = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        try:
            holder = LockHolder("ana@laptop", os.uname().nodename, rollout.pid)
            StackLocks(journal).acquire(["payments-prod"], "r-20260101-0000-abcd", holder)
            second = check.record_check(inventory, journal, ["payments-prod"], dry_run=False)
            with pytest.raises(LockHeld, match="payments-prod locked by rollout r-20260101-0000-abcd"):
                check.run_check(inventory, journal, second.id)
        finally:
            rollout.kill()
            rollout.wait()
        failed = journal.rollout(second.id)
        assert failed.status is RolloutStatus.FAILED
        reason = failed.halt_reason
        assert reason is not None and reason.startswith("could not check: stack payments-prod locked")
        assert len(seen) == 1  # nothing was previewed under someone else's rollout


def test_a_rotated_control_room_is_checked_at_the_generation_the_journal_records(inv: Path) -> None:
    import dataclasses

    from fleet.drift.check import render_drift
    from fleet.engines.render import RenderEngine
    from fleet.inventory.loader import load_inventory
    from fleet.inventory.models import CredentialGeneration
    from fleet.journal.credentials import begin_rotation, finish_rotation

    with Journal(journal_url_for(inv)) as journal:
        begin_rotation(journal, ["payments-prod"], "r-rotation")
        finish_rotation(journal, "r-rotation")
        # The control room as the rollout after the rotation deployed and recorded it.
        rotated = dataclasses.replace(
            load_inventory(inv), credentials={"payments-prod": CredentialGeneration(generation=1)}
        )
        deployed = json.loads(RenderEngine().render(rotated, "controlroom").read_text())
        journal.record_render("controlroom", deployed)
        first = json.loads(RenderEngine().render(load_inventory(inv), "controlroom").read_text())
        assert diff_plans(deployed, first)  # generation 0 would be drift: the test can tell

        report = render_drift(load_inventory(inv), journal, ["controlroom"])
    assert report.stacks == (StackDrift("controlroom", ()),)
