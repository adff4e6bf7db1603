"""NetworkPolicies that admit exactly the data path, as plain data, and the Pulumi resources.

Every namespace fleet installs into denies all ingress; each further policy admits one hop of the
data path. Workload: Alloy and Grafana reach the Mimir and Loki gateways (port 8080), the ingress
controller reaches Grafana when it has a hostname, each backend's pods reach each other, Alloy's
pods reach each other (clustering) and kube-state-metrics. Control room: only the gateway reaches
the distributor and the query-frontend over HTTP (other Mimir pods reach them only on gRPC and
memberlist), and only the ingress controller and the fleet Grafana reach the gateway; the hub's
collector reaches every Mimir pod's metrics port (``HTTP_ENTRY_EXCEPTIONS``). In both, the
API server reaches the rollout-operator's admission webhooks.

Only ingress is restricted: egress goes to object storage, the Kubernetes API and the control
room, whose addresses differ per cloud and are not known here; DNS stays reachable.
Selectors use the labels the charts give their pods (``app.kubernetes.io/name``, ``instance``,
``component``), and namespaces are selected by ``kubernetes.io/metadata.name``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

NAMESPACE_LABEL = "kubernetes.io/metadata.name"
GATEWAY_PORT = 8080
"""The Mimir and Loki gateways' nginx listens here (their Services' port 80 targets it)."""
GRAFANA_PORT = 3000
ALLOY_CLUSTER_PORT = 12345
KUBE_STATE_METRICS_PORT = 8080
GRPC_PORT = 9095
MEMBERLIST_PORT = 7946
WEBHOOK_PORT = 8443
"""The rollout-operator's admission webhooks, called by the API server."""


@dataclass(frozen=True)
class Pods:
    """Pods selected by labels (and ``component`` not in ``not_components``) in ``namespace``.

    ``namespace`` None: the policy's own namespace. ``labels`` empty: every pod there.
    """

    labels: Mapping[str, str] = field(default_factory=dict)
    namespace: str | None = None
    not_components: tuple[str, ...] = ()

    def selector(self) -> dict[str, Any]:
        selector: dict[str, Any] = {}
        if self.labels:
            selector["matchLabels"] = dict(self.labels)
        if self.not_components:
            selector["matchExpressions"] = [
                {
                    "key": "app.kubernetes.io/component",
                    "operator": "NotIn",
                    "values": list(self.not_components),
                }
            ]
        return selector


EVERYWHERE = None
"""A rule's ``sources`` for traffic from any address (the API server's, whose address is unknown)."""


@dataclass(frozen=True)
class Rule:
    sources: tuple[Pods, ...] | None
    """Where traffic may come from; None: anywhere."""
    ports: tuple[int, ...] = ()
    """TCP ports admitted; empty: every port."""


@dataclass(frozen=True)
class Policy:
    name: str
    namespace: str
    pods: Pods
    rules: tuple[Rule, ...] = ()
    """No rules: the selected pods admit nothing."""

    def manifest(self) -> dict[str, Any]:
        """The NetworkPolicy object."""
        ingress = []
        for rule in self.rules:
            entry: dict[str, Any] = {}
            if rule.sources is not None:
                entry["from"] = [_peer(source) for source in rule.sources]
            if rule.ports:
                entry["ports"] = [{"protocol": "TCP", "port": port} for port in rule.ports]
            ingress.append(entry)
        return {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {
                "name": self.name,
                "namespace": self.namespace,
                "labels": {"app.kubernetes.io/managed-by": "fleet"},
            },
            "spec": {"podSelector": self.pods.selector(), "policyTypes": ["Ingress"], "ingress": ingress},
        }


def _peer(source: Pods) -> dict[str, Any]:
    peer: dict[str, Any] = {"podSelector": source.selector()}
    if source.namespace is not None:
        peer["namespaceSelector"] = {"matchLabels": {NAMESPACE_LABEL: source.namespace}}
    return peer


def app(name: str, instance: str, component: str | None = None, namespace: str | None = None) -> Pods:
    """Pods of a chart: ``app.kubernetes.io/name``, ``instance`` and optionally ``component``."""
    labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/instance": instance}
    if component is not None:
        labels["app.kubernetes.io/component"] = component
    return Pods(labels, namespace)


def deny_all(namespace: str) -> Policy:
    return Policy("default-deny-ingress", namespace, Pods())


def webhooks(namespace: str, release: str) -> Policy:
    """The API server calls the rollout-operator's webhooks (from an address not known here)."""
    return Policy(
        f"{release}-rollout-operator-webhooks",
        namespace,
        Pods({"app.kubernetes.io/name": "rollout-operator", "app.kubernetes.io/instance": release}),
        (Rule(EVERYWHERE, (WEBHOOK_PORT,)),),
    )


@dataclass(frozen=True)
class WorkloadNamespaces:
    alloy: str
    mimir: str
    loki: str
    grafana: str


