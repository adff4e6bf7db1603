"""The proofs that span a whole render: the control room's htpasswd holds exactly the inventory's
workloads (invariant 5), every inventory stack has a plan, and no secret value appears in any plan
(invariant 3's "never in a plan"). Each workload's Alloy configuration is handed to
:mod:`fleet.verify.dataflow`.

Results are values (lists of :class:`~fleet.verify.dataflow.Violation`), never exceptions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from controlroom.credentials import HTPASSWD_KEY, HTPASSWD_SECRET
from fleet.engines.base import REDACTED
from fleet.inventory.models import CONTROLROOM
from fleet.verify.dataflow import Violation, check_events_alloy, check_workload_alloy, unprovable
from workloads.alloy_events import CONFIG_MAP as EVENTS_CONFIG_MAP

__all__ = ["check_htpasswd", "check_no_secret_leak", "check_plan_set", "verify_plans"]

_SECRET_TYPE = "kubernetes:core/v1:Secret"
_CONFIGMAP_TYPE = "kubernetes:core/v1:ConfigMap"
_BCRYPT = re.compile(r"\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}")


# --- invariant 5 -------------------------------------------------------------------------------


def check_htpasswd(content: str, expected_users: Iterable[str]) -> list[Violation]:
    """Prove invariant 5: exactly one bcrypt ``user:hash`` line per expected user.

    Messages name users and line numbers, never hashes.
    """
    expected = set(expected_users)
    violations: list[Violation] = []
    counts: dict[str, int] = {}
    for number, line in enumerate(content.splitlines(), start=1):
        if not line.strip():
            continue
        user, colon, hashed = line.partition(":")
        if not colon or not user:
            violations.append(Violation(5, f"htpasswd line {number}", "is not a user:hash line"))
            continue
        counts[user] = counts.get(user, 0) + 1
        if counts[user] == 2:
            violations.append(Violation(5, f"htpasswd:{user}", "has more than one line"))
        if not _BCRYPT.fullmatch(hashed):
            violations.append(Violation(5, f"htpasswd:{user}", f"line {number} is not a bcrypt hash"))
        if user not in expected and counts[user] == 1:
            violations.append(Violation(5, f"htpasswd:{user}", "is not a workload in the inventory"))
    for user in sorted(expected - counts.keys()):
        violations.append(Violation(5, f"htpasswd:{user}", "workload has no htpasswd line"))
    return violations


# --- plans -------------------------------------------------------------------------------------


def _walk_values(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """Every string in a JSON-like value (keys included) with its path."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield f"{path}.{key}", str(key)
            yield from _walk_values(item, f"{path}.{key}")
    elif isinstance(value, list | tuple):
        for position, item in enumerate(value):
            yield from _walk_values(item, f"{path}[{position}]")


def check_no_secret_leak(
    plans: Mapping[str, dict[str, Any]], secrets: Iterable[str]
) -> list[tuple[str, Violation]]:
    """Find any of ``secrets`` anywhere in any plan (invariant 3), as ``(stack, violation)``.

    Messages say where a secret appears, never which one or what it is.
    """
    needles = [secret for secret in dict.fromkeys(secrets) if secret]
    found: list[tuple[str, Violation]] = []
    if not needles:
        return found
    for stack, plan in sorted(plans.items()):
        for key, value in plan.items():
            if key == "resources" and isinstance(value, list):
                for position, resource in enumerate(value):
                    name = (
                        str(resource.get("name", position))
                        if isinstance(resource, Mapping)
                        else str(position)
                    )
                    places = _walk_values(resource, f"resources[{position}]")
                    found += _leaks(stack, name, places, needles)
            else:
                found += _leaks(stack, key, _walk_values(value, key), needles)
    return found


def _leaks(
    stack: str, component: str, places: Iterable[tuple[str, str]], needles: list[str]
) -> list[tuple[str, Violation]]:
    return [
        (stack, Violation(3, component, f"a secret value appears in {path}"))
        for path, text in places
        if any(needle in text for needle in needles)
    ]


def _resources(plan: Mapping[str, Any], type_token: str) -> list[Mapping[str, Any]]:
    resources = plan.get("resources")
    if not isinstance(resources, list):
        return []
    return [r for r in resources if isinstance(r, Mapping) and r.get("type") == type_token]


