"""Object storage for a stack's Mimir (and Loki), and the cloud identities that reach it.

Both programs use it: a workload for its Mimir and Loki, the control room for the central Mimir.

AWS: one S3 bucket per component (public access blocked, server-side encryption, TLS-only bucket
policy, owner-enforced objects) and one IAM role per component that only the component's
Kubernetes service account can assume (IRSA: a web-identity trust on the cluster's OIDC provider).

Azure: one storage account (TLS 1.2, HTTPS only, no public blob access, no shared keys,
infrastructure encryption), a private container per component, and a user-assigned identity per
component federated with the component's service account (workload identity), allowed to read
and write its container only.

Either way each component gets a :class:`BucketBinding`: where its objects go, and the annotations
and pod labels its chart needs so that its pods act as that identity. No static keys exist.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Literal

import pulumi
import pulumi_aws as aws
import pulumi_azure_native as azure

from fleet.inventory.models import CloudAccount

Backend = Literal["s3", "azure"]

# Built-in Azure role "Storage Blob Data Contributor".
BLOB_DATA_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
AZURE_TOKEN_AUDIENCE = "api://AzureADTokenExchange"
IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"
WORKLOAD_IDENTITY_ANNOTATION = "azure.workload.identity/client-id"
WORKLOAD_IDENTITY_LABEL = "azure.workload.identity/use"


@dataclass(frozen=True)
class StorageUser:
    """A component that keeps objects, and the service account its pods run as."""

    component: str
    namespace: str
    service_account: str

    @property
    def subject(self) -> str:
        """The service account as the OIDC token's ``sub`` claim."""
        return f"system:serviceaccount:{self.namespace}:{self.service_account}"


@dataclass(frozen=True)
class ClusterIdentity:
    """How to find the cluster's OIDC issuer: given outright, or looked up by cluster name.

    ``resource_group`` is the AKS cluster's resource group (Azure lookups only).
    """

    cluster_name: str
    oidc_issuer: str | None = None
    resource_group: str | None = None


@dataclass(frozen=True)
class StorageArgs:
    fleet: str
    owner: str
    """The stack the storage belongs to: a workload's name, or ``controlroom``."""
    account: CloudAccount
    cluster: ClusterIdentity
    users: tuple[StorageUser, ...]
    tags: dict[str, str] = field(default_factory=dict)
    """Tags on every resource; each component's resources also get ``component: <name>``."""
    zone_redundant: bool = False
    """Azure: keep the blobs in three zones (ZRS) rather than one (LRS)."""


@dataclass(frozen=True)
class BucketBinding:
    """Where one component keeps its objects, and how its pods get access to them."""

    backend: Backend
    bucket: pulumi.Output[str]
    """The S3 bucket, or the Azure blob container."""
    region: str
    service_account_annotations: pulumi.Output[dict[str, str]]
    pod_labels: dict[str, str]
    storage_account: pulumi.Output[str] | None = None
    """Azure only: the storage account holding ``bucket``."""


def bucket_name(fleet: str, owner: str, component: str, account: str) -> str:
    """A globally unique, stable S3 bucket name: readable prefix, fleet/account digest suffix.

    At most 40 + 1 + 5 + 1 + 10 = 57 characters, within S3's 63.
    """
    digest = hashlib.sha256(f"{fleet}/{account}".encode()).hexdigest()[:10]
    return f"{owner}-{component}-{digest}"


def storage_account_name(fleet: str, owner: str, subscription: str) -> str:
    """A globally unique, stable storage account name: 3-24 lowercase letters and digits."""
    digest = hashlib.sha256(f"{fleet}/{subscription}/{owner}".encode()).hexdigest()[:10]
    return re.sub(r"[^a-z0-9]", "", owner)[:14] + digest


def resource_group_name(fleet: str, owner: str) -> str:
    """The Azure resource group of ``owner``'s storage account and identities.

    Its own group, never the cluster's (``fleet-<fleet>-<owner>`` by default): destroying the
    stack deletes the group.
    """
    return f"fleet-{fleet}-{owner}-storage"[:90]


def _require_issuer(issuer: str | None, kind: str) -> str:
    if not issuer:
        raise ValueError(
            f"the {kind} cluster reports no OIDC issuer; enable its OIDC issuer "
            "or set spec.cluster.oidc_issuer in the inventory"
        )
    return issuer


