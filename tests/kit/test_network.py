"""The NetworkPolicies against the pods the real charts render: the example inventory rendered by
the programs, every chart expanded by helm with the programs' values, and each hop of the data
path (and a few that must stay closed) judged by NetworkPolicy semantics (fleet/verify/netpol.py).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from chart_repository import shared_charts
from inventories import AWS_WORKLOAD, workload_yaml, write_inventory

from fleet.charts.helm import helm_binary
from fleet.engines.render import RenderEngine, default_programs
from fleet.errors import MissingTool
from fleet.inventory.loader import load_inventory
from fleet.inventory.models import Egress, MimirKafka
from fleet.verify.netpol import Address, Pod, admits, connects, pods_of, selects
from kit.network import WorkloadNamespaces, workload_policies

POLICY_TYPE = "kubernetes:networking.k8s.io/v1:NetworkPolicy"


@dataclass
class Stack:
    pods: list[Pod]
    policies: list[dict[str, Any]]

    def pod(self, namespace: str, **labels: str) -> Pod:
        found = [
            pod
            for pod in self.pods
            if pod.namespace == namespace
            and all(pod.labels.get(f"app.kubernetes.io/{key}") == value for key, value in labels.items())
        ]
        assert found, f"no rendered pod in {namespace} with {labels}"
        return found[0]


def _render_charts(plan: dict[str, Any], workdir: Path) -> list[Pod]:
    helm = str(helm_binary())
    pods = []
    for resource in plan["resources"]:
        if resource["type"] != "kubernetes:helm.sh/v4:Chart":
            continue
        inputs = resource["inputs"]
        archive = shared_charts() / f"{inputs['chart']}-{inputs['version']}.tgz"
        release = inputs.get("name") or inputs["values"].get("fullnameOverride")
        values = workdir / f"{resource['name']}.json"
        values.write_text(json.dumps(inputs["values"]), encoding="utf-8")
        command = [helm, "template", release, str(archive), "-n", inputs["namespace"], "-f", str(values)]
        rendered = subprocess.run(command, capture_output=True, text=True, check=True, timeout=120).stdout
        pods.extend(pods_of([doc for doc in yaml.safe_load_all(rendered) if doc], inputs["namespace"]))
    return pods


@pytest.fixture(scope="module")
def stacks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Stack]]:
    try:
        helm_binary()
    except MissingTool as missing:
        pytest.skip(str(missing))
    root = tmp_path_factory.mktemp("network")
    # AWS everywhere: mimir-distributed 6.0.0 renders global.podLabels (Azure's workload-identity
    # label) into broken YAML, which the chart-rendering proofs report on their own.
    path = write_inventory(root / "inventory", ["payments-prod"])
    hostname = "  grafana: {hostname: grafana.analytics.example}\n"
    (path / "workloads" / "analytics-prod.yaml").write_text(
        workload_yaml("analytics-prod", AWS_WORKLOAD + hostname), encoding="utf-8"
    )
    alerting = "  alerting: {enabled: true}\n"
    (path / "workloads" / "shop-prod.yaml").write_text(
        workload_yaml("shop-prod", AWS_WORKLOAD + alerting), encoding="utf-8"
    )
    inventory = load_inventory(path)
    engine = RenderEngine(root / "render", show_secrets=True, programs=default_programs())
    result = {}
    for stack in ("controlroom", "payments-prod", "analytics-prod", "shop-prod"):
        plan = json.loads(engine.render(inventory, stack).read_text(encoding="utf-8"))
        policies = [
            {"metadata": r["inputs"]["metadata"], "spec": r["inputs"]["spec"]}
            for r in plan["resources"]
            if r["type"] == POLICY_TYPE
        ]
        own = [  # the program's own workloads (kube-state-metrics)
            {**r["inputs"], "kind": "Deployment"}
            for r in plan["resources"]
            if r["type"] == "kubernetes:apps/v1:Deployment"
        ]
        result[stack] = Stack(_render_charts(plan, root) + pods_of(own, "default"), policies)
    yield result


def test_every_policy_selects_rendered_pods(stacks: dict[str, Stack]) -> None:
    for name, stack in stacks.items():
        for policy in stack.policies:
            namespace = policy["metadata"]["namespace"]
            selected = [
                p
                for p in stack.pods
                if p.namespace == namespace and selects(policy["spec"]["podSelector"], p.labels)
            ]
            assert selected, f"{name}: {policy['metadata']['name']} in {namespace} selects no rendered pod"


def test_a_workload_admits_its_data_path_and_nothing_else(stacks: dict[str, Stack]) -> None:
    stack = stacks["payments-prod"]
    alloy = stack.pod("alloy", name="alloy", instance="alloy")
    grafana = stack.pod("grafana", name="grafana")
    mimir_gateway = stack.pod("mimir", name="mimir", component="gateway")
    loki_gateway = stack.pod("loki", name="loki", component="gateway")
    distributor = stack.pod("mimir", name="mimir", component="distributor")
    ingester = stack.pod("mimir", name="mimir", component="ingester")
    loki_write = stack.pod("loki", name="loki", component="write")
    stranger = Pod("default", {"app": "anything"})
    policies = stack.policies
    for source in (alloy, grafana):
        assert connects(policies, source, mimir_gateway, 8080)
        assert connects(policies, source, loki_gateway, 8080)
    assert not connects(policies, grafana, distributor, 8080)  # only through the gateway
    assert not connects(policies, grafana, loki_write, 3100)
    # Alloy scrapes the stack's metrics ports (Mimir's HTTP port is its metrics port).
    assert connects(policies, alloy, ingester, 8080)
    assert connects(policies, alloy, loki_write, 3100)
    assert connects(policies, alloy, grafana, 3000)
    assert not connects(policies, alloy, ingester, 9095)
    assert connects(policies, mimir_gateway, distributor, 8080)  # gateway → backend
    assert connects(policies, distributor, ingester, 9095)
    assert connects(policies, loki_gateway, loki_write, 3100)
    assert connects(policies, alloy, alloy, 12345)  # Alloy's clustering
    events = stack.pod("alloy", name="alloy", instance="alloy-events")
    assert connects(policies, events, loki_gateway, 8080)  # Kubernetes events to the local Loki
    assert not connects(policies, events, mimir_gateway, 8080)  # and nothing else
    assert not connects(policies, events, loki_write, 3100)
    assert connects(policies, alloy, events, 12345)  # its own metrics, scraped by Alloy
    assert not connects(policies, grafana, events, 12345)
    kube_state_metrics = stack.pod("alloy", name="kube-state-metrics")
    assert connects(policies, alloy, kube_state_metrics, 8080)
    assert not connects(policies, grafana, kube_state_metrics, 8080)
    for target, port in ((mimir_gateway, 8080), (loki_gateway, 8080), (distributor, 8080), (grafana, 3000)):
        assert not admits(policies, stranger, target, port)
        assert not admits(policies, None, target, port)
    # No hostname: nothing may reach Grafana, not even the ingress controller.
    assert not admits(policies, Pod("ingress-nginx", {}), grafana, 3000)
    # The API server calls the rollout-operator's webhooks.
    assert admits(policies, None, stack.pod("mimir", name="rollout-operator"), 8443)


def test_a_workload_grafana_with_a_hostname_admits_the_ingress_controller(stacks: dict[str, Stack]) -> None:
    stack = stacks["analytics-prod"]
    grafana = stack.pod("grafana", name="grafana")
    assert admits(stack.policies, Pod("ingress-nginx", {"app": "controller"}), grafana, 3000)
    assert not admits(stack.policies, Pod("default", {}), grafana, 3000)


@pytest.mark.parametrize("name", ["shop-prod", "controlroom"])
def test_grafana_reaches_its_alertmanager_through_the_gateway_only(
    stacks: dict[str, Stack], name: str
) -> None:
    """Grafana's Alertmanager datasource (the Mimir gateway's /alertmanager) gets through, ingress
    and egress: Grafana to the gateway, the gateway to the Alertmanager; nothing else reaches it.
    A workload's with local alerting, and the fleet Grafana's in the control room."""
    stack = stacks[name]
    policies = stack.policies
    grafana = stack.pod("grafana", name="grafana")
    gateway = stack.pod("mimir", name="mimir", component="gateway")
    alertmanager = stack.pod("mimir", name="mimir", component="alertmanager")
    assert connects(policies, grafana, gateway, 8080)
    assert connects(policies, gateway, alertmanager, 8080)
    assert not connects(policies, grafana, alertmanager, 8080)  # only through the gateway
    assert not admits(policies, STRANGER, alertmanager, 8080)
    assert not admits(policies, Pod("ingress-nginx", {}), alertmanager, 8080)


def test_in_the_control_room_only_the_gateway_reaches_distributor_and_query_frontend(
    stacks: dict[str, Stack],
) -> None:
    stack = stacks["controlroom"]
    policies = stack.policies
    gateway = stack.pod("mimir", name="mimir", component="gateway")
    distributor = stack.pod("mimir", name="mimir", component="distributor")
    frontend = stack.pod("mimir", name="mimir", component="query-frontend")
    querier = stack.pod("mimir", name="mimir", component="querier")
    ingester = stack.pod("mimir", name="mimir", component="ingester")
    grafana = stack.pod("grafana", name="grafana")
    ingress = Pod("ingress-nginx", {"app.kubernetes.io/name": "ingress-nginx"})
    for entry in (distributor, frontend):
        assert connects(policies, gateway, entry, 8080)
        for other in (querier, ingester, grafana, ingress, Pod("default", {}), None):
            assert not admits(policies, other, entry, 8080), (other, entry)
    assert admits(policies, querier, frontend, 9095)  # queriers answer the frontend over gRPC
    assert admits(policies, distributor, ingester, 9095)  # the classic write path
    assert admits(policies, ingress, gateway, 8080)
    assert admits(policies, grafana, gateway, 8080)
    assert not admits(policies, Pod("default", {}), gateway, 8080)
    assert not admits(policies, Pod("default", {}), ingester, 9095)


def test_the_hub_collector_reaches_mimirs_metrics_and_admits_nobody(stacks: dict[str, Stack]) -> None:
    stack = stacks["controlroom"]
    policies = stack.policies
    collector = stack.pod("hub-collector", name="alloy", instance="hub-collector")
    gateway = stack.pod("mimir", name="mimir", component="gateway")
    grafana = stack.pod("grafana", name="grafana")
    for component in ("distributor", "query-frontend", "ingester", "querier", "compactor", "ruler"):
        target = stack.pod("mimir", name="mimir", component=component)
        assert admits(policies, collector, target, 8080), component
        assert not admits(policies, collector, target, 9095), component  # metrics only: no gRPC
    operator = stack.pod("mimir", name="rollout-operator")
    assert admits(policies, collector, operator, 8001)
    assert not admits(policies, collector, gateway, 8080)  # nginx has no metrics to scrape
    # Its namespace admits nothing from anywhere else; an Alloy elsewhere is not the collector.
    for other in (gateway, grafana, Pod("default", {}), None):
        assert not admits(policies, other, collector, 12345)
    impostor = Pod(
        "default", {"app.kubernetes.io/name": "alloy", "app.kubernetes.io/instance": "hub-collector"}
    )
    assert not admits(policies, impostor, stack.pod("mimir", name="mimir", component="distributor"), 8080)
    # Its kube-state-metrics admits the collector only, on its metrics port only.
    kube_state_metrics = stack.pod("hub-collector", name="kube-state-metrics")
    assert admits(policies, collector, kube_state_metrics, 8080)
    assert not admits(policies, collector, kube_state_metrics, 8081)
    for other in (gateway, grafana, impostor, None):
        assert not admits(policies, other, kube_state_metrics, 8080)


KUBE_DNS = Pod("kube-system", {"k8s-app": "kube-dns"})
ANYWHERE = Address("198.51.100.7")  # the default destinations are 0.0.0.0/0
STRANGER = Pod("default", {"app": "anything"})


def test_a_workload_restricts_egress_to_dns_the_data_path_and_its_outside_addresses(
    stacks: dict[str, Stack],
) -> None:
    stack = stacks["payments-prod"]
    policies = stack.policies
    for pod in stack.pods:
        assert connects(policies, pod, KUBE_DNS, 53, "UDP"), pod.name
        assert connects(policies, pod, KUBE_DNS, 53, "TCP"), pod.name
    alloy = stack.pod("alloy", name="alloy", instance="alloy")
    events = stack.pod("alloy", name="alloy", instance="alloy-events")
    kube_state_metrics = stack.pod("alloy", name="kube-state-metrics")
    grafana = stack.pod("grafana", name="grafana")
    mimir_gateway = stack.pod("mimir", name="mimir", component="gateway")
    ingester = stack.pod("mimir", name="mimir", component="ingester")
    loki_backend = stack.pod("loki", name="loki", component="backend")
    # The API server (443, or kubeadm's 6443) for the pods that read it; the hub for Alloy.
    for pod in (alloy, events, kube_state_metrics, stack.pod("mimir", name="rollout-operator")):
        assert connects(policies, pod, ANYWHERE, 443), pod.name
        assert connects(policies, pod, ANYWHERE, 6443), pod.name
    for pod in (ingester, loki_backend):  # object storage, and not the API server: Loki runs no sidecar
        assert connects(policies, pod, ANYWHERE, 443), pod.name
        assert not connects(policies, pod, ANYWHERE, 6443), pod.name
    assert not connects(policies, ingester, ANYWHERE, 80)
    for pod in (grafana, mimir_gateway):
        assert not connects(policies, pod, ANYWHERE, 443), pod.name  # nothing outside for them
    # In-cluster: nothing outside the stack, but Alloy, which scrapes every pod by annotation.
    for pod in stack.pods:
        allowed = pod is alloy
        assert connects(policies, pod, STRANGER, 8080) is allowed, pod.name
    assert not connects(policies, grafana, ingester, 9095)
    assert not connects(policies, ingester, alloy, 12345)


def test_the_control_rooms_egress(stacks: dict[str, Stack]) -> None:
    stack = stacks["controlroom"]
    policies = stack.policies
    alertmanager = stack.pod("mimir", name="mimir", component="alertmanager")
    distributor = stack.pod("mimir", name="mimir", component="distributor")
    gateway = stack.pod("mimir", name="mimir", component="gateway")
    grafana = stack.pod("grafana", name="grafana")
    assert connects(policies, alertmanager, ANYWHERE, 587)  # e-mail receivers
    assert not connects(policies, distributor, ANYWHERE, 587)
    assert connects(policies, grafana, gateway, 8080)
    assert not connects(policies, grafana, distributor, 8080)
    # Its dashboards sidecar watches ConfigMaps (Mimir's dashboards) in the API: 443 and 6443.
    assert connects(policies, grafana, ANYWHERE, 443)
    assert not connects(policies, grafana, ANYWHERE, 80)
    for pod in stack.pods:
        assert not connects(policies, pod, STRANGER, 8080), pod.name


def test_the_hub_collectors_egress(stacks: dict[str, Stack]) -> None:
    """Mimir's metrics ports (and the distributor's, its write), its kube-state-metrics and the API
    server; nothing else. kube-state-metrics: the API server only."""
    stack = stacks["controlroom"]
    policies = stack.policies
    collector = stack.pod("hub-collector", name="alloy", instance="hub-collector")
    assert connects(policies, collector, KUBE_DNS, 53, "UDP")
    for component in ("distributor", "ingester", "compactor"):
        assert connects(policies, collector, stack.pod("mimir", name="mimir", component=component), 8080)
    assert connects(policies, collector, stack.pod("mimir", name="rollout-operator"), 8001)
    assert not connects(policies, collector, stack.pod("mimir", name="mimir", component="ingester"), 9095)
    assert not connects(policies, collector, stack.pod("mimir", name="mimir", component="gateway"), 8080)
    assert not connects(policies, collector, stack.pod("grafana", name="grafana"), 3000)
    assert connects(policies, collector, ANYWHERE, 443)  # the API server: discovery, logs, the kubelets
    assert not connects(policies, collector, ANYWHERE, 80)
    assert not connects(policies, collector, STRANGER, 8080)
    kube_state_metrics = stack.pod("hub-collector", name="kube-state-metrics")
    assert connects(policies, collector, kube_state_metrics, 8080)
    assert connects(policies, kube_state_metrics, ANYWHERE, 443)  # the API server, and nothing else
    assert not connects(policies, kube_state_metrics, collector, 12345)
    assert not connects(
        policies, kube_state_metrics, stack.pod("mimir", name="mimir", component="ingester"), 8080
    )


def test_egress_left_open_when_the_inventory_says_so_and_narrowed_to_its_addresses() -> None:
    namespaces = WorkloadNamespaces("alloy", "mimir", "loki", "grafana")
    open_egress = Egress(restricted=False)
    policies = workload_policies(
        namespaces, ingress_namespace="ingress-nginx", grafana_ingress=False, egress_settings=open_egress
    )
    assert all(policy.direction == "Ingress" for policy in policies)
    narrowed = Egress.model_validate({"control_room": {"cidrs": ["203.0.113.0/24"]}})
    manifests = [
        policy.manifest()
        for policy in workload_policies(
            namespaces,
            ingress_namespace="ingress-nginx",
            grafana_ingress=False,
            egress_settings=narrowed,
            scraped_namespaces=("payments",),
        )
    ]
    alloy = Pod("alloy", {"app.kubernetes.io/name": "alloy", "app.kubernetes.io/instance": "alloy"})
    assert connects(manifests, alloy, Address("203.0.113.9"), 443)
    # 198.51.100.7:443 is still open: the API server's default is anywhere on 443.
    assert not connects(manifests, alloy, Address("198.51.100.7"), 80)
    # alloy.namespaces narrows what Alloy may scrape to them and the stack's own.
    assert connects(manifests, alloy, Pod("payments", {"app": "shop"}), 9100)
    assert not connects(manifests, alloy, Pod("default", {"app": "shop"}), 9100)
    assert connects(manifests, alloy, Pod("mimir", {"app.kubernetes.io/component": "ingester"}), 8080)
    # Without the events collector, its policies go too.
    without_events = workload_policies(
        namespaces,
        ingress_namespace="ingress-nginx",
        grafana_ingress=False,
        events=False,
        egress_settings=narrowed,
    )
    assert not [p for p in without_events if "alloy-events" in str(p.manifest())]


def test_mimir_reaches_the_platforms_kafka_on_its_ports_when_it_has_one() -> None:
    kafka = MimirKafka(address="kafka-0.kafka.streaming:9092,kafka-1.kafka.streaming:9094")
    assert kafka.ports() == (9092, 9094)
    namespaces = WorkloadNamespaces("alloy", "mimir", "loki", "grafana")
    manifests = [
        policy.manifest()
        for policy in workload_policies(
            namespaces,
            ingress_namespace="ingress-nginx",
            grafana_ingress=False,
            egress_settings=Egress(),
            kafka_ports=kafka.ports(),
        )
    ]
    ingester = Pod("mimir", {"app.kubernetes.io/name": "mimir", "app.kubernetes.io/component": "ingester"})
    gateway = Pod("mimir", {"app.kubernetes.io/name": "mimir", "app.kubernetes.io/component": "gateway"})
    broker = Pod("streaming", {"app": "kafka"})
    for port in (9092, 9094):
        assert connects(manifests, ingester, broker, port)  # a broker in the cluster
        assert connects(manifests, ingester, Address("10.20.30.40"), port)  # or outside it
        assert not connects(manifests, gateway, broker, port)
    assert not connects(manifests, ingester, broker, 9093)
    # Without Kafka, nothing opens.
    classic = [
        policy.manifest()
        for policy in workload_policies(
            namespaces, ingress_namespace="ingress-nginx", grafana_ingress=False, egress_settings=Egress()
        )
    ]
    assert not connects(classic, ingester, broker, 9092)
