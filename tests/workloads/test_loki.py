"""The workload's Loki."""

from __future__ import annotations

from collections.abc import Callable

import pulumi
from pulumi_harness import FleetMocks

from fleet.inventory.models import GRAFANA_REPOSITORY, LokiSettings
from kit.storage import BucketBinding
from workloads.loki import SCHEMA_START, Loki, LokiArgs, loki_values


def azure_binding() -> BucketBinding:
    return BucketBinding(
        backend="azure",
        bucket=pulumi.Output.from_input("loki"),
        region="westeurope",
        service_account_annotations=pulumi.Output.from_input({"azure.workload.identity/client-id": "c1"}),
        pod_labels={"azure.workload.identity/use": "true"},
        storage_account=pulumi.Output.from_input("webaccount"),
    )


def test_gateway_urls(pulumi_runtime: Callable[..., FleetMocks]) -> None:
    pulumi_runtime()

    @pulumi.runtime.test
    def declare() -> pulumi.Output[None]:
        loki = Loki("loki", LokiArgs("6.46.0", GRAFANA_REPOSITORY, "logs", LokiSettings(), azure_binding()))

        def check(urls: list[str]) -> None:
            assert urls == [
                "http://loki-gateway.logs.svc.cluster.local/loki/api/v1/push",
                "http://loki-gateway.logs.svc.cluster.local",
            ]

        return pulumi.Output.all(loki.push_url, loki.query_url).apply(check)

    declare()


def test_values_tsdb_v13_retention_in_days(pulumi_runtime: Callable[..., FleetMocks]) -> None:
    mocks = pulumi_runtime()

    @pulumi.runtime.test
    def declare() -> None:
        Loki(
            "loki",
            LokiArgs("6.46.0", GRAFANA_REPOSITORY, "loki", LokiSettings(retention="36h"), azure_binding()),
        )

    declare()
    (chart,) = [r.inputs for r in mocks.resources if r.type == "kubernetes:helm.sh/v4:Chart"]
    loki = chart["values"]["loki"]
    assert loki["schemaConfig"]["configs"] == [
        {
            "from": SCHEMA_START,
            "store": "tsdb",
            "object_store": "azure",
            "schema": "v13",
            "index": {"prefix": "index_", "period": "24h"},
        }
    ]
    # 36h rounds up to whole days of the 24h index period.
    assert loki["limits_config"]["retention_period"] == "48h"
    # Above Loki's defaults (4 MB/s, 5,000 streams), which drop a busy cluster's logs.
    assert loki["limits_config"]["ingestion_rate_mb"] == 16
    assert loki["limits_config"]["ingestion_burst_size_mb"] == 32
    assert loki["limits_config"]["max_global_streams_per_user"] == 50_000
    assert loki["limits_config"]["per_stream_rate_limit"] == "5MB"
    assert loki["compactor"] == {"retention_enabled": True, "delete_request_store": "azure"}
    assert loki["storage"]["bucketNames"]["chunks"] == "loki"
    assert loki["auth_enabled"] is False
    assert loki["podLabels"] == {"azure.workload.identity/use": "true"}


def test_replication_follows_replicas(pulumi_runtime: Callable[..., FleetMocks]) -> None:
    pulumi_runtime()

    @pulumi.runtime.test
    def check() -> None:
        one = loki_values(
            LokiArgs("6.46.0", GRAFANA_REPOSITORY, "loki", LokiSettings(replicas=1), azure_binding())
        )
        five = loki_values(
            LokiArgs("6.46.0", GRAFANA_REPOSITORY, "loki", LokiSettings(replicas=5), azure_binding())
        )
        assert one["loki"]["commonConfig"]["replication_factor"] == 1
        assert five["loki"]["commonConfig"]["replication_factor"] == 3
        assert five["write"]["replicas"] == 5

    check()
