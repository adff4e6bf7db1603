"""The workload's local Mimir."""

from __future__ import annotations

from collections.abc import Callable

import pulumi
from pulumi_harness import FleetMocks

from fleet.inventory.models import GRAFANA_REPOSITORY, MimirSettings
from kit.storage import BucketBinding
from workloads.mimir import Mimir, MimirArgs, mimir_values


def s3_binding() -> BucketBinding:
    return BucketBinding(
        backend="s3",
        bucket=pulumi.Output.from_input("web-mimir-0123456789"),
        region="eu-west-1",
        service_account_annotations=pulumi.Output.from_input({"eks.amazonaws.com/role-arn": "arn:x"}),
        pod_labels={},
    )


def test_gateway_urls(pulumi_runtime: Callable[..., FleetMocks]) -> None:
    pulumi_runtime()

    @pulumi.runtime.test
    def declare() -> pulumi.Output[None]:
        mimir = Mimir(
            "mimir", MimirArgs("6.0.0", GRAFANA_REPOSITORY, "metrics", MimirSettings(), s3_binding())
        )

        def check(urls: list[str]) -> None:
            assert urls == [
                "http://mimir-gateway.metrics.svc.cluster.local/api/v1/push",
                "http://mimir-gateway.metrics.svc.cluster.local/prometheus",
            ]

        return pulumi.Output.all(mimir.push_url, mimir.query_url).apply(check)

    declare()


def test_values_single_tenant_on_the_bucket(pulumi_runtime: Callable[..., FleetMocks]) -> None:
    mocks = pulumi_runtime()

    @pulumi.runtime.test
    def declare() -> None:
        Mimir(
            "mimir",
            MimirArgs(
                "6.0.0", GRAFANA_REPOSITORY, "mimir", MimirSettings(replicas=2, retention="90d"), s3_binding()
            ),
        )

    declare()
    (chart,) = [r.inputs for r in mocks.resources if r.type == "kubernetes:helm.sh/v4:Chart"]
    assert (chart["chart"], chart["version"], chart["namespace"]) == ("mimir-distributed", "6.0.0", "mimir")
    values = chart["values"]
    config = values["mimir"]["structuredConfig"]
    assert config["multitenancy_enabled"] is False
    assert "common" not in config  # every store names its own backend (the chart sets blocks' to s3)
    assert config["blocks_storage"] == {
        "storage_prefix": "blocks",
        "backend": "s3",
        "s3": {
            "bucket_name": "web-mimir-0123456789",
            "endpoint": "s3.eu-west-1.amazonaws.com",
            "region": "eu-west-1",
        },
    }
    prefixes = {
        config[key]["storage_prefix"] for key in ("blocks_storage", "ruler_storage", "alertmanager_storage")
    }
    assert len(prefixes) == 3
    assert config["limits"]["compactor_blocks_retention_period"] == "2160h"
    # Above Mimir's defaults (150k series, 10k samples/s), which drop a mid-size cluster's samples.
    assert config["limits"]["max_global_series_per_user"] == 2_000_000
    assert config["limits"]["ingestion_rate"] == 200_000
    assert config["limits"]["ingestion_burst_size"] == 2_000_000
    assert config["ingester"]["ring"]["replication_factor"] == 2
    assert values["ingester"]["replicas"] == values["distributor"]["replicas"] == 2
    assert values["minio"] == {"enabled": False}
    assert values["serviceAccount"]["annotations"] == {"eks.amazonaws.com/role-arn": "arn:x"}


def test_replication_is_capped_at_three(pulumi_runtime: Callable[..., FleetMocks]) -> None:
    pulumi_runtime()

    @pulumi.runtime.test
    def check() -> None:
        values = mimir_values(
            MimirArgs("6.0.0", GRAFANA_REPOSITORY, "mimir", MimirSettings(replicas=7), s3_binding())
        )
        assert values["ingester"]["replicas"] == 7
        assert values["mimir"]["structuredConfig"]["ingester"]["ring"]["replication_factor"] == 3

    check()