def _trust_policy(
    provider_arn: pulumi.Output[str], issuer_host: pulumi.Output[str], subject: str
) -> pulumi.Output[str]:
    """Only ``subject`` (one service account), with tokens from the cluster's issuer, may assume."""
    return pulumi.Output.all(provider_arn, issuer_host).apply(
        lambda parts: _trust_document(parts[0], parts[1], subject)
    )


def _trust_document(provider_arn: str, issuer_host: str, subject: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Federated": provider_arn},
                    "Action": "sts:AssumeRoleWithWebIdentity",
                    "Condition": {
                        "StringEquals": {
                            f"{issuer_host}:sub": subject,
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


class AwsStorage(pulumi.ComponentResource):
    """S3 buckets and IRSA roles, one of each per :class:`StorageUser`."""

    bindings: dict[str, BucketBinding]

    def __init__(self, name: str, args: StorageArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("fleet:storage:AwsStorage", name, None, opts)
        account_id = args.account.account_id
        assert account_id is not None  # CloudAccount guarantees it for aws
        provider = aws.Provider(
            f"{name}-aws",
            region=args.account.region,
            allowed_account_ids=[account_id],
            opts=pulumi.ResourceOptions(parent=self),
        )
        child = pulumi.ResourceOptions(parent=self, provider=provider)

        issuer: pulumi.Output[str]
        if args.cluster.oidc_issuer is not None:
            issuer = pulumi.Output.from_input(args.cluster.oidc_issuer)
        else:
            cluster = aws.eks.get_cluster_output(
                name=args.cluster.cluster_name, opts=pulumi.InvokeOutputOptions(provider=provider)
            )
            issuer = cluster.identities.apply(
                lambda ids: _require_issuer(ids[0].oidcs[0].issuer if ids and ids[0].oidcs else None, "EKS")
            )
        issuer_host = issuer.apply(lambda url: url.removeprefix("https://").rstrip("/"))
        provider_arn = issuer_host.apply(lambda host: f"arn:aws:iam::{account_id}:oidc-provider/{host}")

        self.bindings = {}
        for user in args.users:
            prefix = f"{name}-{user.component}"
            tags = {**args.tags, "component": user.component}
            physical = bucket_name(args.fleet, args.owner, user.component, account_id)
            bucket = aws.s3.Bucket(prefix, bucket=physical, force_destroy=False, tags=tags, opts=child)
            public = aws.s3.BucketPublicAccessBlock(
                f"{prefix}-public-access",
                bucket=bucket.id,
                block_public_acls=True,
                block_public_policy=True,
                ignore_public_acls=True,
                restrict_public_buckets=True,
                opts=child,
            )
            aws.s3.BucketOwnershipControls(
                f"{prefix}-ownership",
                bucket=bucket.id,
                rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
                opts=child,
            )
            aws.s3.BucketServerSideEncryptionConfiguration(
                f"{prefix}-encryption",
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
                f"{prefix}-tls-only",
                bucket=bucket.id,
                policy=bucket.arn.apply(_tls_only_policy),
                opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[public])),
            )
            role = aws.iam.Role(
                prefix,
                name=physical,
                description=f"{user.component} of {args.owner}: its bucket, nothing else",
                assume_role_policy=_trust_policy(provider_arn, issuer_host, user.subject),
                tags=tags,
                opts=child,
            )
            aws.iam.RolePolicy(
                f"{prefix}-bucket-access",
                role=role.id,
                policy=bucket.arn.apply(_bucket_access_policy),
                opts=child,
            )
            self.bindings[user.component] = BucketBinding(
                backend="s3",
                bucket=bucket.bucket,
                region=args.account.region,
                service_account_annotations=role.arn.apply(lambda arn: {IRSA_ANNOTATION: arn}),
                pod_labels={},
            )
        self.register_outputs({"buckets": {k: b.bucket for k, b in self.bindings.items()}})


class AzureStorage(pulumi.ComponentResource):
    """One storage account, a container and a federated identity per :class:`StorageUser`."""

    bindings: dict[str, BucketBinding]

    def __init__(self, name: str, args: StorageArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("fleet:storage:AzureStorage", name, None, opts)
        subscription = args.account.subscription_id
        assert subscription is not None  # CloudAccount guarantees it for azure
        provider = azure.Provider(
            f"{name}-azure",
            subscription_id=subscription,
            tenant_id=args.account.tenant_id,
            location=args.account.region,
            opts=pulumi.ResourceOptions(parent=self),
        )
        child = pulumi.ResourceOptions(parent=self, provider=provider)

        issuer: pulumi.Output[str]
        if args.cluster.oidc_issuer is not None:
            issuer = pulumi.Output.from_input(args.cluster.oidc_issuer)
        else:
            if args.cluster.resource_group is None:
                raise ValueError(
                    "the AKS cluster's OIDC issuer is unknown: set spec.cluster.oidc_issuer, "
                    "or spec.cluster.resource_group (and name) to look it up"
                )
            cluster = azure.containerservice.get_managed_cluster_output(
                resource_group_name=args.cluster.resource_group,
                resource_name=args.cluster.cluster_name,
                opts=pulumi.InvokeOutputOptions(provider=provider),
            )
            issuer = cluster.oidc_issuer_profile.apply(
                lambda profile: _require_issuer(profile.issuer_url if profile else None, "AKS")
            )

        group = azure.resources.ResourceGroup(
            f"{name}-group",
            resource_group_name=resource_group_name(args.fleet, args.owner),
            location=args.account.region,
            tags=args.tags,
            opts=child,
        )
        account = azure.storage.StorageAccount(
            f"{name}-account",
            account_name=storage_account_name(args.fleet, args.owner, subscription),
            resource_group_name=group.name,
            location=args.account.region,
            kind=azure.storage.Kind.STORAGE_V2,
            sku=azure.storage.SkuArgs(
                name=azure.storage.SkuName.STANDARD_ZRS
                if args.zone_redundant
                else azure.storage.SkuName.STANDARD_LRS
            ),
            access_tier=azure.storage.AccessTier.HOT,
            minimum_tls_version=azure.storage.MinimumTlsVersion.TLS1_2,
            enable_https_traffic_only=True,
            allow_blob_public_access=False,
            # Workload identity only: no account keys, no SAS tokens.
            allow_shared_key_access=False,
            default_to_o_auth_authentication=True,
            allow_cross_tenant_replication=False,
            encryption=azure.storage.EncryptionArgs(
                key_source=azure.storage.KeySource.MICROSOFT_STORAGE,
                require_infrastructure_encryption=True,
                services=azure.storage.EncryptionServicesArgs(
                    blob=azure.storage.EncryptionServiceArgs(enabled=True, key_type="Account"),
                ),
            ),
            tags=args.tags,
            opts=child,
        )

        self.bindings = {}
        for user in args.users:
            prefix = f"{name}-{user.component}"
            container = azure.storage.BlobContainer(
                prefix,
                container_name=user.component,
                account_name=account.name,
                resource_group_name=group.name,
                public_access=azure.storage.PublicAccess.NONE,
                opts=child,
            )
            identity = azure.managedidentity.UserAssignedIdentity(
                prefix,
                resource_name_=f"{args.owner}-{user.component}",
                resource_group_name=group.name,
                location=args.account.region,
                tags={**args.tags, "component": user.component},
                opts=child,
            )
            azure.managedidentity.FederatedIdentityCredential(
                f"{prefix}-federation",
                resource_name_=identity.name,
                resource_group_name=group.name,
                federated_identity_credential_resource_name=f"kubernetes-{user.component}",
                issuer=issuer,
                subject=user.subject,
                audiences=[AZURE_TOKEN_AUDIENCE],
                opts=child,
            )
            azure.authorization.RoleAssignment(
                f"{prefix}-blob-access",
                principal_id=identity.principal_id,
                principal_type=azure.authorization.PrincipalType.SERVICE_PRINCIPAL,
                role_definition_id=(
                    f"/subscriptions/{subscription}/providers/Microsoft.Authorization"
                    f"/roleDefinitions/{BLOB_DATA_CONTRIBUTOR}"
                ),
                scope=container.id,
                opts=child,
            )
            self.bindings[user.component] = BucketBinding(
                backend="azure",
                bucket=container.name,
                region=args.account.region,
                service_account_annotations=identity.client_id.apply(
                    lambda client_id: {WORKLOAD_IDENTITY_ANNOTATION: client_id}
                ),
                pod_labels={WORKLOAD_IDENTITY_LABEL: "true"},
                storage_account=account.name,
            )
        self.register_outputs(
            {"account": account.name, "containers": {k: b.bucket for k, b in self.bindings.items()}}
        )


def object_storage(
    name: str, args: StorageArgs, opts: pulumi.ResourceOptions | None = None
) -> AwsStorage | AzureStorage:
    """The storage component for ``args.account``'s cloud; its ``bindings`` map each
    :class:`StorageUser`'s component to its :class:`BucketBinding`."""
    if args.account.cloud == "aws":
        return AwsStorage(name, args, opts)
    return AzureStorage(name, args, opts)
