"""Which files make an inventory: a workload never leaves it silently (issue 11, point 8)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from inventories import copy_example

from fleet.errors import InvalidInventory
from fleet.executors.worker import load_job_inventory
from fleet.inventory.loader import load_inventory

PAYMENTS = "workloads/payments-prod.yaml"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return copy_example(tmp_path / "inv")


def only_problem(root: Path) -> str:
    with pytest.raises(InvalidInventory) as caught:
        load_inventory(root)
    [line] = caught.value.problems
    return line


def _directory(root: Path) -> None:
    (root / PAYMENTS).unlink()
    (root / PAYMENTS).mkdir()


def _upper_case(root: Path) -> None:
    (root / PAYMENTS).rename(root / "workloads/payments-prod.YAML")


def _dangling(root: Path) -> None:
    (root / PAYMENTS).unlink()
    (root / PAYMENTS).symlink_to("payments-old.yaml")


def _outside(root: Path) -> None:
    elsewhere = root.parent / "payments-prod.yaml"
    (root / PAYMENTS).rename(elsewhere)
    (root / PAYMENTS).symlink_to(elsewhere)


def _fifo(root: Path) -> None:
    (root / PAYMENTS).unlink()
    os.mkfifo(root / PAYMENTS)


def _stray(root: Path) -> None:
    (root / "workloads/NOTES.md").write_text("payments moves next week\n")


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (_directory, f"{PAYMENTS}: a directory, not a YAML file"),
        (
            _upper_case,
            "workloads/payments-prod.YAML: named .YAML; rename it to payments-prod.yaml "
            "(workload files end in .yaml)",
        ),
        (_dangling, f"{PAYMENTS}: a dangling symlink (to payments-old.yaml); remove it or fix its target"),
        (
            _outside,
            f"{PAYMENTS}: a symlink to {{outside}}, outside the inventory; copy the file here instead",
        ),
        (_fifo, f"{PAYMENTS}: not a regular file; an inventory file is plain YAML text"),
        (
            _stray,
            "workloads/NOTES.md: not a workload file; "
            "workloads/ holds only <name>.yaml files, move it elsewhere",
        ),
    ],
    ids=["directory", "upper-case", "dangling-symlink", "symlink-outside", "fifo", "stray-file"],
)
def test_an_entry_that_is_not_a_workload_file_is_an_error(
    root: Path, make: Callable[[Path], None], problem: str
) -> None:
    """Each of these said "ok, 2 workloads" and the next rollout dropped payments-prod's credential."""
    make(root)
    assert only_problem(root) == problem.format(outside=(root.parent / "payments-prod.yaml").resolve())


def test_workloads_as_a_regular_file_is_an_error(root: Path) -> None:
    shutil.rmtree(root / "workloads")
    (root / "workloads").write_text("payments-prod.yaml\n")
    assert (
        only_problem(root) == "workloads: not a directory; workloads/ holds one <name>.yaml file per workload"
    )


def test_hidden_entries_and_symlinks_inside_the_inventory_are_fine(root: Path) -> None:
    (root / "workloads/.gitkeep").write_text("")
    (root / "workloads/.payments-prod.yaml.swp").write_bytes(b"\x00vim swap")
    (root / "shared").mkdir()
    (root / PAYMENTS).rename(root / "shared/payments-prod.yaml")
    (root / PAYMENTS).symlink_to("../shared/payments-prod.yaml")
    assert load_inventory(root).names == ("analytics-prod", "payments-prod", "search-staging")


def test_a_worker_notices_an_entry_that_turned_bad(root: Path) -> None:
    """Workers cache the inventory by file stamps: a bad new entry must not hide behind the cache."""
    assert len(load_job_inventory(root).names) == 3
    _dangling(root)
    with pytest.raises(InvalidInventory):
        load_job_inventory(root)
