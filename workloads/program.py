"""The workload ("spoke") program: Alloy, Mimir, Loki and Grafana on one workload cluster.

Metrics are written twice by Alloy (the local Mimir, the control room's Mimir); logs go to the
local Loki only; Grafana reads the local Mimir and Loki (and, with local alerting, the local
Mimir's Alertmanager). The workload's password for the control
room is an argument of the program (``credential``, a secret Output), straight into a Secret:
fleet runs the program inline, in the engine's own process, and hands it the control room's
output for this workload alone, read right before each run. The program reads no stack
configuration for it and references no other stack, so nothing on disk but the workload's own
(encrypted) state holds its password, and no other workload's.

The workload's ``spec.cluster`` says how to find the cluster's OIDC issuer for IRSA / workload
identity: ``oidc_issuer`` outright, or looked up by ``name`` (default: the workload's name) and, on
Azure, ``resource_group`` (default: ``fleet-<fleet>-<workload>``).
"""

from __future__ import annotations

from collections.abc import Mapping

import pulumi

from fleet.inventory.models import WorkloadStack
from kit.charts import chart_pin
from kit.namespaces import Namespaces, NamespacesArgs, NamespaceSpec
from kit.network import WorkloadNamespaces, network_policies, workload_policies
from kit.provider import kubernetes_provider
from kit.sizing import stack_sizing
from kit.storage import ClusterIdentity, StorageArgs, StorageUser, object_storage
from workloads import loki as loki_module
from workloads import mimir as mimir_module
from workloads.alerting import LocalAlertingArgs, WorkloadAlerting
from workloads.alloy import Alloy, AlloyArgs
from workloads.alloy_events import SELECTOR as EVENTS_SELECTOR
from workloads.alloy_events import AlloyEvents, AlloyEventsArgs
from workloads.grafana import Grafana, GrafanaArgs
from workloads.kube_state_metrics import KubeStateMetrics, KubeStateMetricsArgs
from workloads.loki import Loki, LokiArgs
from workloads.mimir import Mimir, MimirArgs

ALLOY_NAMESPACE = "alloy"
MIMIR_NAMESPACE = "mimir"
LOKI_NAMESPACE = "loki"
GRAFANA_NAMESPACE = "grafana"


def cluster_identity(spec: WorkloadStack) -> ClusterIdentity:
    """Where the workload cluster's OIDC issuer comes from, per its ``spec.cluster``."""
    name = spec.workload.name
    cluster = spec.workload.spec.cluster
    return ClusterIdentity(
        cluster_name=cluster.name or name,
        oidc_issuer=cluster.oidc_issuer,
        resource_group=cluster.resource_group or f"fleet-{spec.fleet}-{name}",
    )


