from __future__ import annotations

import json
import re

from controlroom.storage import bucket_name, storage_account_name

from .conftest import RenderControlRoom


def test_names_fit_the_clouds_limits() -> None:
    assert bucket_name("acme", "123456789012") == "fleet-acme-mimir-123456789012"
    long = bucket_name("a" * 63, "123456789012")
    assert len(long) <= 63 and long.endswith("-mimir-123456789012")
    account = storage_account_name("my-fleet-with-a-long-name", "0b5e9f43-7c2a-4d8e-9a61-3f2d8c4b1e07")
    assert re.fullmatch(r"[a-z0-9]{3,24}", account)
    assert account != storage_account_name(
        "my-fleet-with-a-long-name", "11111111-7c2a-4d8e-9a61-3f2d8c4b1e07"
    )


def test_aws_bucket_is_private_encrypted_and_tls_only(render_controlroom: RenderControlRoom) -> None:
    rendered = render_controlroom("aws")
    bucket = rendered.resource("mimir-storage-bucket")
    assert bucket["type"] == "aws:s3/bucket:Bucket"
    assert bucket["inputs"]["bucket"] == "fleet-acme-mimir-123456789012"
    block = rendered.resource("mimir-storage-public-access")["inputs"]
    assert block["bucket"] == "fleet-acme-mimir-123456789012"
    assert all(
        block[k] is True
        for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    )
    sse = rendered.resource("mimir-storage-encryption")["inputs"]["rules"][0]
    assert sse["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "AES256"
    ownership = rendered.resource("mimir-storage-ownership")["inputs"]["rule"]
    assert ownership == {"objectOwnership": "BucketOwnerEnforced"}
    policy = json.loads(rendered.resource("mimir-storage-tls-only")["inputs"]["policy"])
    (deny,) = policy["Statement"]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert deny["Resource"] == [
        "arn:aws:s3:::fleet-acme-mimir-123456789012",
        "arn:aws:s3:::fleet-acme-mimir-123456789012/*",
    ]


def test_aws_role_is_assumable_only_by_mimirs_service_account(render_controlroom: RenderControlRoom) -> None:
    rendered = render_controlroom("aws")
    role = rendered.resource("mimir-storage-role")["inputs"]
    assert role["name"] == "fleet-acme-mimir"
    (statement,) = json.loads(role["assumeRolePolicy"])["Statement"]
    federated = statement["Principal"]["Federated"]
    assert re.fullmatch(
        r"arn:aws:iam::123456789012:oidc-provider/oidc\.eks\.us-east-1\.amazonaws\.com/id/[0-9A-F]{32}",
        federated,
    )
    issuer = federated.split("oidc-provider/")[1]
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Condition"]["StringEquals"] == {
        f"{issuer}:sub": "system:serviceaccount:mimir:mimir",
        f"{issuer}:aud": "sts.amazonaws.com",
    }
    access = json.loads(rendered.resource("mimir-storage-role-policy")["inputs"]["policy"])
    assert {
        "Effect": "Allow",
        "Action": ["s3:ListBucket"],
        "Resource": ["arn:aws:s3:::fleet-acme-mimir-123456789012"],
    } in access["Statement"]
    provider = rendered.resource("controlroom-aws")["inputs"]
    assert provider["region"] == "us-east-1"
    assert json.loads(provider["allowedAccountIds"]) == ["123456789012"]


def test_aws_mimir_uses_irsa_and_s3(render_controlroom: RenderControlRoom) -> None:
    values = render_controlroom("aws").chart("mimir-chart")["values"]
    assert values["serviceAccount"] == {
        "create": True,
        "name": "mimir",
        "annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/fleet-acme-mimir"},
    }
    assert values["global"]["podLabels"] == {}
    assert values["mimir"]["structuredConfig"]["common"]["storage"] == {
        "backend": "s3",
        "s3": {
            "bucket_name": "fleet-acme-mimir-123456789012",
            "endpoint": "s3.us-east-1.amazonaws.com",
            "region": "us-east-1",
        },
    }


def test_azure_account_is_https_only_without_shared_keys(render_controlroom: RenderControlRoom) -> None:
    rendered = render_controlroom("azure")
    account = rendered.resource("mimir-storage-account")["inputs"]
    name = storage_account_name("acme", "0b5e9f43-7c2a-4d8e-9a61-3f2d8c4b1e07")
    assert account["accountName"] == name
    assert account["resourceGroupName"] == "fleet-acme-mimir"
    assert account["enableHttpsTrafficOnly"] is True
    assert account["minimumTlsVersion"] == "TLS1_2"
    assert account["allowBlobPublicAccess"] is False
    assert account["allowSharedKeyAccess"] is False
    assert account["encryption"]["requireInfrastructureEncryption"] is True
    container = rendered.resource("mimir-storage-container")["inputs"]
    assert container == {
        "accountName": name,
        "containerName": "mimir",
        "publicAccess": "None",
        "resourceGroupName": "fleet-acme-mimir",
    }


def test_azure_identity_is_federated_with_mimirs_service_account(
    render_controlroom: RenderControlRoom,
) -> None:
    rendered = render_controlroom("azure")
    federation = rendered.resource("mimir-storage-federation")["inputs"]
    assert federation["subject"] == "system:serviceaccount:mimir:mimir"
    assert federation["audiences"] == ["api://AzureADTokenExchange"]
    assert federation["resourceName"] == "fleet-acme-mimir"
    assert re.fullmatch(
        r"https://westeurope\.oic\.prod-aks\.azure\.com/6c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f/[0-9a-f-]{36}/",
        federation["issuer"],
    )
    assignment = rendered.resource("mimir-storage-blob-contributor")["inputs"]
    assert assignment["roleDefinitionId"].endswith("/roleDefinitions/ba92f5b4-2d11-453d-a403-e96b0029c9fe")
    assert assignment["scope"].endswith("/blobServices/default/containers/mimir")
    assert assignment["principalType"] == "ServicePrincipal"


def test_azure_mimir_uses_workload_identity_and_blob_storage(render_controlroom: RenderControlRoom) -> None:
    rendered = render_controlroom("azure")
    values = rendered.chart("mimir-chart")["values"]
    client_id = values["serviceAccount"]["annotations"]["azure.workload.identity/client-id"]
    assert re.fullmatch(r"[0-9a-f-]{36}", client_id)
    assert rendered.resource("mimir-storage-federation")["inputs"]["resourceName"] == "fleet-acme-mimir"
    assert values["global"]["podLabels"] == {"azure.workload.identity/use": "true"}
    storage = values["mimir"]["structuredConfig"]["common"]["storage"]
    assert storage["backend"] == "azure"
    assert storage["azure"]["account_name"] == storage_account_name(
        "acme", "0b5e9f43-7c2a-4d8e-9a61-3f2d8c4b1e07"
    )
    assert storage["azure"]["container_name"] == "mimir"
    assert "account_key" not in storage["azure"]
    assert not rendered.resources("aws:s3/bucket:Bucket")
