"""The last step of an offboarding (``complete_offboarding``): the workload's Pulumi workspace
directory and its file go, and nothing else: not the other stacks' directories, not what a
symlink points to, not before the rollout succeeded."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from inventories import copy_example

from fleet.inventory.loader import load_inventory
from fleet.journal import Journal, Rollout, RolloutKind, RolloutStatus
from fleet.kinds import EngineKind
from fleet.rollout.offboard import complete_offboarding, plan_offboarding

NAME = "payments-prod"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """The example inventory, with the work directories a Pulumi engine leaves behind."""
    root = copy_example(tmp_path / "inventory")
    for stack in ("controlroom", NAME, "analytics-prod"):
        work = root / ".fleet" / "work" / stack
        work.mkdir(parents=True)
        (work / "Pulumi.yaml").write_text("name: fleet-example\nruntime: python\n")
    return root


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    with Journal(f"sqlite:///{tmp_path / 'fleet.db'}") as journal:
        yield journal


def _offboarding(journal: Journal, root: Path, *, status: str, dry_run: bool = False) -> Rollout:
    plan = plan_offboarding(load_inventory(root), NAME, EngineKind.scripted)
    rollout = journal.create_rollout(
        plan.waves, kind=RolloutKind.OFFBOARD, dry_run=dry_run, policy=plan.record(), versions={}
    )
    journal.set_status(rollout.id, RolloutStatus.RUNNING)
    return journal.set_status(rollout.id, status)


def test_a_succeeded_offboarding_removes_the_workloads_work_dir_and_file_only(
    root: Path, journal: Journal
) -> None:
    work = root / ".fleet" / "work"
    (work / NAME / "__pycache__").mkdir()
    (work / NAME / "Pulumi.organization.yaml").write_text("config: {}\n")

    removed = complete_offboarding(_offboarding(journal, root, status="succeeded"))

    assert removed == root / "workloads" / f"{NAME}.yaml"
    assert not removed.exists()
    assert sorted(path.name for path in work.iterdir()) == ["analytics-prod", "controlroom"]
    assert (work / "controlroom" / "Pulumi.yaml").is_file()
    assert (root / "workloads" / "analytics-prod.yaml").is_file()


def test_a_missing_work_dir_is_fine_and_a_second_call_changes_nothing(root: Path, journal: Journal) -> None:
    rollout = _offboarding(journal, root, status="succeeded")
    (root / ".fleet" / "work" / NAME / "Pulumi.yaml").unlink()
    (root / ".fleet" / "work" / NAME).rmdir()

    assert complete_offboarding(rollout) == root / "workloads" / f"{NAME}.yaml"
    assert complete_offboarding(rollout) is None
    left = sorted(path.name for path in (root / ".fleet" / "work").iterdir())
    assert left == ["analytics-prod", "controlroom"]


@pytest.mark.parametrize(("status", "dry_run"), [("failed", False), ("halted", False), ("succeeded", True)])
def test_nothing_is_removed_before_the_offboarding_succeeded_or_by_a_dry_run(
    root: Path, journal: Journal, status: str, dry_run: bool
) -> None:
    assert complete_offboarding(_offboarding(journal, root, status=status, dry_run=dry_run)) is None

    assert (root / ".fleet" / "work" / NAME / "Pulumi.yaml").is_file()
    assert (root / "workloads" / f"{NAME}.yaml").is_file()


def test_symlinks_are_removed_never_followed(root: Path, journal: Journal, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    (outside / "kept").mkdir(parents=True)
    (outside / "kept" / "state.json").write_text("{}")
    (root / ".fleet" / "work" / NAME / "elsewhere").symlink_to(outside / "kept")

    complete_offboarding(_offboarding(journal, root, status="succeeded"))

    assert not (root / ".fleet" / "work" / NAME).exists()
    assert (outside / "kept" / "state.json").is_file()


def test_a_work_dir_that_is_a_symlink_loses_the_link_not_its_target(
    root: Path, journal: Journal, tmp_path: Path
) -> None:
    target = tmp_path / "elsewhere"
    target.mkdir()
    (target / "Pulumi.yaml").write_text("name: fleet-example\n")
    link = root / ".fleet" / "work" / NAME
    (link / "Pulumi.yaml").unlink()
    link.rmdir()
    link.symlink_to(target, target_is_directory=True)

    complete_offboarding(_offboarding(journal, root, status="succeeded"))

    assert not link.is_symlink() and not link.exists()
    assert (target / "Pulumi.yaml").is_file()


def test_nothing_outside_fleet_is_removed_when_the_work_folder_leads_out_of_it(
    root: Path, journal: Journal, tmp_path: Path
) -> None:
    shared = tmp_path / "shared-work"
    (root / ".fleet" / "work").rename(shared)
    (root / ".fleet" / "work").symlink_to(shared, target_is_directory=True)

    removed = complete_offboarding(_offboarding(journal, root, status="succeeded"))

    assert removed is not None and not removed.exists()  # the offboarding still completes
    assert (shared / NAME / "Pulumi.yaml").is_file()