def workload_program(
    spec: WorkloadStack, credential: pulumi.Input[str], archives: Mapping[str, str] | None = None
) -> None:
    """Declare one workload's observability stack; run inside a Pulumi program context.

    ``credential``: the workload's password for the control room (its ``credential-<workload>``
    output, handed in by the engine); the Secret holding it is marked secret whatever the caller
    passes.

    ``archives``: per component (``mimir``, ``loki``, ``grafana``, ``alloy``), the local chart
    archive to install it from (the Pulumi engine passes fleet's cached, checked archives);
    a component not named installs from its repository (``spec.charts``).
    """
    archives = archives or {}
    workload = spec.workload
    name = workload.name
    settings = workload.spec

    sizing = stack_sizing(settings.size, settings.resources)
    cluster = kubernetes_provider("cluster", settings.cluster)
    on_cluster = pulumi.ResourceOptions(provider=cluster)

    namespaces = Namespaces(
        "namespaces",
        NamespacesArgs(
            workload=name,
            namespaces=(
                # Alloy reads the node's /, /proc, /sys (and journal) from hostPath volumes, which
                # only "privileged" admits.
                NamespaceSpec(ALLOY_NAMESPACE, "privileged"),
                NamespaceSpec(MIMIR_NAMESPACE),
                NamespaceSpec(LOKI_NAMESPACE),
                NamespaceSpec(GRAFANA_NAMESPACE),
            ),
        ),
        opts=on_cluster,
    )

    storage = object_storage(
        "storage",
        StorageArgs(
            fleet=spec.fleet,
            owner=name,
            account=settings,
            cluster=cluster_identity(spec),
            users=(
                StorageUser("mimir", MIMIR_NAMESPACE, mimir_module.SERVICE_ACCOUNT),
                StorageUser("loki", LOKI_NAMESPACE, loki_module.SERVICE_ACCOUNT),
            ),
            tags={"fleet": spec.fleet, "workload": name, "managed-by": "fleet"},
        ),
    )

    # Local alerting (off by default): rules on the workload's own Mimir and Loki, its own receivers.
    local_alerting = settings.alerting
    alerting_resources: tuple[pulumi.Resource, ...] = ()
    if local_alerting.enabled:
        alerting = WorkloadAlerting(
            "alerting",
            LocalAlertingArgs(
                workload=name,
                alerting=local_alerting,
                thresholds=spec.thresholds,
                mimir_namespace=namespaces.names[MIMIR_NAMESPACE],
                loki_namespace=namespaces.names[LOKI_NAMESPACE],
                pipeline_namespaces=(ALLOY_NAMESPACE, MIMIR_NAMESPACE, LOKI_NAMESPACE, GRAFANA_NAMESPACE),
                system_logs=settings.alloy.system_logs,
            ),
            opts=on_cluster,
        )
        alerting_resources = tuple(alerting.resources)
    log_alerting = local_alerting.enabled and local_alerting.logs

    mimir = Mimir(
        "mimir",
        MimirArgs(
            **chart_pin(spec, archives, "mimir"),
            namespace=namespaces.names[MIMIR_NAMESPACE],
            settings=settings.mimir,
            storage=storage.bindings["mimir"],
            sizing=sizing,
            alerting=local_alerting,
            depends_on=alerting_resources,
        ),
        opts=on_cluster,
    )
    loki = Loki(
        "loki",
        LokiArgs(
            **chart_pin(spec, archives, "loki"),
            namespace=namespaces.names[LOKI_NAMESPACE],
            settings=settings.loki,
            storage=storage.bindings["loki"],
            sizing=sizing,
            ruler_alertmanager_namespace=MIMIR_NAMESPACE if log_alerting else None,
            depends_on=alerting_resources if log_alerting else (),
        ),
        opts=on_cluster,
    )
    grafana = Grafana(
        "grafana",
        GrafanaArgs(
            **chart_pin(spec, archives, "grafana"),
            namespace=namespaces.names[GRAFANA_NAMESPACE],
            settings=settings.grafana,
            mimir_url=mimir.query_url,
            loki_url=loki.query_url,
            # The local Alertmanager runs only with local alerting.
            alertmanager_url=mimir.alertmanager_url if local_alerting.enabled else None,
            workload=workload.name,
            sizing=sizing,
        ),
        opts=on_cluster,
    )

    # The DaemonSet and the events collector: two releases of one chart in one namespace.
    alloy_pin = chart_pin(spec, archives, "alloy")
    alloy_namespace = namespaces.names[ALLOY_NAMESPACE]
    Alloy(
        "alloy",
        AlloyArgs(
            **alloy_pin,
            namespace=alloy_namespace,
            workload=name,
            settings=settings.alloy,
            central=settings.central,
            central_push_url=spec.push_url,
            central_password=credential,  # Alloy stores it as a secret
            local_metrics_url=mimir.push_url,
            local_logs_url=loki.push_url,
            stack_namespaces=(MIMIR_NAMESPACE, LOKI_NAMESPACE, GRAFANA_NAMESPACE),
            sizing=sizing,
            events_collector_selector=EVENTS_SELECTOR if settings.alloy.events else None,
        ),
        opts=on_cluster,
    )

    if settings.alloy.events:
        AlloyEvents(
            "alloy-events",
            AlloyEventsArgs(
                **alloy_pin,
                namespace=alloy_namespace,
                workload=name,
                local_logs_url=loki.push_url,
                namespaces=tuple(settings.alloy.namespaces),
                sizing=sizing,
            ),
            opts=on_cluster,
        )
    KubeStateMetrics(
        "kube-state-metrics",
        KubeStateMetricsArgs(namespace=alloy_namespace, sizing=sizing),
        opts=on_cluster,
    )
    network_policies(
        "network",
        workload_policies(
            WorkloadNamespaces(ALLOY_NAMESPACE, MIMIR_NAMESPACE, LOKI_NAMESPACE, GRAFANA_NAMESPACE),
            ingress_namespace=settings.cluster.ingress_namespace,
            grafana_ingress=settings.grafana.hostname is not None,
            events=settings.alloy.events,
            egress_settings=settings.cluster.egress,
            scraped_namespaces=tuple(settings.alloy.namespaces),
            kafka_ports=settings.mimir.kafka.ports() if settings.mimir.kafka else (),
            local_alerting=local_alerting.enabled,
        ),
        pulumi.ResourceOptions(provider=cluster, depends_on=[namespaces]),
    )

    pulumi.export("workload", name)
    pulumi.export("versions", spec.versions.model_dump())
    pulumi.export("local_metrics_url", mimir.push_url)
    pulumi.export("local_logs_url", loki.push_url)
    pulumi.export("grafana_url", grafana.url)
    pulumi.export("grafana_admin_password", grafana.admin_password)
