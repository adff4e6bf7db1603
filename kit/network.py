"""NetworkPolicies that admit exactly the data path, as plain data, and the Pulumi resources.

Ingress: every namespace fleet installs into denies all ingress; each further policy admits one
hop of the data path. Workload: Alloy and Grafana reach the Mimir and Loki gateways (port 8080),
the events collector reaches the Loki gateway, Alloy scrapes the stack's metrics ports, the
ingress controller reaches Grafana when it has a hostname, each backend's pods reach each other,
Alloy's pods reach each other (clustering) and kube-state-metrics, and with local alerting Loki's
ruler (in its backend pods) reaches the local Mimir's Alertmanager. Control room: only the gateway
reaches the distributor and the query-frontend over HTTP (other Mimir pods reach them only on
gRPC and memberlist), and only the ingress controller and the fleet Grafana reach the gateway; the
hub's collector reaches every Mimir pod's metrics port (``HTTP_ENTRY_EXCEPTIONS``) and its own
kube-state-metrics. In both, the API server reaches the rollout-operator's admission webhooks.

Egress (``cluster.egress``, restricted by default): every namespace denies all egress but DNS
(kube-system's ``k8s-app=kube-dns`` pods, UDP and TCP 53); each further policy opens one hop.
In-cluster: a backend's pods reach each other, Grafana and the events collector reach their
gateways, Alloy reaches the pods it scrapes (every namespace, or ``alloy.namespaces`` and the
stack's). Outside the pods, by address (``ipBlock``): the API server for the pods that call it
(Alloy, the events collector, kube-state-metrics, the rollout-operator), object storage for Mimir
and Loki, the hub for Alloy, notification receivers for the hub's Alertmanager and, with local
alerting, a workload's (whose Loki ruler also reaches it in-cluster); the hub's collector reaches
Mimir's metrics ports, its kube-state-metrics and the API server (as does that kube-state-metrics).

Selectors use the labels the charts give their pods (``app.kubernetes.io/name``, ``instance``,
``component``), and namespaces are selected by ``kubernetes.io/metadata.name``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import pulumi
import pulumi_kubernetes as k8s

from fleet.inventory.models import Egress, EgressTarget

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
LOKI_HTTP_PORT = 3100
MIMIR_HTTP_PORT = 8080
"""Every Mimir component's HTTP port (``http-metrics``): its API (the Alertmanager's too) and metrics."""
CACHE_EXPORTER_PORT = 9150
"""The memcached exporters of Mimir's and Loki's caches (port ``http-metrics``)."""
DNS_PORT = 53


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
ANY_NAMESPACE = "*"
"""A :class:`Pods` ``namespace`` that selects every namespace."""


@dataclass(frozen=True)
class Rule:
    sources: tuple[Pods, ...] | None
    """Ingress: where traffic may come from; egress: the pods it may go to. None: anywhere."""
    ports: tuple[int, ...] = ()
    """TCP ports admitted; empty (and no ``udp_ports``): every port."""
    cidrs: tuple[str, ...] = ()
    """Addresses outside the pods (``ipBlock``), beside ``sources``."""
    udp_ports: tuple[int, ...] = ()


@dataclass(frozen=True)
class Policy:
    name: str
    namespace: str
    pods: Pods
    rules: tuple[Rule, ...] = ()
    """No rules: the selected pods admit nothing (in ``direction``)."""
    direction: Literal["Ingress", "Egress"] = "Ingress"

    def manifest(self) -> dict[str, Any]:
        """The NetworkPolicy object."""
        entries = []
        for rule in self.rules:
            entry: dict[str, Any] = {}
            if rule.sources is not None or rule.cidrs:
                peers = [_peer(source) for source in rule.sources or ()]
                peers += [{"ipBlock": {"cidr": cidr}} for cidr in rule.cidrs]
                entry["from" if self.direction == "Ingress" else "to"] = peers
            ports = [{"protocol": "UDP", "port": port} for port in rule.udp_ports]
            ports += [{"protocol": "TCP", "port": port} for port in rule.ports]
            if ports:
                entry["ports"] = ports
            entries.append(entry)
        return {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {
                "name": self.name,
                "namespace": self.namespace,
                "labels": {"app.kubernetes.io/managed-by": "fleet"},
            },
            "spec": {
                "podSelector": self.pods.selector(),
                "policyTypes": [self.direction],
                self.direction.lower(): entries,
            },
        }


def _peer(source: Pods) -> dict[str, Any]:
    peer: dict[str, Any] = {"podSelector": source.selector()}
    if source.namespace == ANY_NAMESPACE:
        peer["namespaceSelector"] = {}
    elif source.namespace is not None:
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


KUBE_DNS = Pods({"k8s-app": "kube-dns"}, "kube-system")
"""The cluster's DNS pods (CoreDNS keeps kube-dns's label on EKS, AKS, GKE and kubeadm)."""


def deny_egress(namespace: str) -> list[Policy]:
    """Every pod of ``namespace`` may resolve names and connect nowhere else (unless another
    policy opens a hop)."""
    return [
        Policy("default-deny-egress", namespace, Pods(), direction="Egress"),
        Policy(
            "egress-dns",
            namespace,
            Pods(),
            (Rule((KUBE_DNS,), (DNS_PORT,), udp_ports=(DNS_PORT,)),),
            direction="Egress",
        ),
    ]


def to_addresses(target: EgressTarget) -> Rule:
    """An egress rule to addresses outside the pods (the API server, a bucket, the hub)."""
    return Rule(None, tuple(target.ports), cidrs=tuple(target.cidrs))


def egress(name: str, namespace: str, pods: Pods, *rules: Rule) -> Policy:
    """An egress policy, named ``egress-<name>``: ``pods`` may connect where ``rules`` say."""
    return Policy(f"egress-{name}", namespace, pods, rules, direction="Egress")


def webhooks(namespace: str, release: str) -> Policy:
    """The API server calls the rollout-operator's webhooks (from an address not known here)."""
    return Policy(
        f"{release}-rollout-operator-webhooks",
        namespace,
        _rollout_operator(release),
        (Rule(EVERYWHERE, (WEBHOOK_PORT,)),),
    )


