"""What both Mimirs (a workload's own, and the control room's central one) configure alike."""

from __future__ import annotations

from typing import Any

from kit.storage import BucketBinding


def storage_config(storage: BucketBinding) -> dict[str, Any]:
    """Mimir's ``common.storage`` for ``storage``: no keys, the pods' cloud identity signs in."""
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