def _inputs(resource: Mapping[str, Any]) -> Mapping[str, Any]:
    inputs = resource.get("inputs")
    return inputs if isinstance(inputs, Mapping) else {}


def _check_controlroom(plan: Mapping[str, Any], workloads: Iterable[str]) -> list[Violation]:
    for secret in _resources(plan, _SECRET_TYPE):
        metadata = _inputs(secret).get("metadata")
        if isinstance(metadata, Mapping) and metadata.get("name") == HTPASSWD_SECRET:
            break
    else:
        return [Violation(5, CONTROLROOM, f"the plan has no Secret named {HTPASSWD_SECRET}")]
    component = str(secret.get("name", HTPASSWD_SECRET))
    string_data = _inputs(secret).get("stringData")
    content = string_data.get(HTPASSWD_KEY) if isinstance(string_data, Mapping) else string_data
    if content == REDACTED:
        return [
            Violation(
                5,
                component,
                "the plan is redacted; run `fleet verify` without a render directory, "
                "or render with --show-secrets",
                redacted=True,
            )
        ]
    if not isinstance(content, str):
        return [Violation(5, component, 'the Secret has no stringData[".htpasswd"] text')]
    return check_htpasswd(content, workloads)


def _alloy_configs(plan: Mapping[str, Any]) -> list[tuple[str, Any, bool]]:
    """(where, text, is the events collector's) of every ``.alloy`` key of the plan's ConfigMaps."""
    configs: list[tuple[str, Any, bool]] = []
    for configmap in _resources(plan, _CONFIGMAP_TYPE):
        inputs = _inputs(configmap)
        data = inputs.get("data")
        metadata = inputs.get("metadata")
        events = isinstance(metadata, Mapping) and metadata.get("name") == EVENTS_CONFIG_MAP
        if isinstance(data, Mapping):
            for key, text in sorted(data.items()):
                if str(key).endswith(".alloy"):
                    configs.append((f"{configmap.get('name', 'configmap')}/{key}", text, events))
    return configs


def _check_workload_plan(stack: str, plan: Mapping[str, Any], central_url: str) -> list[Violation]:
    configs = _alloy_configs(plan)
    if not any(not events for _, _, events in configs):
        return unprovable("the plan has no ConfigMap with the workload's .alloy config", stack)
    violations: list[Violation] = []
    for where, text, events in configs:
        if text == REDACTED:
            violations += unprovable(f"{where} is redacted in the plan", where, redacted=True)
        elif not isinstance(text, str):
            violations += unprovable(f"{where} is not text", where)
        elif events:
            violations += check_events_alloy(text, stack)
        else:
            violations += check_workload_alloy(text, stack, central_url)
    return violations


def check_plan_set(plans: Mapping[str, Any], workloads: Iterable[str]) -> dict[str, list[Violation]]:
    """The stacks of the inventory (the control room and ``workloads``) that have no plan.

    A stack without a plan proves nothing: each missing one gets the invariants it would prove.
    """
    missing: dict[str, list[Violation]] = {}
    if CONTROLROOM not in plans:
        missing[CONTROLROOM] = [Violation(5, CONTROLROOM, "cannot prove: no plan was rendered")]
    for workload in sorted(set(workloads)):
        if workload not in plans:
            missing[workload] = unprovable("no plan was rendered", workload)
    return missing


def verify_plans(
    plans: Mapping[str, dict[str, Any]],
    workloads: Mapping[str, str],
    secrets: Iterable[str] = (),
) -> dict[str, list[Violation]]:
    """Prove the five invariants over rendered plans; every stack in ``plans`` gets a list.

    ``plans`` maps stack name to plan (the ``controlroom`` stack, and workload stacks named after
    their workload); ``workloads`` maps every inventory workload to its central push URL;
    ``secrets`` are values that must appear in no plan. Workloads without a plan are not
    checked (only the htpasswd of the control room covers every workload).
    """
    results: dict[str, list[Violation]] = {}
    for stack, plan in sorted(plans.items()):
        if stack == CONTROLROOM:
            results[stack] = _check_controlroom(plan, workloads)
        elif stack in workloads:
            results[stack] = _check_workload_plan(stack, plan, workloads[stack])
        else:
            results[stack] = [
                Violation(2, stack, "the stack is not a workload in the inventory; nothing to prove")
            ]
    for stack, violation in check_no_secret_leak(plans, secrets):
        results.setdefault(stack, []).append(violation)
    return results