def workload_policies(
    ns: WorkloadNamespaces, *, ingress_namespace: str, grafana_ingress: bool
) -> list[Policy]:
    """A workload's policies: its four namespaces deny ingress but for the data path."""
    alloy = app("alloy", "alloy", namespace=ns.alloy)
    grafana = app("grafana", "grafana", namespace=ns.grafana)
    policies = [deny_all(namespace) for namespace in (ns.alloy, ns.mimir, ns.loki, ns.grafana)]
    policies.append(
        Policy(
            "alloy-cluster",
            ns.alloy,
            app("alloy", "alloy"),
            (Rule((app("alloy", "alloy"),), (ALLOY_CLUSTER_PORT,)),),
        )
    )
    policies.append(
        Policy(
            "kube-state-metrics",
            ns.alloy,
            app("kube-state-metrics", "kube-state-metrics"),
            (Rule((app("alloy", "alloy"),), (KUBE_STATE_METRICS_PORT,)),),
        )
    )
    for backend, namespace in (("mimir", ns.mimir), ("loki", ns.loki)):
        policies.append(Policy(f"{backend}-internal", namespace, Pods(), (Rule((Pods(),)),)))
        policies.append(
            Policy(
                f"{backend}-gateway",
                namespace,
                app(backend, backend, "gateway"),
                (Rule((alloy, grafana), (GATEWAY_PORT,)),),
            )
        )
    policies.append(webhooks(ns.mimir, "mimir"))
    if grafana_ingress:
        policies.append(
            Policy(
                "grafana-ingress",
                ns.grafana,
                app("grafana", "grafana"),
                (Rule((Pods(namespace=ingress_namespace),), (GRAFANA_PORT,)),),
            )
        )
    return policies


ENTRY_COMPONENTS = ("distributor", "query-frontend")
"""The control-room components that would accept any tenant's data or queries over HTTP."""
ROLLOUT_OPERATOR_METRICS_PORT = 8001
HUB_COLLECTOR = "hub-collector"
"""The release of the control room's own Alloy (``controlroom.collector``)."""
HTTP_ENTRY_EXCEPTIONS: dict[str, str] = {
    HUB_COLLECTOR: (
        "the control room's own Alloy scrapes /metrics, which Mimir serves on the same HTTP port "
        "as its write and query APIs, and writes the hub's own tenant there; it is created by "
        "the control room's stack with fleet's configuration and its namespace admits nothing"
    ),
}
"""``app.kubernetes.io/instance`` of the Alloy releases admitted to the entry components' HTTP
port besides the gateway, with the reason ``fleet verify`` accepts them for."""


def hub_collector_policies(*, mimir: str, collector: str) -> list[Policy]:
    """The collector reaches every Mimir pod's metrics port (the gateway's has none) and the
    rollout-operator's; its own namespace admits only itself (its self-scrape)."""
    release = HUB_COLLECTOR
    scraper = app("alloy", release, namespace=collector)
    return [
        deny_all(collector),
        Policy(
            "hub-collector-self",
            collector,
            app("alloy", release),
            (Rule((app("alloy", release),), (ALLOY_CLUSTER_PORT,)),),
        ),
        Policy(
            "mimir-hub-collector",
            mimir,
            Pods(
                {"app.kubernetes.io/name": "mimir", "app.kubernetes.io/instance": "mimir"},
                not_components=("gateway",),
            ),
            (Rule((scraper,), (GATEWAY_PORT,)),),
        ),
        Policy(
            "mimir-rollout-operator-metrics",
            mimir,
            Pods({"app.kubernetes.io/name": "rollout-operator", "app.kubernetes.io/instance": "mimir"}),
            (Rule((scraper,), (ROLLOUT_OPERATOR_METRICS_PORT,)),),
        ),
    ]


def controlroom_policies(
    *, mimir: str, grafana: str, ingress_namespace: str, collector: str | None = None
) -> list[Policy]:
    """The control room's policies: only the gateway reaches the distributor and query-frontend
    (and the hub's collector, for their metrics: ``HTTP_ENTRY_EXCEPTIONS``)."""
    gateway = app("mimir", "mimir", "gateway")
    collector_policies = [] if collector is None else hub_collector_policies(mimir=mimir, collector=collector)
    return [
        deny_all(mimir),
        deny_all(grafana),
        # Mimir's pods talk to each other freely, except to the two entry components.
        Policy(
            "mimir-internal",
            mimir,
            Pods(not_components=(*ENTRY_COMPONENTS, "gateway")),
            (Rule((Pods(),)),),
        ),
        # The entry components: gRPC and memberlist from Mimir's pods, HTTP from the gateway only.
        *(
            Policy(
                f"mimir-{component}",
                mimir,
                app("mimir", "mimir", component),
                (Rule((Pods(),), (GRPC_PORT, MEMBERLIST_PORT)), Rule((gateway,), (GATEWAY_PORT,))),
            )
            for component in ENTRY_COMPONENTS
        ),
        Policy(
            "mimir-gateway",
            mimir,
            gateway,
            (
                Rule(
                    (Pods(namespace=ingress_namespace), app("grafana", "grafana", namespace=grafana)),
                    (GATEWAY_PORT,),
                ),
            ),
        ),
        webhooks(mimir, "mimir"),
        *collector_policies,
    ]


def network_policies(
    name: str, policies: Sequence[Policy], opts: pulumi.ResourceOptions
) -> list[k8s.networking.v1.NetworkPolicy]:
    """The Pulumi resources, named ``{name}-{namespace}-{policy}``."""
    resources = []
    for policy in policies:
        manifest = policy.manifest()
        resources.append(
            k8s.networking.v1.NetworkPolicy(
                f"{name}-{policy.namespace}-{policy.name}",
                metadata=manifest["metadata"],
                spec=manifest["spec"],
                opts=opts,
            )
        )
    return resources
