"""What both Mimirs (a workload's own, and the control room's central one) configure alike:
where every store lives, the write-path architecture, and the pods' storage identity."""

from __future__ import annotations

from typing import Any

from fleet.inventory.models import MimirKafka
from kit.storage import BucketBinding

STORAGE_COMPONENTS = ("ingester", "store_gateway", "compactor", "querier", "ruler", "alertmanager")
"""The chart's components whose pods read or write the bucket (they need the cloud identity)."""

STORES = {"blocks_storage": "blocks", "ruler_storage": "ruler", "alertmanager_storage": "alertmanager"}
"""Mimir's three object stores and the prefix each keeps in the one bucket."""


def bucket_config(storage: BucketBinding) -> dict[str, Any]:
    """One Mimir bucket client for ``storage``: no keys, the pods' cloud identity signs in."""
    if storage.backend == "s3":
        return {
            "backend": "s3",
            "s3": {
                "bucket_name": storage.bucket,
                "endpoint": f"s3.{storage.region}.amazonaws.com",
                "region": storage.region,
            },
        }
    return {
        "backend": "azure",
        "azure": {"account_name": storage.storage_account, "container_name": storage.bucket},
    }


def storage_config(storage: BucketBinding) -> dict[str, Any]:
    """``blocks_storage``, ``ruler_storage`` and ``alertmanager_storage``, each set in full.

    The chart's own ``mimir.config`` sets ``blocks_storage.backend: s3``, and in Mimir a
    component's own setting wins over ``common.storage``: so every store names its backend and
    bucket itself, never through ``common``.
    """
    return {store: {**bucket_config(storage), "storage_prefix": prefix} for store, prefix in STORES.items()}


def pod_labels(storage: BucketBinding) -> dict[str, Any]:
    """The storage identity's pod labels on each component that reads the bucket.

    Per component, not ``global.podLabels``: mimir-distributed 6.0.0's ``mimir.podLabels``
    helper writes the global labels without a line break before its own, which breaks the
    StatefulSets' YAML as soon as any global label is set (Azure's workload identity label).
    """
    if not storage.pod_labels:
        return {}
    return {component: {"podLabels": dict(storage.pod_labels)} for component in STORAGE_COMPONENTS}


def architecture(kafka: MimirKafka | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(chart values, structured config) for the write path: classic ingesters without
    ``kafka``, else ingest storage on the inventory's own Kafka.

    mimir-distributed 6.x enables ingest storage with a bundled single-broker Kafka that its
    authors call a demo; fleet never installs it.
    """
    values: dict[str, Any] = {"kafka": {"enabled": False}}
    if kafka is None:
        return values, {
            "ingest_storage": {"enabled": False},
            # The chart turns the ingesters' push API off for ingest storage; classic needs it.
            "ingester": {"push_grpc_method_enabled": True},
        }
    return values, {
        "ingest_storage": {
            "enabled": True,
            "kafka": {"address": kafka.address, "topic": kafka.topic},
        },
    }
