"""The rollout policy a command line asks for: the fleet's, with the flags applied and checked."""

from __future__ import annotations

import pytest

from fleet.errors import UserError
from fleet.inventory.models import RolloutPolicy
from fleet.rollout.plan import effective_policy


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
