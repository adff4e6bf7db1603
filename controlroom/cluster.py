"""Facts about the control-room cluster that the program looks up from the cloud.

``control_room.cluster`` in fleet.yaml says (all optional): ``oidc_issuer``, the service-account
token issuer URL; when unset it is looked up by ``name`` (default: the kube context, or the tail
of an EKS context ARN such as ``arn:aws:eks:us-east-1:123456789012:cluster/ctrl``; without a
context ``<fleet>-controlroom``) and, on Azure, ``resource_group`` (default
``fleet-<fleet>-controlroom``).
"""

from __future__ import annotations

from fleet.inventory.models import ControlRoom
from kit.storage import ClusterIdentity


def cluster_name(fleet: str, room: ControlRoom) -> str:
    """The managed cluster's name: as configured, else derived from the kube context."""
    if room.cluster.name:
        return room.cluster.name
    context = room.cluster.context
    if not context:
        return f"{fleet}-controlroom"
    return context.rsplit(":cluster/", 1)[-1]


def aks_resource_group(fleet: str) -> str:
    """The resource group of the control room's AKS cluster."""
    return f"fleet-{fleet}-controlroom"


def cluster_identity(fleet: str, room: ControlRoom) -> ClusterIdentity:
    """Where the control-room cluster's OIDC issuer (for IRSA or workload identity) comes from."""
    return ClusterIdentity(
        cluster_name=cluster_name(fleet, room),
        oidc_issuer=room.cluster.oidc_issuer,
        resource_group=room.cluster.resource_group or aks_resource_group(fleet),
    )
