"""The production proofs (resources, security, network, limits) on the example inventory rendered
for real, and on plans broken on purpose: each break fails its invariant, naming the object.

The inventory is rendered once for the module; each test edits a copy of one stack's plan and
proves that stack alone (charts with unchanged values come from Helm's per-process cache).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from charts import real_charts

from fleet.inventory.loader import Inventory
from fleet.verify.dataflow import Violation
from fleet.verify.hardening import HARDENING_INVARIANTS
from fleet.verify.rendered import verify_objects

POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
Edit = Callable[[dict[str, Any]], None]


@pytest.fixture(scope="module", autouse=True)
def charts() -> Iterator[Path]:
    """The shared chart archives and a Helm, for this module's proofs (the example's plans come
    from conftest, rendered once per session)."""
    with real_charts() as cache:
        yield cache


def prove(
    inventory: Inventory, plans: dict[str, dict[str, Any]], stack: str, edit: Edit, invariant: str
) -> list[Violation]:
    """The violations of ``invariant`` for ``stack`` after ``edit`` changed a copy of its plan."""
    plan = copy.deepcopy(plans[stack])
    edit(plan)
    return verify_objects(inventory, {stack: plan})[stack][invariant]


def values(plan: dict[str, Any], resource: str) -> dict[str, Any]:
    (chart,) = [r for r in plan["resources"] if r["name"] == resource and r["type"].endswith(":Chart")]
    found: dict[str, Any] = chart["inputs"]["values"]
    return found


def policy(plan: dict[str, Any], namespace: str, name: str) -> dict[str, Any]:
    (found,) = [
        r
        for r in plan["resources"]
        if r["type"] == POLICY
        and r["inputs"]["metadata"]["namespace"] == namespace
        and r["inputs"]["metadata"]["name"] == name
    ]
    return found


def drop_policy(namespace: str, name: str) -> Edit:
    def edit(plan: dict[str, Any]) -> None:
        plan["resources"].remove(policy(plan, namespace, name))

    return edit


def test_every_stack_of_the_example_passes_the_production_proofs(
    inventory: Inventory, plans: dict[str, dict[str, Any]]
) -> None:
    results = verify_objects(inventory, plans)
    for stack, proofs in results.items():
        for invariant in HARDENING_INVARIANTS:
            assert proofs[invariant] == [], (stack, invariant)


def test_a_container_without_limits_fails(inventory: Inventory, plans: dict[str, dict[str, Any]]) -> None:
    def edit(plan: dict[str, Any]) -> None:
        del values(plan, "alloy-chart")["alloy"]["resources"]["limits"]

    (violation,) = prove(inventory, plans, "payments-prod", edit, "resources")
    assert violation.component == "DaemonSet alloy/alloy container alloy"
    assert "no limits cpu, no limits memory" in violation.message


def test_a_writable_root_or_a_root_user_without_a_named_exception_fails(
    inventory: Inventory, plans: dict[str, dict[str, Any]]
) -> None:
    def edit(plan: dict[str, Any]) -> None:
        values(plan, "alloy-chart")["alloy"]["securityContext"]["readOnlyRootFilesystem"] = False
        values(plan, "grafana-chart")["securityContext"]["runAsUser"] = 0

    found = {
        (v.component, v.message.split(" (")[1].split(")")[0])
        for v in prove(inventory, plans, "payments-prod", edit, "security")
    }
    assert found == {
        ("DaemonSet alloy/alloy container alloy", "readOnlyRootFilesystem"),
        ("Deployment grafana/grafana container grafana", "runAsNonRoot"),
        # The pod's uid 0 reaches the dashboards' init container too.
        ("Deployment grafana/grafana container download-dashboards", "runAsNonRoot"),
    }
    # Alloy's own root user is the named exception (it reads the journal): not reported.


def test_a_missing_hop_of_the_data_path_fails(inventory: Inventory, plans: dict[str, dict[str, Any]]) -> None:
    violations = prove(inventory, plans, "payments-prod", drop_policy("mimir", "mimir-gateway"), "network")
    messages = {(v.component, v.message) for v in violations}
    assert (
        "Deployment/mimir-gateway",
        "does not admit Alloy to the Mimir gateway on http-metrics (8080)",
    ) in messages
    assert (
        "Deployment/mimir-gateway",
        "does not admit Grafana to the Mimir gateway on http-metrics (8080)",
    ) in messages


def test_a_policy_whose_selector_matches_no_rendered_pod_fails(
    inventory: Inventory, plans: dict[str, dict[str, Any]]
) -> None:
    def edit(plan: dict[str, Any]) -> None:
        selector = policy(plan, "loki", "loki-gateway")["inputs"]["spec"]["podSelector"]
        selector["matchLabels"]["app.kubernetes.io/component"] = "loki-gateway"  # the chart says gateway

    violations = prove(inventory, plans, "payments-prod", edit, "network")
    assert ("NetworkPolicy loki/loki-gateway", "selects no rendered pod") in {
        (v.component, v.message) for v in violations
    }


def test_a_namespace_without_its_default_deny_admits_outsiders(
    inventory: Inventory, plans: dict[str, dict[str, Any]]
) -> None:
    violations = prove(
        inventory, plans, "payments-prod", drop_policy("grafana", "default-deny-ingress"), "network"
    )
    assert ("Deployment/grafana", "admits any pod on grafana (3000)") in {
        (v.component, v.message) for v in violations
    }


def test_in_the_control_room_any_pod_but_the_gateway_reaching_the_distributor_fails(
    inventory: Inventory, plans: dict[str, dict[str, Any]]
) -> None:
    def edit(plan: dict[str, Any]) -> None:
        rules = policy(plan, "mimir", "mimir-distributor")["inputs"]["spec"]["ingress"]
        rules.append({"from": [{"podSelector": {}}], "ports": [{"protocol": "TCP", "port": 8080}]})

    violations = prove(inventory, plans, "controlroom", edit, "network")
    components = {v.component for v in violations}
    assert components == {"Deployment/mimir-distributor"}
    assert any("admits Deployment/mimir-querier over HTTP" in v.message for v in violations)


def test_missing_ingestion_limits_fail(inventory: Inventory, plans: dict[str, dict[str, Any]]) -> None:
    def central(plan: dict[str, Any]) -> None:
        del values(plan, "mimir-chart")["runtimeConfig"]["overrides"]["payments-prod"]

    (violation,) = prove(inventory, plans, "controlroom", central, "limits")
    assert violation.component == "tenant payments-prod"

    def local(plan: dict[str, Any]) -> None:
        del values(plan, "loki-chart")["loki"]["limits_config"]["ingestion_rate_mb"]
        del values(plan, "mimir-chart")["mimir"]["structuredConfig"]["limits"]["ingestion_rate"]

    found = {v.component: v.message for v in prove(inventory, plans, "payments-prod", local, "limits")}
    assert found["ConfigMap mimir/mimir-config"].startswith("sets no ingestion_rate")
    assert any(
        c.startswith("ConfigMap loki/") and m.startswith("sets no ingestion_rate_mb")
        for c, m in found.items()
    )


def test_the_hub_collector_is_admitted_to_mimirs_metrics_and_nothing_else_is(
    inventory: Inventory, plans: dict[str, dict[str, Any]]
) -> None:
    dropped = drop_policy("mimir", "mimir-hub-collector")
    messages = {v.message for v in prove(inventory, plans, "controlroom", dropped, "network")}
    assert "does not admit the hub collector to Mimir's distributor on http-metrics (8080)" in messages
    assert "does not admit the hub collector to Mimir's ingester on http-metrics (8080)" in messages

    # The exception is the collector's pods: the same policy admitting Grafana's is refused.
    def widen(plan: dict[str, Any]) -> None:
        peer = policy(plan, "mimir", "mimir-hub-collector")["inputs"]["spec"]["ingress"][0]["from"][0]
        peer["podSelector"] = {"matchLabels": {"app.kubernetes.io/name": "grafana"}}
        peer["namespaceSelector"] = {"matchLabels": {"kubernetes.io/metadata.name": "grafana"}}

    widened = {(v.component, v.message) for v in prove(inventory, plans, "controlroom", widen, "network")}
    refused = "admits Deployment/grafana over HTTP: only the gateway may"
    assert ("Deployment/mimir-distributor", refused) in widened
