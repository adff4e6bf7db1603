"""The central Mimir's object storage and the cloud identity its pods use to reach it.

AWS: an S3 bucket (public access blocked, bucket-owner-enforced, SSE-S3 encryption, TLS-only
bucket policy) and an IAM role assumable only by Mimir's service account through IRSA.
Azure: a StorageV2 account (HTTPS only, TLS 1.2, no public blobs, no shared keys), a private
``mimir`` container, and a user-assigned identity federated with Mimir's service account
(workload identity) holding "Storage Blob Data Contributor" on the container.

No access key exists anywhere: the pods get short-lived tokens for their service account.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_azure_native as azure_native

from fleet.models import ControlRoom

MIMIR_CONTAINER = "mimir"
AZURE_AUDIENCE = "api://AzureADTokenExchange"
STORAGE_BLOB_DATA_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
"""Built-in Azure role definition id."""
IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"
AZURE_CLIENT_ID_ANNOTATION = "azure.workload.identity/client-id"
AZURE_USE_LABEL = "azure.workload.identity/use"


def bucket_name(fleet: str, account_id: str) -> str:
    """The S3 bucket: ``fleet-<fleet>-mimir-<account>`` (globally unique per account, <= 63)."""
    suffix = f"-mimir-{account_id}"
    return f"fleet-{fleet}"[: 63 - len(suffix)].rstrip("-") + suffix


def storage_account_name(fleet: str, subscription_id: str) -> str:
    """The Azure storage account: 3-24 lowercase letters and digits, unique per subscription."""
    digest = hashlib.sha256(f"{fleet}/{subscription_id}".encode()).hexdigest()[:8]
    return "fleet" + re.sub(r"[^a-z0-9]", "", fleet)[:11] + digest


def resource_group_name(fleet: str) -> str:
    """The Azure resource group holding the central Mimir's storage account and identity."""
    return f"fleet-{fleet}-mimir"


@dataclass(frozen=True)
class StorageArgs:
    fleet: str
    control_room: ControlRoom
    namespace: str
    """Namespace of Mimir's service account."""
    service_account: str
    """Mimir's service account, the only identity allowed to use the storage."""
    oidc_issuer: pulumi.Input[str]
    """The cluster's service-account token issuer URL (``https://...``)."""


