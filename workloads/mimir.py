"""The workload's own Mimir (mimir-distributed), storing blocks in the workload's bucket; with local
alerting on, its ruler and Alertmanager run on the files ``workloads.alerting`` ships."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi

from fleet.inventory.models import LocalAlerting, MimirSettings
from kit.alerting.mimir import shipped_stores
from kit.charts import gateway_url, grafana_chart, hours, merged
from kit.mimir import architecture, pod_labels, storage_config
from kit.sizing import Sizing, mimir_resources
from kit.storage import BucketBinding
from workloads.alerting import mimir_alerting_values

RELEASE = "mimir"
SERVICE_ACCOUNT = "mimir"


@dataclass(frozen=True)
class MimirArgs:
    version: str
    repository: str
    """Where the chart is published (``spec.charts`` in fleet.yaml)."""
    namespace: pulumi.Input[str]
    settings: MimirSettings
    storage: BucketBinding
    sizing: Sizing = field(default_factory=Sizing)
    alerting: LocalAlerting = field(default_factory=LocalAlerting)
    """The workload's ``spec.alerting``: when enabled, the ruler and Alertmanager run on shipped files."""
    depends_on: tuple[pulumi.Resource, ...] = ()
    """The rule and Alertmanager ConfigMaps (and receivers' Secret) the pods mount."""
    archive: str | None = None
    """The chart's cached archive (an absolute path) when the deploying engine installs from
    fleet's chart cache; None: from ``repository``."""


def mimir_values(args: MimirArgs) -> dict[str, Any]:
    """The chart values: single tenant, one bucket split by prefix, the spec's replicas and
    retention, the classic write path unless the spec names a Kafka; with local alerting, the
    ruler and Alertmanager on local stores (the shipped files) instead of the bucket."""
    alerting = args.alerting.enabled
    replicas = args.settings.replicas
    replication = min(3, replicas)
    architecture_values, architecture_config = architecture(args.settings.kafka)
    values: dict[str, Any] = {
        "fullnameOverride": RELEASE,
        "serviceAccount": {
            "create": True,
            "name": SERVICE_ACCOUNT,
            "annotations": args.storage.service_account_annotations,
        },
        "minio": {"enabled": False},
        **architecture_values,
        "alertmanager": {"enabled": alerting},
        "ingester": {
            "replicas": replicas,
            "zoneAwareReplication": {"enabled": False},
        },
        "distributor": {"replicas": replicas},
        # The in-cluster entry point Alloy writes through: as many as the distributors.
        "gateway": {"replicas": replicas},
        "store_gateway": {
            "replicas": replication,
            "zoneAwareReplication": {"enabled": False},
        },
        "mimir": {
            "structuredConfig": {
                # Only this workload writes here (Alloy, in-cluster): one tenant, no org header.
                "multitenancy_enabled": False,
                **storage_config(args.storage),
                **(shipped_stores() if alerting else {}),
                **architecture_config,
                "ingester": {
                    **architecture_config.get("ingester", {}),
                    "ring": {"replication_factor": replication},
                },
                "store_gateway": {"sharding_ring": {"replication_factor": replication}},
                # Mimir's defaults (150k series, 10k samples/s) drop most of a mid-size cluster's
                # samples: a 4xx is not retried. Every series of the cluster lands here.
                "limits": {
                    "compactor_blocks_retention_period": hours(args.settings.retention),
                    "max_global_series_per_user": args.settings.limits.series,
                    "ingestion_rate": args.settings.limits.samples_per_second,
                    "ingestion_burst_size": args.settings.limits.burst,
                },
            }
        },
    }
    if alerting:
        values = merged(values, mimir_alerting_values(args.alerting, replication))
    resources = mimir_resources(args.sizing, disabled=() if alerting else ("mimir-alertmanager",))
    return merged(merged(values, resources), pod_labels(args.storage))


class Mimir(pulumi.ComponentResource):
    """Mimir for one workload: the local metrics store Alloy writes to and Grafana reads."""

    push_url: pulumi.Output[str]
    """Where Alloy writes: ``http://mimir-gateway.<namespace>.svc.cluster.local/api/v1/push``."""
    query_url: pulumi.Output[str]
    """The Prometheus API Grafana reads: ``.../prometheus``."""
    alertmanager_url: pulumi.Output[str]
    """The gateway's root, for Grafana's Alertmanager datasource: the chart's gateway sends
    Mimir's Alertmanager prefix (``/alertmanager``, and ``/api/v1/alerts``) to the Alertmanager."""

    def __init__(self, name: str, args: MimirArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("fleet:workload:Mimir", name, None, opts)
        base = pulumi.Output.from_input(args.namespace).apply(lambda ns: gateway_url(RELEASE, ns))
        self.push_url = base.apply(lambda url: f"{url}/api/v1/push")
        self.query_url = base.apply(lambda url: f"{url}/prometheus")
        self.alertmanager_url = base
        self.chart = grafana_chart(
            f"{name}-chart",
            release=RELEASE,
            chart="mimir-distributed",
            version=args.version,
            repository=args.repository,
            archive=args.archive,
            namespace=args.namespace,
            values=mimir_values(args),
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on)),
        )
        self.register_outputs(
            {
                "push_url": self.push_url,
                "query_url": self.query_url,
                "alertmanager_url": self.alertmanager_url,
            }
        )
