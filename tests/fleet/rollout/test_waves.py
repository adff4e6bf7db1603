"""Wave planning: selection, selector parsing, and the ordering rules (with property tests)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fleet.errors import UserError
from fleet.rollout.waves import (
    CONTROLROOM_STACK,
    ENVIRONMENTS,
    PlanTarget,
    Wave,
    plan_waves,
    select,
    wave_size_for,
)


def target(name: str, environment: str = "production", **labels: str) -> PlanTarget:
    return PlanTarget(name=name, labels=labels, environment=environment)


FLEET = [
    target("eu-prod", "production", team="core"),
    target("us-prod", "production", ring="canary", team="core"),
    target("dev-1", "development", team="web"),
    target("stage-1", "staging", team="web"),
    target("dev-2", "development", ring="canary", team="core"),
]


def test_select_keeps_inventory_order_and_filters_by_names_and_labels() -> None:
    assert [t.name for t in select(FLEET)] == [t.name for t in FLEET]
    assert [t.name for t in select(FLEET, names=["dev-2", "eu-prod"])] == ["eu-prod", "dev-2"]
    assert [t.name for t in select(FLEET, selector={"team": "core"})] == [
        "eu-prod",
        "us-prod",
        "dev-2",
    ]
    chosen = select(FLEET, names=["eu-prod", "us-prod"], selector={"ring": "canary"})
    assert [t.name for t in chosen] == ["us-prod"]


def test_select_lists_every_unknown_name() -> None:
    with pytest.raises(UserError) as raised:
        select(FLEET, names=["eu-prod", "nope", "also-missing"])
    assert raised.value.message == "unknown workloads: also-missing, nope"


def test_an_unknown_name_close_to_a_known_one_gets_a_did_you_mean() -> None:
    with pytest.raises(UserError, match=r"^unknown workload: eu-prd; did you mean 'eu-prod'\?$"):
        select(FLEET, names=["eu-prd"])


def test_plan_puts_controlroom_first_then_canaries_then_waves() -> None:
    waves = plan_waves(FLEET, canary=2, wave_size=2, include_controlroom=True)
    assert waves == [
        Wave(0, "controlroom", (CONTROLROOM_STACK,)),
        Wave(1, "canary", ("dev-2", "us-prod")),
        Wave(2, "wave 1", ("dev-1", "stage-1")),
        Wave(3, "wave 2", ("eu-prod",)),
    ]


def test_plan_without_canary_or_controlroom() -> None:
    waves = plan_waves(FLEET, canary=0, wave_size="50%", include_controlroom=False)
    assert [(w.name, w.stacks) for w in waves] == [
        ("wave 1", ("dev-2", "us-prod", "dev-1")),
        ("wave 2", ("stage-1", "eu-prod")),
    ]


def test_plan_of_nothing() -> None:
    assert plan_waves([], canary=1, wave_size=3, include_controlroom=False) == []
    only_hub = plan_waves([], canary=1, wave_size="10%", include_controlroom=True)
    assert only_hub == [Wave(0, "controlroom", (CONTROLROOM_STACK,))]


@pytest.mark.parametrize(
    ("size", "stacks", "expected"),
    [(3, 10, 3), ("3", 10, 3), ("25%", 10, 3), ("100%", 7, 7), ("1%", 7, 1), ("12.5%", 16, 2)],
)
def test_wave_size(size: int | str, stacks: int, expected: int) -> None:
    assert wave_size_for(size, stacks) == expected


@pytest.mark.parametrize("size", [0, -1, "0", "0%", "150%", "abc", "", "5 %", "-5", True])
def test_bad_wave_sizes_are_user_errors(size: int | str) -> None:
    with pytest.raises(UserError):
        plan_waves(FLEET, canary=1, wave_size=size, include_controlroom=False)


@pytest.mark.parametrize(
    "targets",
    [
        [target("a"), target("a")],
        [target(CONTROLROOM_STACK)],
        [target("a", "qa")],
    ],
)
def test_bad_targets_are_user_errors(targets: list[PlanTarget]) -> None:
    with pytest.raises(UserError):
        plan_waves(targets, canary=0, wave_size=1, include_controlroom=True)


def test_negative_canary_is_a_user_error() -> None:
    with pytest.raises(UserError):
        plan_waves(FLEET, canary=-1, wave_size=1, include_controlroom=False)


names = st.text(alphabet="abcdefghij0123456789-", min_size=1, max_size=8).filter(
    lambda n: n != CONTROLROOM_STACK
)
targets_strategy = st.lists(
    st.builds(
        PlanTarget,
        name=names,
        labels=st.dictionaries(st.sampled_from(["ring", "team"]), st.sampled_from(["canary", "x"])),
        environment=st.sampled_from(ENVIRONMENTS),
    ),
    unique_by=lambda t: t.name,
    max_size=40,
)
wave_sizes = st.one_of(
    st.integers(min_value=1, max_value=50), st.integers(min_value=1, max_value=100).map("{}%".format)
)


def rank(t: PlanTarget) -> tuple[int, int, str]:
    return (0 if t.labels.get("ring") == "canary" else 1, ENVIRONMENTS.index(t.environment), t.name)


@given(
    targets=targets_strategy,
    canary=st.integers(min_value=0, max_value=10),
    wave_size=wave_sizes,
    include_controlroom=st.booleans(),
)
def test_plan_properties(
    targets: list[PlanTarget], canary: int, wave_size: int | str, include_controlroom: bool
) -> None:
    waves = plan_waves(targets, canary=canary, wave_size=wave_size, include_controlroom=include_controlroom)
    by_name = {t.name: t for t in targets}
    flat = [stack for wave in waves for stack in wave.stacks]

    # every selected stack exactly once, plus the control room when asked for
    expected = sorted(by_name) + ([CONTROLROOM_STACK] if include_controlroom else [])
    assert sorted(flat) == sorted(expected)
    assert len(flat) == len(set(flat))
    assert [w.index for w in waves] == list(range(len(waves)))
    assert all(w.stacks for w in waves)

    # the control room goes alone and first
    workload_waves = waves
    if include_controlroom:
        assert waves[0] == Wave(0, "controlroom", (CONTROLROOM_STACK,))
        workload_waves = waves[1:]

    # canary wave first, of the asked size, and the best-ranked targets
    rest_waves = workload_waves
    canary_count = min(canary, len(targets))
    if canary_count:
        assert workload_waves[0].name == "canary"
        assert len(workload_waves[0].stacks) == canary_count
        rest_waves = workload_waves[1:]
    assert all(w.name != "canary" for w in rest_waves)

    # workloads come in ranking order across all waves
    ranked = [t.name for t in sorted(targets, key=rank)]
    assert [s for w in workload_waves for s in w.stacks] == ranked

    # sizes obey the policy: all full but the last
    remaining = len(targets) - canary_count
    if isinstance(wave_size, str):
        size = max(1, math.ceil(remaining * int(wave_size[:-1]) / 100))
    else:
        size = wave_size
    assert [w.name for w in rest_waves] == [f"wave {n}" for n in range(1, len(rest_waves) + 1)]
    assert len(rest_waves) == math.ceil(remaining / size)
    assert all(len(w.stacks) == size for w in rest_waves[:-1])
    assert all(0 < len(w.stacks) <= size for w in rest_waves)


@given(targets=targets_strategy, canary=st.integers(0, 5), wave_size=wave_sizes)
def test_plan_is_deterministic_whatever_the_input_order(
    targets: list[PlanTarget], canary: int, wave_size: int | str
) -> None:
    forwards = plan_waves(targets, canary=canary, wave_size=wave_size, include_controlroom=True)
    backwards = plan_waves(targets[::-1], canary=canary, wave_size=wave_size, include_controlroom=True)
    assert forwards == backwards
