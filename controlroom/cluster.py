"""Facts about the control-room cluster that the program looks up from the cloud.

``control_room.cluster`` in fleet.yaml says (all optional): ``oidc_issuer``, the service-account
token issuer URL; when unset it is looked up by ``name`` (default: the kube context, or the tail
of an EKS context ARN such as ``arn:aws:eks:us-east-1:123456789012:cluster/ctrl``; without a
context ``<fleet>-controlroom``) and, on Azure, ``resource_group`` (default
``fleet-<fleet>-controlroom``).
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws
import pulumi_azure_native as azure_native

from fleet.models import ControlRoom


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


def oidc_issuer(fleet: str, room: ControlRoom, provider: pulumi.ProviderResource) -> pulumi.Output[str]:
    """The cluster's service-account token issuer URL, for IRSA or workload identity."""
    if room.cluster.oidc_issuer:
        return pulumi.Output.from_input(room.cluster.oidc_issuer)
    name = cluster_name(fleet, room)
    invoke = pulumi.InvokeOutputOptions(provider=provider)
    if room.cloud == "aws":
        eks = aws.eks.get_cluster_output(name=name, opts=invoke)
        return eks.identities.apply(lambda identities: identities[0].oidcs[0].issuer)
    aks = azure_native.containerservice.get_managed_cluster_output(
        resource_group_name=room.cluster.resource_group or aks_resource_group(fleet),
        resource_name=name,
        opts=invoke,
    )
    return aks.oidc_issuer_profile.apply(
        lambda profile: profile.issuer_url if profile is not None and profile.issuer_url else ""
    )
