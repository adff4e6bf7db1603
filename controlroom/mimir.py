"""The central Mimir: the ``mimir-distributed`` chart on object storage, behind an nginx gateway
that authenticates every request and derives the tenant from the authenticated user (its
configuration: :mod:`controlroom.gateway`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from controlroom.alerting import ruler_alertmanager_values
from controlroom.credentials import HTPASSWD_SECRET, READER_HTPASSWD_SECRET, ROTATION_HTPASSWD_SECRET
from controlroom.gateway import READER_HTPASSWD_DIR, RELEASE, ROTATION_HTPASSWD_DIR, gateway_nginx_config
from fleet.inventory.models import Alerting, ControlRoom, MetricLimits
from kit.alerting.mimir import shipped_stores
from kit.charts import chart_source, gateway_url, merged
from kit.mimir import architecture, pod_labels, storage_config
from kit.sizing import Sizing, mimir_resources
from kit.storage import BucketBinding

CHART = "mimir-distributed"
NAMESPACE = "mimir"
SERVICE_ACCOUNT = "mimir"
INGRESS_TLS_SECRET = "mimir-gateway-tls"
"""The TLS Secret cert-manager fills for the gateway's Ingress (unless the inventory names one)."""
CLUSTER_ISSUER_ANNOTATION = "cert-manager.io/cluster-issuer"
ISSUER_ANNOTATION = "cert-manager.io/issuer"


def ingress_values(room: ControlRoom) -> dict[str, Any]:
    """The gateway's Ingress for ``mimir.<domain>`` and where its certificate comes from."""
    host = f"mimir.{room.domain}"
    tls = room.tls
    annotations: dict[str, str] = {}
    secret = INGRESS_TLS_SECRET
    if tls is not None and tls.secret is not None:
        secret = tls.secret
    elif tls is not None and tls.cluster_issuer is not None:
        annotations[CLUSTER_ISSUER_ANNOTATION] = tls.cluster_issuer
    elif tls is not None and tls.issuer is not None:
        annotations[ISSUER_ANNOTATION] = tls.issuer
    ingress: dict[str, Any] = {
        "enabled": True,
        "annotations": annotations,
        "hosts": [{"host": host, "paths": [{"path": "/", "pathType": "Prefix"}]}],
        "tls": [{"secretName": secret, "hosts": [host]}],
    }
    if tls is not None and tls.ingress_class is not None:
        ingress["ingressClassName"] = tls.ingress_class
    return ingress


def tenant_overrides(tenant_limits: Mapping[str, MetricLimits]) -> dict[str, dict[str, int]]:
    """Mimir's runtime ``overrides``: each workload's tenant limits (its ``central.limits``).

    Mimir reloads the runtime configuration every 10 s: a changed limit needs no restart.
    """
    return {
        tenant: {
            "max_global_series_per_user": limits.series,
            "ingestion_rate": limits.samples_per_second,
            "ingestion_burst_size": limits.burst,
        }
        for tenant, limits in sorted(tenant_limits.items())
    }


