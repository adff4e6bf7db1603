"""The control-room Pulumi program: a plain function both engines call inside a Pulumi context."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws
import pulumi_azure_native as azure_native

from controlroom.cluster import oidc_issuer
from controlroom.credentials import Credentials, CredentialsArgs
from controlroom.grafana import Grafana, GrafanaArgs
from controlroom.kube import kubernetes_provider, namespace
from controlroom.mimir import SERVICE_ACCOUNT, Mimir, MimirArgs
from controlroom.storage import MimirStorage, StorageArgs
from fleet.models import ControlRoomStack

MIMIR_NAMESPACE = "mimir"


def _cloud_provider(spec: ControlRoomStack) -> pulumi.ProviderResource:
    room = spec.control_room
    if room.cloud == "aws":
        assert room.account_id is not None
        return aws.Provider(
            "controlroom-aws",
            region=room.region,
            allowed_account_ids=[room.account_id],
            default_tags=aws.ProviderDefaultTagsArgs(tags={"fleet": spec.fleet, "managed-by": "fleet"}),
        )
    return azure_native.Provider(
        "controlroom-azure",
        subscription_id=room.subscription_id,
        tenant_id=room.tenant_id,
        location=room.region,
    )


def controlroom_program(spec: ControlRoomStack) -> None:
    """Create the control room: central Mimir, its storage, the workloads' credentials and the
    fleet Grafana; export ``push_url``, ``query_url``, ``tenants`` and the secret
    ``credentials`` and ``reader``."""
    room = spec.control_room
    cloud = _cloud_provider(spec)
    kube = kubernetes_provider("controlroom-kubernetes", room.cluster)
    with_kube = pulumi.ResourceOptions(provider=kube)

    mimir_namespace = namespace("mimir-namespace", MIMIR_NAMESPACE, with_kube)
    credentials = Credentials(
        "credentials",
        CredentialsArgs(workloads=spec.workloads, namespace=mimir_namespace.metadata.name),
        opts=with_kube,
    )
    storage = MimirStorage(
        "mimir-storage",
        StorageArgs(
            fleet=spec.fleet,
            control_room=room,
            namespace=MIMIR_NAMESPACE,
            service_account=SERVICE_ACCOUNT,
            oidc_issuer=oidc_issuer(spec.fleet, room, cloud),
        ),
        opts=pulumi.ResourceOptions(providers=[cloud]),
    )
    mimir = Mimir(
        "mimir",
        MimirArgs(
            control_room=room,
            version=spec.versions.mimir,
            namespace=mimir_namespace.metadata.name,
            storage=storage.mimir_storage,
            service_account_annotations=storage.service_account_annotations,
            pod_labels=storage.pod_labels,
            depends_on=(credentials.htpasswd_secret, credentials.reader_htpasswd_secret),
        ),
        opts=with_kube,
    )
    Grafana(
        "grafana",
        GrafanaArgs(
            version=spec.versions.grafana,
            workloads=spec.workloads,
            mimir_url=mimir.gateway_url,
            reader_password=credentials.reader_password,
        ),
        opts=with_kube,
    )

    pulumi.export("push_url", room.push_url)
    pulumi.export("query_url", room.query_url)
    pulumi.export("tenants", sorted(spec.workloads))
    pulumi.export("credentials", credentials.credentials)
    pulumi.export("reader", credentials.reader)
