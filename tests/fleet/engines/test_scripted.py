"""ScriptedEngine: the stand-in engine the rollout tests and the benchmark drive."""

from __future__ import annotations

from pathlib import Path

import pytest
from inventories import EXAMPLE_INVENTORY as EXAMPLE

from fleet.engines.scripted import ScriptedEngine
from fleet.errors import UserError
from fleet.inventory.loader import load_inventory
from fleet.kinds import Action


def test_it_follows_its_script_per_stack(tmp_path: Path) -> None:
    script = tmp_path / "script.json"
    script.write_text(
        '{"default": {"duration": 0}, "log": "%s", "stacks": {"payments-prod": {"fail": "boom"},'
        ' "search-staging": {"transient_failures": 1}}}' % (tmp_path / "runs.log")
    )
    engine = ScriptedEngine.from_file(script)
    inventory = load_inventory(EXAMPLE)

    assert engine.run(inventory, "analytics-prod", Action.up).ok
    failed = engine.run(inventory, "payments-prod", Action.up)
    assert (failed.ok, failed.error, failed.transient) == (False, "boom", False)
    first = engine.run(inventory, "search-staging", Action.up)
    assert (first.ok, first.transient) == (False, True)
    assert engine.run(inventory, "search-staging", Action.up).ok
    lines = (tmp_path / "runs.log").read_text().splitlines()
    assert [line.split()[0:2] for line in lines[:2]] == [
        ["start", "analytics-prod"],
        ["end", "analytics-prod"],
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [("not json", "engine script"), ("[]", "JSON object"), ('{"default": {"sleep": 1}}', "unknown keys")],
)
def test_a_bad_script_is_a_user_error(tmp_path: Path, text: str, message: str) -> None:
    script = tmp_path / "script.json"
    script.write_text(text)
    with pytest.raises(UserError, match=message):
        ScriptedEngine.from_file(script)
