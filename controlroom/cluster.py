"""Facts about the control-room cluster that the program looks up from the cloud.

The inventory names the cluster only by kubeconfig and context. Like the workload program, the
stack configuration in the ``fleet`` namespace says more (all optional):

- ``fleet:oidcIssuer`` - the service-account token issuer URL; when unset it is looked up:
- ``fleet:clusterName`` - the EKS/AKS cluster (default: the kube context, or the tail of an EKS
  context ARN such as ``arn:aws:eks:us-east-1:123456789012:cluster/ctrl``; without a context
  ``<fleet>-controlroom``);
- ``fleet:clusterResourceGroup`` - the AKS cluster's resource group (default
  ``fleet-<fleet>-controlroom``).
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws
import pulumi_azure_native as azure_native

from fleet.models import ControlRoom

CONFIG_NAMESPACE = "fleet"


def cluster_name(fleet: str, room: ControlRoom) -> str:
    """The managed cluster's name when ``fleet:clusterName`` is not set."""
    context = room.cluster.context
    if not context:
        return f"{fleet}-controlroom"
    return context.rsplit(":cluster/", 1)[-1]


def aks_resource_group(fleet: str) -> str:
    """The resource group of the control room's AKS cluster."""
    return f"fleet-{fleet}-controlroom"


def oidc_issuer(fleet: str, room: ControlRoom, provider: pulumi.ProviderResource) -> pulumi.Output[str]:
    """The cluster's service-account token issuer URL, for IRSA or workload identity."""
    config = pulumi.Config(CONFIG_NAMESPACE)
    configured = config.get("oidcIssuer")
    if configured:
        return pulumi.Output.from_input(configured)
    name = config.get("clusterName") or cluster_name(fleet, room)
    invoke = pulumi.InvokeOutputOptions(provider=provider)
    if room.cloud == "aws":
        eks = aws.eks.get_cluster_output(name=name, opts=invoke)
        return eks.identities.apply(lambda identities: identities[0].oidcs[0].issuer)
    aks = azure_native.containerservice.get_managed_cluster_output(
        resource_group_name=config.get("clusterResourceGroup") or aks_resource_group(fleet),
        resource_name=name,
        opts=invoke,
    )
    return aks.oidc_issuer_profile.apply(
        lambda profile: profile.issuer_url if profile is not None and profile.issuer_url else ""
    )