class MimirStorage(pulumi.ComponentResource):
    """Object storage for the central Mimir, with the workload identity to reach it."""

    mimir_storage: pulumi.Output[dict[str, Any]]
    """Mimir ``common.storage`` configuration."""
    service_account_annotations: pulumi.Output[dict[str, str]]
    pod_labels: dict[str, str]
    location: pulumi.Output[str]
    """Bucket name (AWS) or storage account name (Azure)."""

    def __init__(self, name: str, args: StorageArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("fleet:controlroom:MimirStorage", name, None, opts)
        if args.control_room.cloud == "aws":
            self._aws(name, args)
        else:
            self._azure(name, args)
        self.register_outputs(
            {
                "mimir_storage": self.mimir_storage,
                "service_account_annotations": self.service_account_annotations,
                "location": self.location,
            }
        )

    def _aws(self, name: str, args: StorageArgs) -> None:
        room = args.control_room
        assert room.account_id is not None  # the model requires it on AWS
        child = pulumi.ResourceOptions(parent=self)
        bucket = aws.s3.Bucket(
            f"{name}-bucket",
            bucket=bucket_name(args.fleet, room.account_id),
            tags={"fleet": args.fleet, "component": "mimir"},
            opts=child,
        )
        aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access",
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        aws.s3.BucketOwnershipControls(
            f"{name}-ownership",
            bucket=bucket.id,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=child,
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=bucket.id,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                        sse_algorithm="AES256"
                    ),
                    bucket_key_enabled=True,
                )
            ],
            opts=child,
        )
        aws.s3.BucketPolicy(
            f"{name}-tls-only",
            bucket=bucket.id,
            policy=bucket.arn.apply(_tls_only_policy),
            opts=child,
        )
        issuer = pulumi.Output.from_input(args.oidc_issuer).apply(lambda url: url.removeprefix("https://"))
        role = aws.iam.Role(
            f"{name}-role",
            name=f"fleet-{args.fleet}-mimir"[:64],
            description="Central Mimir's access to its bucket (IRSA)",
            assume_role_policy=issuer.apply(
                lambda host: _irsa_trust_policy(
                    room.account_id or "", host, args.namespace, args.service_account
                )
            ),
            tags={"fleet": args.fleet, "component": "mimir"},
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-role-policy",
            role=role.id,
            policy=bucket.arn.apply(_bucket_access_policy),
            opts=child,
        )
        self.location = bucket.bucket
        self.mimir_storage = bucket.bucket.apply(
            lambda bucket_id: {
                "backend": "s3",
                "s3": {
                    "bucket_name": bucket_id,
                    "endpoint": f"s3.{room.region}.amazonaws.com",
                    "region": room.region,
                },
            }
        )
        self.service_account_annotations = role.arn.apply(lambda arn: {IRSA_ANNOTATION: arn})
        self.pod_labels = {}

    def _azure(self, name: str, args: StorageArgs) -> None:
        room = args.control_room
        assert room.subscription_id is not None  # the model requires it on Azure
        child = pulumi.ResourceOptions(parent=self)
        group = azure_native.resources.ResourceGroup(
            f"{name}-group",
            resource_group_name=resource_group_name(args.fleet),
            location=room.region,
            tags={"fleet": args.fleet},
            opts=child,
        )
        account = azure_native.storage.StorageAccount(
            f"{name}-account",
            account_name=storage_account_name(args.fleet, room.subscription_id),
            resource_group_name=group.name,
            location=room.region,
            kind=azure_native.storage.Kind.STORAGE_V2,
            sku=azure_native.storage.SkuArgs(name=azure_native.storage.SkuName.STANDARD_ZRS),
            access_tier=azure_native.storage.AccessTier.HOT,
            enable_https_traffic_only=True,
            minimum_tls_version=azure_native.storage.MinimumTlsVersion.TLS1_2,
            allow_blob_public_access=False,
            allow_shared_key_access=False,
            default_to_o_auth_authentication=True,
            allow_cross_tenant_replication=False,
            encryption=azure_native.storage.EncryptionArgs(
                key_source=azure_native.storage.KeySource.MICROSOFT_STORAGE,
                require_infrastructure_encryption=True,
                services=azure_native.storage.EncryptionServicesArgs(
                    blob=azure_native.storage.EncryptionServiceArgs(enabled=True, key_type="Account"),
                ),
            ),
            tags={"fleet": args.fleet, "component": "mimir"},
            opts=child,
        )
        container = azure_native.storage.BlobContainer(
            f"{name}-container",
            account_name=account.name,
            resource_group_name=group.name,
            container_name=MIMIR_CONTAINER,
            public_access=azure_native.storage.PublicAccess.NONE,
            opts=child,
        )
        identity = azure_native.managedidentity.UserAssignedIdentity(
            f"{name}-identity",
            resource_name_=f"fleet-{args.fleet}-mimir",
            resource_group_name=group.name,
            location=room.region,
            tags={"fleet": args.fleet, "component": "mimir"},
            opts=child,
        )
        azure_native.managedidentity.FederatedIdentityCredential(
            f"{name}-federation",
            federated_identity_credential_resource_name="mimir",
            resource_name_=identity.name,
            resource_group_name=group.name,
            issuer=args.oidc_issuer,
            subject=f"system:serviceaccount:{args.namespace}:{args.service_account}",
            audiences=[AZURE_AUDIENCE],
            opts=child,
        )
        azure_native.authorization.RoleAssignment(
            f"{name}-blob-contributor",
            principal_id=identity.principal_id,
            principal_type=azure_native.authorization.PrincipalType.SERVICE_PRINCIPAL,
            role_definition_id=(
                f"/subscriptions/{room.subscription_id}/providers/Microsoft.Authorization"
                f"/roleDefinitions/{STORAGE_BLOB_DATA_CONTRIBUTOR}"
            ),
            scope=container.id,
            opts=child,
        )
        self.location = account.name
        # No account key: Mimir falls back to the Azure default credential chain, which picks up
        # the federated token the workload-identity webhook mounts.
        self.mimir_storage = account.name.apply(
            lambda account_name: {
                "backend": "azure",
                "azure": {
                    "account_name": account_name,
                    "container_name": MIMIR_CONTAINER,
                    "endpoint_suffix": "blob.core.windows.net",
                },
            }
        )
        self.service_account_annotations = identity.client_id.apply(
            lambda client_id: {AZURE_CLIENT_ID_ANNOTATION: client_id}
        )
        self.pod_labels = {AZURE_USE_LABEL: "true"}


def _tls_only_policy(bucket_arn: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "DenyInsecureTransport",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": [bucket_arn, f"{bucket_arn}/*"],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                }
            ],
        },
        sort_keys=True,
    )


def _irsa_trust_policy(account_id: str, issuer_host: str, namespace: str, service_account: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Federated": f"arn:aws:iam::{account_id}:oidc-provider/{issuer_host}"},
                    "Action": "sts:AssumeRoleWithWebIdentity",
                    "Condition": {
                        "StringEquals": {
                            f"{issuer_host}:sub": f"system:serviceaccount:{namespace}:{service_account}",
                            f"{issuer_host}:aud": "sts.amazonaws.com",
                        }
                    },
                }
            ],
        },
        sort_keys=True,
    )


def _bucket_access_policy(bucket_arn: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": [bucket_arn]},
                {
                    "Effect": "Allow",
                    "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                    "Resource": [f"{bucket_arn}/*"],
                },
            ],
        },
        sort_keys=True,
    )
