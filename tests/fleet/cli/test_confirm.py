"""Asking before anything real changes: `workload remove`'s typed-name prompt, answered with
Ctrl-C or Ctrl-D on a real terminal, says nothing changed and exits 1 like every other prompt."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import time
from pathlib import Path

import pytest
from fleet_services import fleet_command, fleet_env, write_script
from inventories import copy_example

QUESTION = "This destroys payments-prod's stack. Type its name to confirm:"


def _remove_on_a_terminal(tmp_path: Path, answer: str) -> tuple[int, str, Path]:
    inv = copy_example(tmp_path / "inv")
    env = fleet_env(inv, write_script(tmp_path / "script.json"))
    controller, terminal = pty.openpty()
    try:
        process = subprocess.Popen(
            [*fleet_command(), "workload", "remove", "payments-prod"],
            env=env,
            stdin=terminal,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        assert process.stderr is not None
        errors = b""
        deadline = time.monotonic() + 60
        while QUESTION.encode() not in errors and time.monotonic() < deadline:
            if select.select([process.stderr], [], [], 1)[0]:
                errors += os.read(process.stderr.fileno(), 4096)
        assert QUESTION.encode() in errors, errors.decode()
        if answer == "ctrl-c":
            process.send_signal(signal.SIGINT)
        else:
            os.write(controller, b"\x04")  # Ctrl-D at the start of a line: end of input
        _, rest = process.communicate(timeout=60)
    finally:
        os.close(controller)
        os.close(terminal)
    return process.returncode, (errors + rest).decode(), inv


@pytest.mark.parametrize("answer", ["ctrl-c", "ctrl-d"])
def test_a_typed_name_prompt_left_with_ctrl_c_or_ctrl_d_removes_nothing_and_says_so(
    tmp_path: Path, answer: str
) -> None:
    code, errors, inv = _remove_on_a_terminal(tmp_path, answer)
    assert code == 1, errors
    assert errors.rstrip().endswith("Not removed; nothing was changed."), errors
    assert "Aborted!" not in errors and "confirm []" not in errors
    assert (inv / "workloads" / "payments-prod.yaml").exists()
