"""The rollout policy a command line asks for: the fleet's, with the flags applied and checked."""

from __future__ import annotations

from pathlib import Path

import pytest
from inventories import copy_example

from fleet.errors import UserError
from fleet.inventory.loader import load_inventory
from fleet.inventory.models import RolloutPolicy
from fleet.rollout.plan import effective_policy, select_stacks


def test_flags_override_the_fleet_s_policy() -> None:
    policy = effective_policy(RolloutPolicy(), {"canary": 2, "wave_size": "10", "max_parallel": None})
    assert (policy.canary, policy.wave_size, policy.max_parallel) == (2, 10, RolloutPolicy().max_parallel)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"canary": -1}, "--canary: must be at least 0"),
        ({"max_parallel": 0}, "--max-parallel: must be at least 1"),
        ({"max_parallel": 5000}, "--max-parallel: must be at most 1000"),
        ({"failure_budget": -2}, "--failure-budget: must be at least 0"),
        ({"wave_size": "0%"}, "--wave-size: '0%' is not a wave size; use a count like 5 or a share like 25%"),
    ],
)
def test_a_bad_flag_is_named_with_what_it_must_be(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(UserError) as caught:
        effective_policy(RolloutPolicy(), overrides)
    assert caught.value.message == message


def test_all_and_a_selector_together_are_refused_as_names_and_all_are(tmp_path: Path) -> None:
    # --all with -l ring=canary rolled out the canaries only: --all was silently ignored.
    inventory = load_inventory(copy_example(tmp_path / "inv"))
    with pytest.raises(UserError) as caught:
        select_stacks(inventory, select_all=True, selector="ring=canary")
    assert caught.value.message == "give --all or --selector (-l), not both"
    only = select_stacks(inventory, selector="ring=canary")
    assert [target.name for target in only.targets] == ["search-staging"]
