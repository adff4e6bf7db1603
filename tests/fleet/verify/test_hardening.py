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
from inventories import copy_example

from fleet.engines.render import load_plans, render_all
from fleet.inventory.loader import Inventory, load_inventory
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


def test_a_policy_open_to_every_pod_admits_outsiders(
    inventory: Inventory, plans: dict[str, dict[str, Any]]
) -> None:
    def edit(plan: dict[str, Any]) -> None:
        del policy(plan, "alloy", "alloy-events")["inputs"]["spec"]["ingress"][0]["from"]

    violations = prove(inventory, plans, "payments-prod", edit, "network")
    assert ("Deployment/alloy-events", "admits any pod on http-metrics (12345)") in {
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


def test_an_events_collector_the_loki_gateway_refuses_fails(
    inventory: Inventory, plans: dict[str, dict[str, Any]]
) -> None:
    def edit(plan: dict[str, Any]) -> None:
        rule = policy(plan, "loki", "loki-gateway")["inputs"]["spec"]["ingress"][0]
        rule["from"] = [
            peer
            for peer in rule["from"]
            if peer["podSelector"].get("matchLabels", {}).get("app.kubernetes.io/instance") != "alloy-events"
        ]

    violations = prove(inventory, plans, "payments-prod", edit, "network")
    assert [(v.component, v.message) for v in violations] == [
        (
            "Deployment/loki-gateway",
            "does not admit the events collector to the Loki gateway on http-metrics (8080)",
        )
    ]


# --- egress -------------------------------------------------------------------------------------


def test_a_namespace_without_dns_cannot_resolve_names(
    inventory: Inventory, plans: dict[str, dict[str, Any]]
) -> None:
    violations = prove(inventory, plans, "payments-prod", drop_policy("grafana", "egress-dns"), "network")
    assert {(v.component, v.message) for v in violations} == {
        ("Deployment/grafana", "may not resolve names (kube-dns, UDP 53)"),
        ("Deployment/grafana", "may not resolve names (kube-dns, TCP 53)"),
    }


def test_a_backend_whose_egress_is_closed_breaks_its_hops(
    inventory: Inventory, plans: dict[str, dict[str, Any]]
) -> None:
    violations = prove(
        inventory, plans, "payments-prod", drop_policy("mimir", "egress-mimir-internal"), "network"
    )
    messages = {(v.component, v.message) for v in violations}
    # The gateway's egress is closed: the hop is refused although the distributor admits it.
    assert (
        "Deployment/mimir-distributor",
        "does not admit the Mimir gateway to the distributor on http-metrics (8080)",
    ) in messages


def test_egress_to_any_namespace_fails(inventory: Inventory, plans: dict[str, dict[str, Any]]) -> None:
    def edit(plan: dict[str, Any]) -> None:
        (rule,) = policy(plan, "loki", "egress-loki-internal")["inputs"]["spec"]["egress"]
        rule["to"][0]["namespaceSelector"] = {}

    violations = prove(inventory, plans, "payments-prod", edit, "network")
    assert violations
    assert {v.message for v in violations} == {
        "may connect to a pod outside the stack (ports 53, 80, 443, 3100, 8080, 9095)"
    }
    assert {v.component for v in violations} >= {"Deployment/loki-gateway", "StatefulSet/loki-write"}


def test_no_egress_to_object_storage_fails(inventory: Inventory, plans: dict[str, dict[str, Any]]) -> None:
    violations = prove(
        inventory, plans, "controlroom", drop_policy("mimir", "egress-mimir-object-storage"), "network"
    )
    components = {v.component for v in violations}
    assert "StatefulSet/mimir-compactor" in components
    assert all("reach object_storage (0.0.0.1:443, cluster.egress)" in v.message for v in violations)


def test_alloy_without_its_egress_reaches_neither_gateways_nor_api_nor_hub(
    inventory: Inventory, plans: dict[str, dict[str, Any]]
) -> None:
    violations = prove(inventory, plans, "payments-prod", drop_policy("alloy", "egress-alloy"), "network")
    messages = {(v.component, v.message) for v in violations}
    assert {
        ("DaemonSet/alloy", "does not let Alloy reach control_room (0.0.0.1:443, cluster.egress)"),
        ("DaemonSet/alloy", "does not let Alloy reach api_server (0.0.0.1:443, cluster.egress)"),
        ("Deployment/loki-gateway", "does not admit Alloy to the Loki gateway on http-metrics (8080)"),
    } <= messages
    # Only Alloy's hops broke: the events collector keeps its own policy.
    assert all("Alloy" in message for _, message in messages)


def test_narrowed_egress_addresses_and_kafka_reach_the_policies_and_the_proof(tmp_path: Path) -> None:
    root = copy_example(tmp_path / "inv")
    workload = root / "workloads" / "payments-prod.yaml"
    text = workload.read_text(encoding="utf-8")
    cluster = "cluster: {kubeconfig: ~/.kube/payments.yaml, context: payments}"
    assert cluster in text
    workload.write_text(
        text.replace(
            cluster,
            "cluster: {kubeconfig: ~/.kube/payments.yaml, context: payments, egress: "
            "{api_server: {cidrs: [10.100.0.0/16], ports: [443]}, control_room: {cidrs: [203.0.113.0/24]}}}",
        ),
        encoding="utf-8",
    )
    text = workload.read_text(encoding="utf-8")
    mimir = "mimir: {replicas: 3, retention: 60d}"
    assert mimir in text
    kafka = 'mimir: {replicas: 3, retention: 60d, kafka: {address: "kafka-0.kafka.streaming:9092"}}'
    workload.write_text(text.replace(mimir, kafka), encoding="utf-8")
    inventory = load_inventory(root)
    render_all(inventory, None, tmp_path / "plans")
    plans = load_plans(tmp_path / "plans")
    assert (
        verify_objects(inventory, {"payments-prod": plans["payments-prod"]})["payments-prod"]["network"] == []
    )

    def elsewhere(plan: dict[str, Any]) -> None:
        # The hub's range in the policy is not the inventory's: Alloy's remote write is refused.
        for rule in policy(plan, "alloy", "egress-alloy")["inputs"]["spec"]["egress"]:
            for peer in rule.get("to", []):
                if peer.get("ipBlock", {}).get("cidr") == "203.0.113.0/24":
                    peer["ipBlock"]["cidr"] = "198.51.100.0/24"

    assert [
        (v.component, v.message) for v in prove(inventory, plans, "payments-prod", elsewhere, "network")
    ] == [("DaemonSet/alloy", "does not let Alloy reach control_room (203.0.113.1:443, cluster.egress)")]

    violations = prove(
        inventory, plans, "payments-prod", drop_policy("mimir", "egress-mimir-kafka"), "network"
    )
    assert {(v.component, v.message) for v in violations} >= {
        ("Deployment/mimir-distributor", "does not let Mimir's distributor reach Kafka on 9092"),
        ("StatefulSet/mimir-ingester", "does not let Mimir's ingester reach Kafka on 9092"),
    }