@dataclass(frozen=True)
class WorkloadNamespaces:
    alloy: str
    mimir: str
    loki: str
    grafana: str


def workload_policies(
    ns: WorkloadNamespaces,
    *,
    ingress_namespace: str,
    grafana_ingress: bool,
    events: bool = True,
    egress_settings: Egress | None = None,
    scraped_namespaces: Sequence[str] = (),
    kafka_ports: Sequence[int] = (),
    local_alerting: bool = False,
) -> list[Policy]:
    """A workload's policies: its four namespaces deny ingress (and egress, when
    ``egress_settings`` restricts it) but for the data path. ``scraped_namespaces``: where Alloy
    scrapes and reads pods (``alloy.namespaces``); empty: every namespace. ``kafka_ports``: the
    brokers' ports of Mimir's ingest storage (``mimir.kafka``), wherever the brokers run.
    ``local_alerting``: the local Alertmanager admits Loki's ruler and reaches the receivers."""
    alloy = app("alloy", "alloy", namespace=ns.alloy)
    grafana = app("grafana", "grafana", namespace=ns.grafana)
    # The events collector (a second release of the Alloy chart) writes to the Loki gateway only.
    events_collector = (app("alloy", "alloy-events", namespace=ns.alloy),) if events else ()
    policies = [deny_all(namespace) for namespace in (ns.alloy, ns.mimir, ns.loki, ns.grafana)]
    policies.append(
        Policy(
            "alloy-cluster",
            ns.alloy,
            app("alloy", "alloy"),
            (Rule((app("alloy", "alloy"),), (ALLOY_CLUSTER_PORT,)),),
        )
    )
    if events:
        # Alloy scrapes the events collector's metrics.
        policies.append(
            Policy(
                "alloy-events",
                ns.alloy,
                app("alloy", "alloy-events"),
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
    # Alloy scrapes the stack's own metrics ports (self-monitoring: the hub's alerts read them).
    backends = (
        ("mimir", ns.mimir, (), (GATEWAY_PORT, CACHE_EXPORTER_PORT)),
        ("loki", ns.loki, events_collector, (LOKI_HTTP_PORT, CACHE_EXPORTER_PORT)),
    )
    for backend, namespace, writers, metrics_ports in backends:
        policies.append(Policy(f"{backend}-internal", namespace, Pods(), (Rule((Pods(),)),)))
        policies.append(
            Policy(
                f"{backend}-metrics",
                namespace,
                Pods(not_components=("gateway",)),
                (Rule((alloy,), metrics_ports),),
            )
        )
        policies.append(
            Policy(
                f"{backend}-gateway",
                namespace,
                app(backend, backend, "gateway"),
                (Rule((alloy, *writers, grafana), (GATEWAY_PORT,)),),
            )
        )
    policies.append(webhooks(ns.mimir, "mimir"))
    if local_alerting:
        policies.append(
            Policy(
                "mimir-alertmanager-from-loki",
                ns.mimir,
                app("mimir", "mimir", "alertmanager"),
                (Rule((app("loki", "loki", "backend", namespace=ns.loki),), (MIMIR_HTTP_PORT,)),),
            )
        )
    grafana_sources = [Rule((alloy,), (GRAFANA_PORT,))]
    if grafana_ingress:
        grafana_sources.append(Rule((Pods(namespace=ingress_namespace),), (GRAFANA_PORT,)))
    policies.append(Policy("grafana", ns.grafana, app("grafana", "grafana"), tuple(grafana_sources)))
    if egress_settings is not None and egress_settings.restricted:
        policies += _workload_egress(ns, egress_settings, events, scraped_namespaces, local_alerting)
        policies += kafka_egress(ns.mimir, kafka_ports)
    return policies


def kafka_egress(namespace: str, ports: Sequence[int]) -> list[Policy]:
    """Mimir's pods reach the platform's Kafka brokers on their ports, in the cluster or outside
    it (the inventory names them by host, which a policy cannot select)."""
    if not ports:
        return []
    return [
        egress(
            "mimir-kafka",
            namespace,
            Pods(not_components=("gateway",)),
            Rule((Pods(namespace=ANY_NAMESPACE),), tuple(ports), cidrs=("0.0.0.0/0", "::/0")),
        )
    ]


def _workload_egress(
    ns: WorkloadNamespaces,
    settings: Egress,
    events: bool,
    scraped_namespaces: Sequence[str],
    local_alerting: bool,
) -> list[Policy]:
    api_server = to_addresses(settings.api_server)
    storage = to_addresses(settings.object_storage)
    policies = [p for namespace in (ns.alloy, ns.mimir, ns.loki, ns.grafana) for p in deny_egress(namespace)]
    if scraped_namespaces:
        scraped = tuple(
            Pods(namespace=namespace)
            for namespace in dict.fromkeys((*scraped_namespaces, ns.alloy, ns.mimir, ns.loki, ns.grafana))
        )
    else:
        scraped = (Pods(namespace=ANY_NAMESPACE),)
    gateways = (app("mimir", "mimir", "gateway", ns.mimir), app("loki", "loki", "gateway", ns.loki))
    policies += [
        # Alloy scrapes pods on the ports their annotations name, reads the API (discovery, pod
        # logs, the kubelets through its node proxy, its credential) and writes to the hub.
        egress(
            "alloy",
            ns.alloy,
            app("alloy", "alloy"),
            Rule(scraped),
            api_server,
            to_addresses(settings.control_room),
        ),
        egress(
            "kube-state-metrics",
            ns.alloy,
            app("kube-state-metrics", "kube-state-metrics"),
            api_server,
        ),
        egress("grafana", ns.grafana, app("grafana", "grafana"), Rule(gateways, (GATEWAY_PORT,))),
    ]
    if events:
        policies.append(
            egress(
                "alloy-events",
                ns.alloy,
                app("alloy", "alloy-events"),
                Rule((gateways[1],), (GATEWAY_PORT,)),
                api_server,
            )
        )
    for backend, namespace in (("mimir", ns.mimir), ("loki", ns.loki)):
        policies.append(egress(f"{backend}-internal", namespace, Pods(), Rule((Pods(),))))
        policies.append(
            egress(
                f"{backend}-object-storage",
                namespace,
                Pods(not_components=("gateway",)),
                storage,
            )
        )
    policies.append(egress("mimir-rollout-operator", ns.mimir, _rollout_operator("mimir"), api_server))
    if local_alerting:
        alertmanager = app("mimir", "mimir", "alertmanager")
        policies += [
            egress(
                "loki-ruler-alertmanager",
                ns.loki,
                app("loki", "loki", "backend"),
                Rule((replace(alertmanager, namespace=ns.mimir),), (MIMIR_HTTP_PORT,)),
            ),
            egress("mimir-alertmanager", ns.mimir, alertmanager, to_addresses(settings.notifications)),
        ]
    return policies


def _rollout_operator(release: str) -> Pods:
    return Pods({"app.kubernetes.io/name": "rollout-operator", "app.kubernetes.io/instance": release})


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


def hub_collector_policies(
    *, mimir: str, collector: str, egress_settings: Egress | None = None
) -> list[Policy]:
    """The collector reaches every Mimir pod's metrics port (the gateway's has none), the
    rollout-operator's and its kube-state-metrics'; its own namespace admits only itself (its
    self-scrape) and, to kube-state-metrics, the collector. With egress restricted, it connects to
    those ports and the API server (discovery, the gateway's logs, the kubelets through its
    proxy) only, kube-state-metrics to the API server only."""
    scraper = app("alloy", HUB_COLLECTOR, namespace=collector)
    mimir_pods = Pods(
        {"app.kubernetes.io/name": "mimir", "app.kubernetes.io/instance": "mimir"},
        not_components=("gateway",),
    )
    operator = _rollout_operator("mimir")
    kube_state_metrics = app("kube-state-metrics", "kube-state-metrics")
    policies = [
        deny_all(collector),
        Policy(
            "hub-collector-self",
            collector,
            app("alloy", HUB_COLLECTOR),
            (Rule((app("alloy", HUB_COLLECTOR),), (ALLOY_CLUSTER_PORT,)),),
        ),
        Policy(
            "kube-state-metrics",
            collector,
            kube_state_metrics,
            (Rule((app("alloy", HUB_COLLECTOR),), (KUBE_STATE_METRICS_PORT,)),),
        ),
        Policy("mimir-hub-collector", mimir, mimir_pods, (Rule((scraper,), (GATEWAY_PORT,)),)),
        Policy(
            "mimir-rollout-operator-metrics",
            mimir,
            operator,
            (Rule((scraper,), (ROLLOUT_OPERATOR_METRICS_PORT,)),),
        ),
    ]
    if egress_settings is not None and egress_settings.restricted:
        policies += [
            *deny_egress(collector),
            egress(
                "hub-collector",
                collector,
                app("alloy", HUB_COLLECTOR),
                Rule((Pods(mimir_pods.labels, mimir, mimir_pods.not_components),), (GATEWAY_PORT,)),
                Rule((Pods(operator.labels, mimir),), (ROLLOUT_OPERATOR_METRICS_PORT,)),
                Rule((Pods(kube_state_metrics.labels, collector),), (KUBE_STATE_METRICS_PORT,)),
                to_addresses(egress_settings.api_server),
            ),
            egress(
                "kube-state-metrics",
                collector,
                kube_state_metrics,
                to_addresses(egress_settings.api_server),
            ),
        ]
    return policies


def controlroom_policies(
    *,
    mimir: str,
    grafana: str,
    ingress_namespace: str,
    egress_settings: Egress | None = None,
    kafka_ports: Sequence[int] = (),
    collector: str | None = None,
) -> list[Policy]:
    """The control room's policies: only the gateway reaches the distributor and query-frontend
    (and the hub's ``collector``, for their metrics: ``HTTP_ENTRY_EXCEPTIONS``); with
    ``egress_settings`` restricting egress, Mimir reaches only itself, object storage and (its
    Alertmanager) the receivers, Grafana only the gateway."""
    gateway = app("mimir", "mimir", "gateway")
    if collector is not None:
        collector_policies = hub_collector_policies(
            mimir=mimir, collector=collector, egress_settings=egress_settings
        )
    else:
        collector_policies = []
    policies = [
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
    if egress_settings is not None and egress_settings.restricted:
        policies += [
            *deny_egress(mimir),
            *deny_egress(grafana),
            egress("mimir-internal", mimir, Pods(), Rule((Pods(),))),
            egress(
                "mimir-object-storage",
                mimir,
                Pods(not_components=("gateway",)),
                to_addresses(egress_settings.object_storage),
            ),
            egress(
                "mimir-rollout-operator",
                mimir,
                _rollout_operator("mimir"),
                to_addresses(egress_settings.api_server),
            ),
            egress(
                "mimir-alertmanager",
                mimir,
                app("mimir", "mimir", "alertmanager"),
                to_addresses(egress_settings.notifications),
            ),
            # Grafana queries the gateway; its dashboards sidecar watches ConfigMaps in the API
            # (Mimir's own dashboards). A policy cannot tell the containers of a pod apart.
            egress(
                "grafana",
                grafana,
                app("grafana", "grafana"),
                Rule((app("mimir", "mimir", "gateway", mimir),), (GATEWAY_PORT,)),
                to_addresses(egress_settings.api_server),
            ),
            *kafka_egress(mimir, kafka_ports),
        ]
    return policies


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
