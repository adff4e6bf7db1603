from __future__ import annotations

import json
import re

from kit.storage import bucket_name, storage_account_name

from .conftest import RenderControlRoom

BUCKET = bucket_name("acme", "controlroom", "mimir", "123456789012")
ROLE = "aws:iam/role:Role"
SUBSCRIPTION = "0b5e9f43-7c2a-4d8e-9a61-3f2d8c4b1e07"


def test_names_fit_the_clouds_limits() -> None:
    assert re.fullmatch(r"controlroom-mimir-[0-9a-f]{10}", BUCKET)
    assert bucket_name("other", "controlroom", "mimir", "123456789012") != BUCKET
    account = storage_account_name("my-fleet-with-a-long-name", "controlroom", SUBSCRIPTION)
    assert re.fullmatch(r"[a-z0-9]{3,24}", account)
    assert account != storage_account_name(
        "my-fleet-with-a-long-name", "controlroom", "11111111-7c2a-4d8e-9a61-3f2d8c4b1e07"
    )


def test_aws_bucket_is_private_encrypted_and_tls_only(render_controlroom: RenderControlRoom) -> None:
    rendered = render_controlroom("aws")
    bucket = rendered.resource("mimir-storage-mimir", "aws:s3/bucket:Bucket")
    assert bucket["inputs"]["bucket"] == BUCKET
    block = rendered.resource("mimir-storage-mimir-public-access")["inputs"]
    assert block["bucket"] == BUCKET
    assert all(
        block[k] is True
        for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    )
    sse = rendered.resource("mimir-storage-mimir-encryption")["inputs"]["rules"][0]
    assert sse["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "AES256"
    ownership = rendered.resource("mimir-storage-mimir-ownership")["inputs"]["rule"]
    assert ownership == {"objectOwnership": "BucketOwnerEnforced"}
    policy = json.loads(rendered.resource("mimir-storage-mimir-tls-only")["inputs"]["policy"])
    (deny,) = policy["Statement"]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert deny["Resource"] == [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"]


def test_aws_role_is_assumable_only_by_mimirs_service_account(render_controlroom: RenderControlRoom) -> None:
    rendered = render_controlroom("aws")
    role = rendered.resource("mimir-storage-mimir", ROLE)["inputs"]
    assert role["name"] == BUCKET
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
    access = json.loads(rendered.resource("mimir-storage-mimir-bucket-access")["inputs"]["policy"])
    assert {
        "Effect": "Allow",
        "Action": ["s3:ListBucket"],
        "Resource": [f"arn:aws:s3:::{BUCKET}"],
    } in access["Statement"]
    provider = rendered.resource("mimir-storage-aws")["inputs"]
    assert provider["region"] == "us-east-1"
    assert json.loads(provider["allowedAccountIds"]) == ["123456789012"]


def test_aws_mimir_uses_irsa_and_s3(render_controlroom: RenderControlRoom) -> None:
    values = render_controlroom("aws").chart("mimir-chart")["values"]
    assert values["serviceAccount"] == {
        "create": True,
        "name": "mimir",
        "annotations": {"eks.amazonaws.com/role-arn": f"arn:aws:iam::123456789012:role/{BUCKET}"},
    }
    assert "global" not in values
    assert values["mimir"]["structuredConfig"]["blocks_storage"] == {
        "storage_prefix": "blocks",
        "backend": "s3",
        "s3": {
            "bucket_name": BUCKET,
            "endpoint": "s3.us-east-1.amazonaws.com",
            "region": "us-east-1",
        },
    }


def test_azure_account_is_https_only_without_shared_keys(render_controlroom: RenderControlRoom) -> None:
    rendered = render_controlroom("azure")
    account = rendered.resource("mimir-storage-account")["inputs"]
    name = storage_account_name("acme", "controlroom", SUBSCRIPTION)
    assert account["accountName"] == name
    assert account["resourceGroupName"] == "fleet-acme-controlroom-storage"
    assert account["enableHttpsTrafficOnly"] is True
    assert account["minimumTlsVersion"] == "TLS1_2"
    assert account["allowBlobPublicAccess"] is False
    assert account["allowSharedKeyAccess"] is False
    assert account["encryption"]["requireInfrastructureEncryption"] is True
    assert account["sku"] == {"name": "Standard_ZRS"}  # the whole fleet's metrics: zone redundant
    container = rendered.resource("mimir-storage-mimir", "azure-native:storage:BlobContainer")["inputs"]
    assert container == {
        "accountName": name,
        "containerName": "mimir",
        "publicAccess": "None",
        "resourceGroupName": "fleet-acme-controlroom-storage",
    }


def test_azure_identity_is_federated_with_mimirs_service_account(
    render_controlroom: RenderControlRoom,
) -> None:
    rendered = render_controlroom("azure")
    federation = rendered.resource("mimir-storage-mimir-federation")["inputs"]
    assert federation["subject"] == "system:serviceaccount:mimir:mimir"
    assert federation["audiences"] == ["api://AzureADTokenExchange"]
    assert federation["resourceName"] == "controlroom-mimir"
    assert re.fullmatch(
        r"https://westeurope\.oic\.prod-aks\.azure\.com/6c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f/[0-9a-f-]{36}/",
        federation["issuer"],
    )
    assignment = rendered.resource("mimir-storage-mimir-blob-access")["inputs"]
    assert assignment["roleDefinitionId"].endswith("/roleDefinitions/ba92f5b4-2d11-453d-a403-e96b0029c9fe")
    assert assignment["scope"].endswith("/blobServices/default/containers/mimir")
    assert assignment["principalType"] == "ServicePrincipal"


def test_azure_mimir_uses_workload_identity_and_blob_storage(render_controlroom: RenderControlRoom) -> None:
    rendered = render_controlroom("azure")
    values = rendered.chart("mimir-chart")["values"]
    client_id = values["serviceAccount"]["annotations"]["azure.workload.identity/client-id"]
    assert re.fullmatch(r"[0-9a-f-]{36}", client_id)
    assert (
        rendered.resource("mimir-storage-mimir-federation")["inputs"]["resourceName"] == "controlroom-mimir"
    )
    assert values["compactor"]["podLabels"] == {"azure.workload.identity/use": "true"}
    storage = values["mimir"]["structuredConfig"]["blocks_storage"]
    assert storage["backend"] == "azure"
    assert storage["azure"]["account_name"] == storage_account_name("acme", "controlroom", SUBSCRIPTION)
    assert storage["azure"]["container_name"] == "mimir"
    assert "account_key" not in storage["azure"]
    assert not rendered.resources("aws:s3/bucket:Bucket")
