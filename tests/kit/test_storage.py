"""Object storage and cloud identities for Mimir and Loki."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import pulumi
import pytest
from pulumi_harness import (
    ACCOUNT_ID,
    AKS_ISSUER,
    EKS_ISSUER,
    SUBSCRIPTION_ID,
    TENANT_ID,
    FleetMocks,
    finish_failed_program,
)

from fleet.inventory.models import CloudAccount
from kit.storage import (
    AzureStorage,
    ClusterIdentity,
    StorageArgs,
    StorageUser,
    bucket_name,
    object_storage,
    storage_account_name,
)

AWS = CloudAccount(cloud="aws", region="us-east-1", account_id=ACCOUNT_ID)
AZURE = CloudAccount(cloud="azure", region="eastus", subscription_id=SUBSCRIPTION_ID, tenant_id=TENANT_ID)
USERS = (StorageUser("mimir", "mimir", "mimir"), StorageUser("loki", "loki", "loki"))


def test_bucket_names_are_stable_valid_and_distinct_per_fleet() -> None:
    longest = "w" * 40
    name = bucket_name("demo", longest, "mimir", ACCOUNT_ID)
    assert len(name) <= 63
    assert re.fullmatch(r"[a-z0-9][a-z0-9-]*[a-z0-9]", name)
    assert name == bucket_name("demo", longest, "mimir", ACCOUNT_ID)
    assert name != bucket_name("other", longest, "mimir", ACCOUNT_ID)


@pytest.mark.parametrize("workload", ["a", "web", "payments-eu-west-1-production-cluster-01"])
def test_storage_account_names_fit_azure_rules(workload: str) -> None:
    name = storage_account_name("demo", workload, SUBSCRIPTION_ID)
    assert re.fullmatch(r"[a-z0-9]{3,24}", name)
    assert name != storage_account_name("demo", workload + "x", SUBSCRIPTION_ID)


def test_aws_bindings_carry_bucket_and_role(pulumi_runtime: Callable[..., FleetMocks]) -> None:
    mocks = pulumi_runtime()

    @pulumi.runtime.test
    def declare() -> pulumi.Output[None]:
        storage = object_storage(
            "storage",
            StorageArgs("demo", "web", AWS, ClusterIdentity("web", oidc_issuer=EKS_ISSUER), USERS),
        )
        mimir = storage.bindings["mimir"]

        def check(parts: list[object]) -> None:
            bucket, annotations = parts
            assert bucket == bucket_name("demo", "web", "mimir", ACCOUNT_ID)
            assert annotations == {"eks.amazonaws.com/role-arn": f"arn:aws:iam::{ACCOUNT_ID}:role/{bucket}"}
            assert mimir.backend == "s3"
            assert mimir.region == "us-east-1"

        return pulumi.Output.all(mimir.bucket, mimir.service_account_annotations).apply(check)

    declare()
    blocks = [r.inputs for r in mocks.resources if r.type.endswith("BucketPublicAccessBlock")]
    assert len(blocks) == 2
    assert all(
        b[flag] is True
        for b in blocks
        for flag in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    )
    encryption = [
        r.inputs for r in mocks.resources if r.type.endswith("BucketServerSideEncryptionConfiguration")
    ]
    assert [e["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] for e in encryption] == [
        "AES256",
        "AES256",
    ]
    policies = {
        r.name: json.loads(r.inputs["policy"])
        for r in mocks.resources
        if r.type == "aws:iam/rolePolicy:RolePolicy"
    }
    mimir_bucket = bucket_name("demo", "web", "mimir", ACCOUNT_ID)
    resources = [s["Resource"] for s in policies["storage-mimir-bucket-access"]["Statement"]]
    assert resources == [[f"arn:aws:s3:::{mimir_bucket}"], [f"arn:aws:s3:::{mimir_bucket}/*"]]
    (provider,) = [r for r in mocks.resources if r.type == "pulumi:providers:aws"]
    assert json.loads(provider.inputs["allowedAccountIds"]) == [ACCOUNT_ID]


def test_azure_bindings_carry_container_and_client_id(pulumi_runtime: Callable[..., FleetMocks]) -> None:
    mocks = pulumi_runtime()

    @pulumi.runtime.test
    def declare() -> pulumi.Output[None]:
        storage = object_storage(
            "storage",
            StorageArgs("demo", "web", AZURE, ClusterIdentity("web", oidc_issuer=AKS_ISSUER), USERS),
        )
        loki = storage.bindings["loki"]
        assert loki.storage_account is not None

        def check(parts: list[object]) -> None:
            container, account, annotations = parts
            assert container == "loki"
            assert account == storage_account_name("demo", "web", SUBSCRIPTION_ID)
            assert isinstance(annotations, dict)
            assert set(annotations) == {"azure.workload.identity/client-id"}
            assert loki.pod_labels == {"azure.workload.identity/use": "true"}

        return pulumi.Output.all(loki.bucket, loki.storage_account, loki.service_account_annotations).apply(
            check
        )

    declare()
    identities = {
        r.name: r.inputs
        for r in mocks.resources
        if r.type == "azure-native:managedidentity:UserAssignedIdentity"
    }
    assert identities["storage-loki"]["resourceName"] == "web-loki"
    (account,) = [r.inputs for r in mocks.resources if r.type == "azure-native:storage:StorageAccount"]
    assert account["sku"] == {"name": "Standard_LRS"}
    assert account["allowSharedKeyAccess"] is False
    assert account["encryption"]["requireInfrastructureEncryption"] is True
    (group,) = [r.inputs for r in mocks.resources if r.type == "azure-native:resources:ResourceGroup"]
    # Never the AKS cluster's own group (fleet-<fleet>-<workload> by default): destroy deletes it.
    assert group["resourceGroupName"] == "fleet-demo-web-storage"
    assignments = [r.inputs for r in mocks.resources if r.type == "azure-native:authorization:RoleAssignment"]
    assert len(assignments) == 2
    assert {a["roleDefinitionId"].rsplit("/", 1)[1] for a in assignments} == {
        "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
    }
    assert {a["scope"].rsplit("/", 1)[1] for a in assignments} == {"mimir", "loki"}


def test_azure_lookup_needs_the_cluster_resource_group(pulumi_runtime: Callable[..., FleetMocks]) -> None:
    pulumi_runtime()
    with pytest.raises(ValueError, match=r"spec\.cluster\.resource_group"):
        AzureStorage("storage", StorageArgs("demo", "web", AZURE, ClusterIdentity("web"), USERS))
    assert finish_failed_program() == []  # what it registered before raising completes without errors


def test_azure_issuer_is_looked_up_from_aks(pulumi_runtime: Callable[..., FleetMocks]) -> None:
    mocks = pulumi_runtime()

    @pulumi.runtime.test
    def declare() -> None:
        object_storage(
            "storage",
            StorageArgs("demo", "web", AZURE, ClusterIdentity("web-aks", resource_group="rg-aks"), USERS),
        )

    declare()
    assert mocks.calls == ["azure-native:containerservice:getManagedCluster"]
    issuers = {
        r.inputs["issuer"]
        for r in mocks.resources
        if r.type == "azure-native:managedidentity:FederatedIdentityCredential"
    }
    assert issuers == {AKS_ISSUER}


@pytest.mark.parametrize("account", [AWS, AZURE], ids=["eks", "aks"])
def test_a_cluster_without_an_oidc_issuer_is_an_error(
    pulumi_runtime: Callable[..., FleetMocks], account: CloudAccount
) -> None:
    mocks = pulumi_runtime()
    mocks.oidc_issuer_enabled = False

    @pulumi.runtime.test
    def declare() -> None:
        object_storage(
            "storage",
            StorageArgs("demo", "web", account, ClusterIdentity("web", resource_group="rg-aks"), USERS),
        )

    with pytest.raises(ValueError, match="reports no OIDC issuer"):
        declare()
    # Every output the failure left unread fails with the same error (EKS: the roles' and their
    # policies' outputs; AKS: none is left unread).
    left = finish_failed_program()
    assert all("reports no OIDC issuer" in str(error) for error in left), left
