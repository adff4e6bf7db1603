"""What both Grafanas (a workload's and the control room's) run with: the size's resources,
persistence, restricted security contexts."""

from __future__ import annotations

from typing import Any

from kit.security import container_security_context
from kit.sizing import SIDECAR, Sizing

STORAGE_SIZE = "10Gi"
"""Grafana's database (users, sessions, dashboards saved in the UI, alert state) on a volume."""


def grafana_production_values(sizing: Sizing) -> dict[str, Any]:
    """grafana chart values merged into each Grafana's own."""
    return {
        "resources": sizing.resources("grafana"),
        # Without a volume every restart forgets users, sessions and what was saved in the UI.
        "persistence": {"enabled": True, "type": "pvc", "size": STORAGE_SIZE},
        # The volume's group is set by fsGroup (472 in the chart's pod context): no root init
        # container with CAP_CHOWN is needed.
        "initChownData": {"enabled": False},
        "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
        "containerSecurityContext": container_security_context(),
        # A read-only root: Grafana writes its data to the volume and temporary files to /tmp.
        "extraEmptyDirMounts": [{"name": "tmp", "mountPath": "/tmp"}],
        # The chart adds this init container whenever `dashboards` is set (fleet provisions its
        # dashboards as JSON, so it downloads nothing): sized and restricted like the rest.
        "downloadDashboards": {
            "resources": SIDECAR.values(),
            "securityContext": {**container_security_context(), "runAsNonRoot": True},
        },
    }
