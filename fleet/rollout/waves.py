"""Wave planning: which stacks a rollout touches, and in which order.

Planning is pure: plain data in, plain data out, no clock, no database, no randomness. The same
targets and the same policy always give the same waves, so a plan can be shown before it runs and
recomputed after a crash.

Order of a rollout:

1. the control room (when asked for), alone in its own wave;
2. a canary wave of ``canary`` stacks, preferring targets labelled ``ring=canary``;
3. the rest, in waves of ``wave_size`` stacks (a count, or a share such as ``"25%"``).

Within the canary choice and the later waves, targets are ordered by: ``ring=canary`` first, then
environment (development, staging, production), then name. Execution-time policy (parallelism,
failure budget, bake time) is the coordinator's business, not the planner's.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from fleet.errors import UserError
from fleet.rollout.selectors import Selector, did_you_mean
from fleet.rollout.selectors import parse_selector as parse_selector  # its home before selectors.py

CONTROLROOM_STACK = "controlroom"
"""The name of the control room's stack: it is never a workload's name."""

ENVIRONMENTS = ("development", "staging", "production")
"""Environments from the safest to break to the least safe: rollouts go in this order."""

CANARY_LABEL = ("ring", "canary")

_PERCENT = re.compile(r"(\d+(?:\.\d+)?)%")


@dataclass(frozen=True)
class PlanTarget:
    """A stack the planner may place in a wave: a workload's name, labels and environment."""

    name: str
    labels: Mapping[str, str]
    environment: str
    cloud: str = ""
    region: str = ""

    @property
    def fields(self) -> dict[str, str]:
        """The fields a selector may name besides labels (fleet.rollout.selectors.FIELDS)."""
        return {"environment": self.environment, "cloud": self.cloud, "region": self.region}


@dataclass(frozen=True)
class Wave:
    """One step of a rollout: stacks that may run at the same time (subject to ``max_parallel``)."""

    index: int
    name: str
    stacks: tuple[str, ...]


def select(
    targets: Sequence[PlanTarget],
    names: Sequence[str] = (),
    selector: Selector | Mapping[str, str] | None = None,
) -> list[PlanTarget]:
    """The targets named in ``names`` (all of them when empty) that ``selector`` selects (a
    :class:`~fleet.rollout.selectors.Selector`, or labels that must all be equal).

    Targets keep their order in ``targets``. Every name must exist: an unknown name raises
    UserError listing all unknown names (with a "did you mean" for one), so a typo never
    silently shrinks a rollout.
    """
    known = {target.name for target in targets}
    unknown = sorted({name for name in names if name not in known})
    if unknown:
        noun = "workload" if len(unknown) == 1 else "workloads"
        hint = did_you_mean(unknown[0], known) if len(unknown) == 1 else ""
        raise UserError(f"unknown {noun}: {', '.join(unknown)}{hint}")
    wanted = set(names)
    if selector is not None and not isinstance(selector, Selector):
        selector = Selector.equal(selector)
    return [
        target
        for target in targets
        if (not wanted or target.name in wanted)
        and (selector is None or selector.matches(target.labels, target.fields))
    ]


def plan_waves(
    targets: Sequence[PlanTarget],
    *,
    canary: int,
    wave_size: int | str,
    include_controlroom: bool,
) -> list[Wave]:
    """Split ``targets`` into ordered waves (see the module docstring for the rules).

    ``canary`` is the size of the canary wave (0 for none); ``wave_size`` is a positive count or a
    percentage string of the non-canary stacks (``"25%"``, rounded up, at least 1). Raises
    UserError on a bad size, duplicate target names, an unknown environment, or a workload using
    the control room's name.
    """
    if isinstance(canary, bool) or not isinstance(canary, int) or canary < 0:
        raise UserError(f"canary must be a whole number of stacks, 0 or more, not {canary!r}")
    _check_targets(targets)
    ordered = [target.name for target in sorted(targets, key=_rollout_order)]
    canaries, rest = ordered[:canary], ordered[canary:]
    size = wave_size_for(wave_size, len(rest))

    groups: list[tuple[str, list[str]]] = []
    if include_controlroom:
        groups.append((CONTROLROOM_STACK, [CONTROLROOM_STACK]))
    if canaries:
        groups.append(("canary", canaries))
    for number, start in enumerate(range(0, len(rest), size), start=1):
        groups.append((f"wave {number}", rest[start : start + size]))
    return [Wave(index, name, tuple(stacks)) for index, (name, stacks) in enumerate(groups)]


def wave_size_for(wave_size: int | str, stacks: int) -> int:
    """The number of stacks per wave that ``wave_size`` means for ``stacks`` non-canary stacks.

    Accepts a positive int, a string of digits (``"5"``) or a percentage above 0 and at most 100
    (``"25%"``: the ceiling of that share, at least 1). Raises UserError otherwise.
    """
    if isinstance(wave_size, bool):
        raise UserError(f"wave size must be a number of stacks or a percentage, not {wave_size!r}")
    if isinstance(wave_size, int):
        if wave_size < 1:
            raise UserError(f"wave size must be at least 1 stack, not {wave_size}")
        return wave_size
    text = wave_size.strip()
    if text.isdigit():
        return wave_size_for(int(text), stacks)
    match = _PERCENT.fullmatch(text)
    if match is None:
        raise UserError(f"wave size {wave_size!r} is neither a number of stacks (5) nor a percentage (25%)")
    share = float(match.group(1))
    if not 0 < share <= 100:
        raise UserError(f"wave size {wave_size!r} must be a percentage above 0% and at most 100%")
    return max(1, math.ceil(stacks * share / 100))


def _rollout_order(target: PlanTarget) -> tuple[int, int, str]:
    is_canary = target.labels.get(CANARY_LABEL[0]) == CANARY_LABEL[1]
    return (0 if is_canary else 1, ENVIRONMENTS.index(target.environment), target.name)


def _check_targets(targets: Iterable[PlanTarget]) -> None:
    seen: set[str] = set()
    for target in targets:
        if target.name == CONTROLROOM_STACK:
            raise UserError(f"{CONTROLROOM_STACK!r} is the control room's stack, not a workload")
        if target.name in seen:
            raise UserError(f"workload {target.name!r} is listed twice")
        if target.environment not in ENVIRONMENTS:
            raise UserError(
                f"workload {target.name!r} has environment {target.environment!r}; "
                f"expected one of {', '.join(ENVIRONMENTS)}"
            )
        seen.add(target.name)
