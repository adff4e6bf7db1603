"""Asking before anything real changes: `workload remove`'s typed-name prompt, answered with
Ctrl-C or Ctrl-D on a real terminal, says nothing changed and exits 1 like every other prompt."""

from __future__ import annotations

from pathlib import Path

import pytest
from fleet_services import fleet_env, write_script
from inventories import copy_example
from terminals import answer_on_a_terminal

QUESTION = "This destroys payments-prod's stack. Type its name to confirm:"


def _remove_on_a_terminal(tmp_path: Path, answer: str) -> tuple[int, str, Path]:
    inv = copy_example(tmp_path / "inv")
    env = fleet_env(inv, write_script(tmp_path / "script.json"))
    code, errors = answer_on_a_terminal(env, ["workload", "remove", "payments-prod"], QUESTION, answer, 60)
    return code, errors, inv


@pytest.mark.parametrize("answer", ["ctrl-c", "ctrl-d"])
def test_a_typed_name_prompt_left_with_ctrl_c_or_ctrl_d_removes_nothing_and_says_so(
    tmp_path: Path, answer: str
) -> None:
    code, errors, inv = _remove_on_a_terminal(tmp_path, answer)
    assert code == 1, errors
    assert errors.rstrip().endswith("Not removed; nothing was changed."), errors
    assert "Aborted!" not in errors and "confirm []" not in errors
    assert (inv / "workloads" / "payments-prod.yaml").exists()