def mimir_values(
    room: ControlRoom,
    storage: BucketBinding,
    alerting: Alerting,
    tenant_limits: Mapping[str, MetricLimits] | None = None,
    sizing: Sizing | None = None,
    dashboards_namespace: str | None = None,
) -> dict[str, Any]:
    """The chart values for the central Mimir, on ``storage`` as its cloud identity, with the
    ruler and Alertmanager on the files :mod:`controlroom.alerting` ships, each workload's
    tenant limits as runtime overrides, and the chart's own dashboards (its mixin's) as
    ConfigMaps in ``dashboards_namespace``, where the control room's Grafana loads them."""
    replicas = room.mimir.replicas
    zone_aware = replicas >= 3
    default_limits = MetricLimits()
    architecture_values, architecture_config = architecture(room.mimir.kafka)
    values: dict[str, Any] = {
        "minio": {"enabled": False},
        **architecture_values,
        "serviceAccount": {
            "create": True,
            "name": SERVICE_ACCOUNT,
            "annotations": storage.service_account_annotations,
        },
        "runtimeConfig": {"overrides": tenant_overrides(tenant_limits or {})},
        "mimir": {
            "structuredConfig": {
                "multitenancy_enabled": True,
                "tenant_federation": {"enabled": True},
                # Blocks on the bucket; the ruler's and Alertmanager's stores are shipped files.
                **storage_config(storage),
                **shipped_stores(),
                **architecture_config,
                # Every tenant's limits: the workloads' are runtime overrides; these hold for any
                # other (the control room's own rules).
                "limits": {
                    "compactor_blocks_retention_period": room.mimir.retention,
                    "max_global_series_per_user": default_limits.series,
                    "ingestion_rate": default_limits.samples_per_second,
                    "ingestion_burst_size": default_limits.burst,
                },
                "ingester": {
                    **architecture_config.get("ingester", {}),
                    "ring": {"replication_factor": min(3, replicas)},
                },
            }
        },
        "ingester": {"replicas": replicas, "zoneAwareReplication": {"enabled": zone_aware}},
        "store_gateway": {"zoneAwareReplication": {"enabled": zone_aware}},
        "distributor": {"replicas": max(2, min(replicas, 10))},
        "gateway": {
            "replicas": max(2, min(replicas, 10)),
            "nginx": {
                "basicAuth": {"enabled": True, "existingSecret": HTPASSWD_SECRET},
                "config": {"file": gateway_nginx_config(room.gateway, NAMESPACE)},
            },
            "extraVolumes": [
                {
                    "name": "reader-htpasswd",
                    "secret": {"secretName": READER_HTPASSWD_SECRET},
                },
                {
                    "name": "rotation-htpasswd",
                    "secret": {"secretName": ROTATION_HTPASSWD_SECRET},
                },
            ],
            "extraVolumeMounts": [
                {"name": "reader-htpasswd", "mountPath": READER_HTPASSWD_DIR, "readOnly": True},
                {"name": "rotation-htpasswd", "mountPath": ROTATION_HTPASSWD_DIR, "readOnly": True},
            ],
            "ingress": ingress_values(room),
        },
    }
    if dashboards_namespace is not None:
        # Labelled grafana_dashboard: "1" and annotated with their folder by the chart.
        values["metaMonitoring"] = {"dashboards": {"enabled": True, "namespace": dashboards_namespace}}
    values = merged(values, ruler_alertmanager_values(alerting))
    return merged(merged(values, mimir_resources(sizing or Sizing())), pod_labels(storage))


@dataclass(frozen=True)
class MimirArgs:
    control_room: ControlRoom
    version: str
    """mimir-distributed chart version, from the fleet's version set."""
    repository: str
    """Where the chart is published (``spec.charts`` in fleet.yaml)."""
    namespace: pulumi.Input[str]
    storage: BucketBinding
    """The central Mimir's bucket and the identity its pods use (from ``kit.storage``)."""
    alerting: Alerting
    """``spec.alerting``: the Alertmanager's receivers (their secrets' volume)."""
    tenant_limits: Mapping[str, MetricLimits] = field(default_factory=dict)
    """Each workload's limits in the central Mimir."""
    sizing: Sizing = field(default_factory=Sizing)
    dashboards_namespace: str | None = None
    """Where the chart's dashboards go (the control room's Grafana's namespace); None: none."""
    depends_on: tuple[pulumi.Resource, ...] = ()
    """The htpasswd Secrets the gateway mounts, the rule and Alertmanager ConfigMaps, the
    dashboards' namespace."""
    archive: str | None = None
    """The chart's cached archive (an absolute path) when the deploying engine installs from
    fleet's chart cache; None: from ``repository``."""


class Mimir(pulumi.ComponentResource):
    """The central Mimir release."""

    chart: k8s.helm.v4.Chart
    gateway_url: pulumi.Output[str]
    """In-cluster base URL of the gateway."""

    def __init__(self, name: str, args: MimirArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("fleet:controlroom:Mimir", name, None, opts)
        self.chart = k8s.helm.v4.Chart(
            f"{name}-chart",
            name=RELEASE,
            version=args.version,
            **chart_source(CHART, args.repository, args.archive),
            namespace=args.namespace,
            values=mimir_values(
                args.control_room,
                args.storage,
                args.alerting,
                args.tenant_limits,
                args.sizing,
                args.dashboards_namespace,
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on)),
        )
        self.gateway_url = pulumi.Output.from_input(args.namespace).apply(lambda ns: gateway_url(RELEASE, ns))
        self.register_outputs({"gateway_url": self.gateway_url})
