"""The workload's Loki (simple scalable mode): TSDB index, schema v13, the workload's bucket; with
local log alerting on, its ruler runs the rules ``workloads.alerting`` ships."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pulumi

from fleet.inventory.models import LokiSettings
from kit.charts import gateway_url, grafana_chart, hours, merged
from kit.security import SECCOMP
from kit.sizing import SIDECAR, Sizing
from kit.storage import BucketBinding
from workloads.alerting import loki_ruler_values

RELEASE = "loki"
SERVICE_ACCOUNT = "loki"
CHUNKS_CACHE_MB_PER_REPLICA = 512
"""Memcached memory for recent chunks, per write replica (the chart's default is 8192 MB, a
9830Mi request, whatever the size of the workload)."""
RESULTS_CACHE_MB_PER_REPLICA = 128
"""Memcached memory for query results, per read replica (the chart's default: 1024 MB)."""
SCHEMA_START = "2024-04-01"
"""When the v13/TSDB schema period starts. Never change it: Loki finds old chunks by it."""


@dataclass(frozen=True)
class LokiArgs:
    version: str
    repository: str
    """Where the chart is published (``spec.charts`` in fleet.yaml)."""
    namespace: pulumi.Input[str]
    settings: LokiSettings
    storage: BucketBinding
    sizing: Sizing = field(default_factory=Sizing)
    ruler_alertmanager_namespace: str | None = None
    """With local log alerting: the namespace of the Mimir whose Alertmanager gets Loki's alerts
    (the ruler runs the shipped log rules); None: the ruler has no rules."""
    depends_on: tuple[pulumi.Resource, ...] = ()
    """The log rules' ConfigMap the backend pods mount."""
    archive: str | None = None
    """The chart's cached archive (an absolute path) when the deploying engine installs from
    fleet's chart cache; None: from ``repository``."""


def _storage(storage: BucketBinding) -> dict[str, Any]:
    buckets = {"chunks": storage.bucket, "ruler": storage.bucket, "admin": storage.bucket}
    if storage.backend == "s3":
        return {"type": "s3", "bucketNames": buckets, "s3": {"region": storage.region}}
    return {
        "type": "azure",
        "bucketNames": buckets,
        "azure": {"accountName": storage.storage_account, "useFederatedToken": True},
    }


def _cache(megabytes: int) -> dict[str, Any]:
    """A memcached of ``megabytes``: the chart's own memory rule (1.2 times the cache, request
    and limit) spelled out, plus the CPU the chart leaves unset."""
    memory = f"{math.ceil(megabytes * 1.2)}Mi"
    return {
        "allocatedMemory": megabytes,
        "resources": {
            "requests": {"cpu": "100m", "memory": memory},
            "limits": {"cpu": "1000m", "memory": memory},
        },
    }


def loki_values(args: LokiArgs) -> dict[str, Any]:
    """The chart values: TSDB + v13 on object storage, compactor-enforced retention, replicas,
    and the ruler on the shipped log rules when local log alerting is on."""
    values = _values(args)
    if args.ruler_alertmanager_namespace is not None:
        values = merged(values, loki_ruler_values(args.ruler_alertmanager_namespace))
    return values


def _values(args: LokiArgs) -> dict[str, Any]:
    replicas = args.settings.replicas
    backend = args.storage.backend
    limits = args.settings.limits
    sizing = args.sizing
    return {
        "fullnameOverride": RELEASE,
        "deploymentMode": "SimpleScalable",
        "serviceAccount": {
            "create": True,
            "name": SERVICE_ACCOUNT,
            "annotations": args.storage.service_account_annotations,
        },
        "loki": {
            # Only this workload's Alloy writes here: one tenant, no org header.
            "auth_enabled": False,
            "podLabels": args.storage.pod_labels,
            # The chart's contexts are restricted but for seccomp (merged into its defaults).
            "podSecurityContext": {"seccompProfile": dict(SECCOMP)},
            "commonConfig": {"replication_factor": min(3, replicas)},
            "schemaConfig": {
                "configs": [
                    {
                        "from": SCHEMA_START,
                        "store": "tsdb",
                        "object_store": backend,
                        "schema": "v13",
                        "index": {"prefix": "index_", "period": "24h"},
                    }
                ]
            },
            "storage": _storage(args.storage),
            # Retention is enforced by the compactor, in whole days of the 24h index period.
            # Loki's defaults (4 MB/s, 5,000 streams) make Alloy drop a busy cluster's logs after
            # its retries.
            "limits_config": {
                "retention_period": hours(args.settings.retention, multiple=24),
                "ingestion_rate_mb": limits.megabytes_per_second,
                "ingestion_burst_size_mb": 2 * limits.megabytes_per_second,
                "max_global_streams_per_user": limits.streams,
                "per_stream_rate_limit": f"{limits.stream_megabytes_per_second}MB",
                "per_stream_rate_limit_burst": f"{4 * limits.stream_megabytes_per_second}MB",
            },
            "compactor": {"retention_enabled": True, "delete_request_store": backend},
        },
        # No Role or ClusterRole at all: the chart's only rules are the rules sidecar's (off,
        # below); cluster-wide it would still bind an empty ClusterRole to Loki.
        "rbac": {"namespaced": True},
        "write": {"replicas": replicas, "resources": sizing.resources("loki-write")},
        "read": {"replicas": replicas, "resources": sizing.resources("loki-read")},
        "backend": {"replicas": replicas, "resources": sizing.resources("loki-backend")},
        "gateway": {
            "replicas": replicas,
            "resources": sizing.resources("loki-gateway"),
            "podSecurityContext": {"seccompProfile": dict(SECCOMP)},
        },
        # Sized by the workload: a one-replica Loki gets a small cache, not the chart's 8 GB. The
        # chart requests 1.2 times the cache's size as memory, and sets the same as its limit.
        "chunksCache": _cache(CHUNKS_CACHE_MB_PER_REPLICA * replicas),
        "resultsCache": _cache(RESULTS_CACHE_MB_PER_REPLICA * replicas),
        "memcached": {"podSecurityContext": {"seccompProfile": dict(SECCOMP)}},
        "memcachedExporter": {"resources": SIDECAR.values()},
        # The ruler reads the rules mounted from a ConfigMap (Loki's `local` rule store), so the
        # chart's rules sidecar, which watches ConfigMaps and Secrets through the API, stays off.
        "sidecar": {"rules": {"enabled": False}},
        "minio": {"enabled": False},
        "lokiCanary": {"enabled": False},
        "test": {"enabled": False},
    }


class Loki(pulumi.ComponentResource):
    """Loki for one workload: where its logs stay (they never leave the workload)."""

    push_url: pulumi.Output[str]
    """Where Alloy writes: ``http://loki-gateway.<namespace>.svc.cluster.local/loki/api/v1/push``."""
    query_url: pulumi.Output[str]
    """The base URL Grafana's Loki datasource reads."""

    def __init__(self, name: str, args: LokiArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("fleet:workload:Loki", name, None, opts)
        self.query_url = pulumi.Output.from_input(args.namespace).apply(lambda ns: gateway_url(RELEASE, ns))
        self.push_url = self.query_url.apply(lambda url: f"{url}/loki/api/v1/push")
        self.chart = grafana_chart(
            f"{name}-chart",
            release=RELEASE,
            chart="loki",
            version=args.version,
            repository=args.repository,
            archive=args.archive,
            namespace=args.namespace,
            values=loki_values(args),
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on)),
        )
        self.register_outputs({"push_url": self.push_url, "query_url": self.query_url})
