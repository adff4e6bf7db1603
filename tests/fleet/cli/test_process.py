"""The ``fleet`` process: the loaded inventory is frozen out of the cyclic garbage collector's
sight when the command is its own process, never inside a longer-lived one (tests, the
CliRunner), where freezing everything alive would keep other garbage forever."""

from __future__ import annotations

import gc
import subprocess
import sys
from pathlib import Path

from inventories import copy_example
from typer.testing import CliRunner

from fleet.cli.main import app

PROBE = """
import atexit, gc, sys
atexit.register(lambda: print("frozen:", gc.get_freeze_count() > 0))
sys.argv = ["fleet", "-i", sys.argv[1], sys.argv[2]]
from fleet.cli.main import run
run()
"""


def test_the_console_script_freezes_the_loaded_inventory(tmp_path: Path) -> None:
    inv = copy_example(tmp_path / "inv")
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(inv), "validate"], capture_output=True, text=True, check=True
    )
    assert out.stdout.startswith("ok: fleet ")
    assert out.stdout.rstrip().endswith("frozen: True")
    version = subprocess.run(
        [sys.executable, "-c", PROBE, str(inv), "--help"], capture_output=True, text=True, check=True
    )
    assert version.stdout.rstrip().endswith("frozen: False")  # no inventory, nothing frozen


def test_a_command_run_in_process_freezes_nothing(tmp_path: Path) -> None:
    inv = copy_example(tmp_path / "inv")
    before = gc.get_freeze_count()
    result = CliRunner().invoke(app, ["-i", str(inv), "validate"])
    assert result.exit_code == 0, result.output
    assert gc.get_freeze_count() == before
