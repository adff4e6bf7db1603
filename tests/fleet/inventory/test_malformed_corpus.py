"""The malformed-input corpus (tests/support/malformed.py) through the real CLI: every case ends in
one line naming the problem, exit 2, and nothing written in the inventory.

Every case runs in-process through the Typer app (the same error boundary ``fleet`` has); a sample
runs as real ``fleet`` processes, among them the alias bomb under a memory bound and a
file the process really cannot read.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from inventories import copy_example
from malformed import CASES, WORKLOAD, Case, alias_bomb, snapshot, verdict
from typer.testing import CliRunner

from fleet.cli.main import app

FLEET = Path(sys.executable).parent / "fleet"


def broken(case: Case, tmp_path: Path) -> Path:
    root = copy_example(tmp_path / "inv")
    case.make(root)
    return root


def assert_rejected(case: Case, code: int, output: str, before: dict[str, object], root: Path) -> None:
    problem = verdict(case, code, output, before, root)
    assert problem is None, f"{case.name}: {problem}\n{output[:2000]}"


def test_the_corpus_covers_every_finding_with_unique_names() -> None:
    assert len({case.name for case in CASES}) == len(CASES) >= 30
    assert {case.finding for case in CASES} == {6, 7, 8, 9, 10, 11}


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_every_malformed_input_is_one_line_exit_2_and_writes_nothing(case: Case, tmp_path: Path) -> None:
    root = broken(case, tmp_path)
    before = snapshot(root)
    result = CliRunner().invoke(app, case.argv(root), env=case.env)
    assert_rejected(case, result.exit_code, result.output, before, root)


SAMPLE = ("alias-bomb-in-a-workload", "flow-nesting-3000", "utf-16-le", "engine-unknown", "corrupt-journal")


@pytest.mark.parametrize("name", SAMPLE)
def test_a_sample_through_real_fleet_processes(name: str, tmp_path: Path) -> None:
    case = next(case for case in CASES if case.name == name)
    root = broken(case, tmp_path)
    before = snapshot(root)
    done = subprocess.run(
        [str(FLEET), *case.argv(root)],
        capture_output=True,
        text=True,
        env={**os.environ, **case.env},
        timeout=60,
    )
    assert done.stdout == ""
    assert_rejected(case, done.returncode, done.stderr, before, root)


# Linux keeps a process's peak resident memory across exec, and a forked child starts with its
# parent's: a fleet started from this (large, long-lived) pytest process would report pytest's peak.
# So a small interpreter starts fleet and reports the peak of that child alone.
_PEAK_OF_CHILD = """
import os, subprocess, sys
child = subprocess.Popen(sys.argv[2:])
_pid, status, usage = os.wait4(child.pid, 0)
with open(sys.argv[1], "w") as out:
    out.write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def test_an_alias_bomb_fails_fast_in_bounded_memory(tmp_path: Path) -> None:
    """A 10-level bomb took 3.5 GB and a minute; now the first anchor stops it."""
    root = copy_example(tmp_path / "inv")
    (root / WORKLOAD).write_text(alias_bomb(levels=12), encoding="utf-8")
    peak = tmp_path / "peak"
    result = subprocess.run(
        [sys.executable, "-c", _PEAK_OF_CHILD, str(peak), str(FLEET), "-i", str(root), "validate"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    [line] = result.stderr.splitlines()
    assert result.returncode == 2
    assert line.startswith(
        f"error: {WORKLOAD}:1: anchor &a0: anchors, aliases and merge keys are not allowed"
    )
    peak_kib = int(peak.read_text())
    assert peak_kib < 400 * 1024, f"{peak_kib} KiB"  # the interpreter and fleet's imports


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None,
    reason="needs root and setpriv to run fleet as nobody",
)
def test_a_file_fleet_cannot_read_is_one_line() -> None:
    """A real PermissionError: fleet runs as ``nobody`` on a file only root may read."""
    with tempfile.TemporaryDirectory() as directory:
        base = Path(directory)
        base.chmod(0o755)  # nobody may enter, but not read the file below
        root = copy_example(base / "inv")
        (root / WORKLOAD).chmod(0o000)
        done = subprocess.run(
            [
                "setpriv",
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                str(FLEET),
                "-i",
                str(root),
                "validate",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.splitlines() == [
        f"error: {WORKLOAD}: cannot be read (permission denied); fix its permissions or remove it"
    ]
