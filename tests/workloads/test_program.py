"""The whole workload program, rendered under mocks from a real inventory, for both clouds."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import kubernetes_validate
import pulumi
import pytest
from kubernetes_validate.utils import latest_version
from pulumi_harness import (
    AKS_ISSUER,
    EKS_ISSUER,
    FLEET_VERSIONS,
    Rendered,
    is_secret,
    workload_document,
)

from fleet.verify.dataflow import check_workload_alloy
from kit.alloy.parser import parse
from kit.alloy.syntax import components

CHART = "kubernetes:helm.sh/v4:Chart"
SECRET = "kubernetes:core/v1:Secret"
CONFIGMAP = "kubernetes:core/v1:ConfigMap"
DIRECT_KUBERNETES = (
    "kubernetes:core/v1:Namespace",
    SECRET,
    CONFIGMAP,
    "kubernetes:core/v1:ServiceAccount",
    "kubernetes:rbac.authorization.k8s.io/v1:Role",
    "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding",
    "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole",
    "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding",
    "kubernetes:apps/v1:Deployment",
    "kubernetes:networking.k8s.io/v1:NetworkPolicy",
)

Render = Callable[..., Rendered]
Stack = Callable[..., Any]


def alloy_config(rendered: Rendered) -> str:
    # The DaemonSet's; the events collector has its own (alloy-events-config).
    (configmap,) = [c for c in rendered.of_type(CONFIGMAP) if c.inputs["metadata"]["name"] == "alloy-config"]
    assert configmap.inputs["metadata"] == {
        "name": "alloy-config",
        "namespace": "alloy",
        "labels": {"app.kubernetes.io/managed-by": "fleet"},
    }
    text: str = configmap.inputs["data"]["config.alloy"]
    return text


def service_account_annotation(rendered: Rendered, chart: str) -> dict[str, str]:
    annotations: dict[str, str] = rendered.chart(chart)["values"]["serviceAccount"]["annotations"]
    return annotations


def test_aws_workload_end_to_end(render: Render, inventory_stack: Stack, credentials: Any) -> None:
    spec = inventory_stack(
        workload_document("web", versions={"loki": "6.30.1"}, mimir={"replicas": 3, "retention": "60d"}),
        workload_document("payments"),
    )
    rendered = render(spec)

    versions = {r.inputs["chart"]: r.inputs["version"] for r in rendered.of_type(CHART)}
    assert versions == {
        "alloy": FLEET_VERSIONS["alloy"],
        "mimir-distributed": FLEET_VERSIONS["mimir"],
        "loki": "6.30.1",  # the workload's pin wins over the fleet's 6.46.0
        "grafana": FLEET_VERSIONS["grafana"],
    }
    repositories = {r.inputs["chart"]: r.inputs["repositoryOpts"]["repo"] for r in rendered.of_type(CHART)}
    assert repositories == {  # spec.charts' defaults: where each chart is published
        "alloy": "https://grafana.github.io/helm-charts",
        "mimir-distributed": "https://grafana.github.io/helm-charts",
        "loki": "https://grafana.github.io/helm-charts",
        "grafana": "https://grafana-community.github.io/helm-charts",
    }

    buckets = sorted(r.inputs["bucket"] for r in rendered.of_type("aws:s3/bucket:Bucket"))
    assert [b.rsplit("-", 1)[0] for b in buckets] == ["web-loki", "web-mimir"]
    roles = {r.name: r.inputs for r in rendered.of_type("aws:iam/role:Role")}
    for component in ("mimir", "loki"):
        role = roles[f"storage-{component}"]
        assert service_account_annotation(
            rendered, "mimir-distributed" if component == "mimir" else "loki"
        ) == {"eks.amazonaws.com/role-arn": f"arn:aws:iam::123456789012:role/{role['name']}"}
        trust = json.loads(role["assumeRolePolicy"])["Statement"][0]
        host = EKS_ISSUER.removeprefix("https://")
        assert trust["Principal"] == {"Federated": f"arn:aws:iam::123456789012:oidc-provider/{host}"}
        assert trust["Condition"]["StringEquals"][f"{host}:sub"] == (
            f"system:serviceaccount:{component}:{component}"
        )

    auth = rendered.one(SECRET, "alloy-mimir-auth")
    assert is_secret(auth.raw_inputs["stringData"])
    assert auth.inputs["metadata"]["namespace"] == "alloy"
    assert auth.inputs["stringData"] == {"username": "web", "password": credentials["web"]["password"]}
    assert credentials["payments"]["password"] not in json.dumps(auth.inputs)

    text = alloy_config(rendered)
    assert "http://mimir-gateway.mimir.svc.cluster.local/api/v1/push" in text
    assert "https://mimir.ctrl.example.com/api/v1/push" in text
    assert "http://loki-gateway.loki.svc.cluster.local/loki/api/v1/push" in text
    assert 'workload = "web"' in text
    assert credentials["web"]["password"] not in text
    assert check_workload_alloy(text, "web", spec.push_url) == []

    mimir = rendered.chart("mimir-distributed")["values"]
    assert mimir["ingester"]["replicas"] == 3
    assert mimir["mimir"]["structuredConfig"]["limits"]["compactor_blocks_retention_period"] == "1440h"


def test_azure_workload_uses_workload_identity(render: Render, inventory_stack: Stack) -> None:
    spec = inventory_stack(workload_document("web", cloud="azure"))
    rendered = render(spec, {"oidc_issuer": AKS_ISSUER})

    (account,) = rendered.of_type("azure-native:storage:StorageAccount")
    assert account.inputs["minimumTlsVersion"] == "TLS1_2"
    assert account.inputs["allowBlobPublicAccess"] is False
    assert account.inputs["allowSharedKeyAccess"] is False
    assert account.inputs["enableHttpsTrafficOnly"] is True
    containers = {
        r.inputs["containerName"]: r.inputs for r in rendered.of_type("azure-native:storage:BlobContainer")
    }
    assert sorted(containers) == ["loki", "mimir"]
    assert {c["publicAccess"] for c in containers.values()} == {"None"}

    identities = {r.name: r for r in rendered.of_type("azure-native:managedidentity:UserAssignedIdentity")}
    assert sorted(identities) == ["storage-loki", "storage-mimir"]
    federations = {
        r.inputs["subject"]: r.inputs
        for r in rendered.of_type("azure-native:managedidentity:FederatedIdentityCredential")
    }
    assert sorted(federations) == ["system:serviceaccount:loki:loki", "system:serviceaccount:mimir:mimir"]
    assert {f["issuer"] for f in federations.values()} == {AKS_ISSUER}
    assert {tuple(f["audiences"]) for f in federations.values()} == {("api://AzureADTokenExchange",)}

    mimir = rendered.chart("mimir-distributed")["values"]
    loki = rendered.chart("loki")["values"]
    mimir_client = service_account_annotation(rendered, "mimir-distributed")[
        "azure.workload.identity/client-id"
    ]
    loki_client = service_account_annotation(rendered, "loki")["azure.workload.identity/client-id"]
    assert mimir_client != loki_client
    assert mimir["ingester"]["podLabels"] == {"azure.workload.identity/use": "true"}
    assert "global" not in mimir  # mimir-distributed 6.0.0 breaks its YAML on global.podLabels
    assert loki["loki"]["podLabels"] == {"azure.workload.identity/use": "true"}
    for store, prefix in (("blocks_storage", "blocks"), ("ruler_storage", "ruler")):
        assert mimir["mimir"]["structuredConfig"][store] == {
            "backend": "azure",
            "azure": {"account_name": account.inputs["accountName"], "container_name": "mimir"},
            "storage_prefix": prefix,
        }
    assert loki["loki"]["storage"]["type"] == "azure"
    assert loki["loki"]["storage"]["azure"] == {
        "accountName": account.inputs["accountName"],
        "useFederatedToken": True,
    }
    assert loki["loki"]["schemaConfig"]["configs"][0]["object_store"] == "azure"
    assert check_workload_alloy(alloy_config(rendered), "web", spec.push_url) == []


def test_grafana_reads_only_the_local_stores(render: Render, inventory_stack: Stack) -> None:
    rendered = render(
        inventory_stack(workload_document("web", grafana={"hostname": "grafana.web.example.com"}))
    )
    values = rendered.chart("grafana")["values"]
    sources = values["datasources"]["datasources.yaml"]["datasources"]
    assert {(s["type"], s["url"]) for s in sources} == {
        ("prometheus", "http://mimir-gateway.mimir.svc.cluster.local/prometheus"),
        ("loki", "http://loki-gateway.loki.svc.cluster.local"),
    }
    assert values["admin"] == {
        "existingSecret": "grafana-admin",
        "userKey": "admin-user",
        "passwordKey": "admin-password",
    }
    admin = rendered.one(SECRET, "grafana-admin")
    assert is_secret(admin.raw_inputs["stringData"])
    (password,) = rendered.of_type("random:index/randomPassword:RandomPassword")
    assert len(admin.inputs["stringData"]["admin-password"]) == password.inputs["length"] == 32
    assert values["ingress"]["hosts"] == ["grafana.web.example.com"]


def test_no_ingress_without_a_hostname(render: Render, inventory_stack: Stack) -> None:
    values = render(inventory_stack(workload_document("web"))).chart("grafana")["values"]
    assert "ingress" not in values


@pytest.mark.parametrize("system_logs", [True, False])
def test_journal_logs_follow_the_spec(render: Render, inventory_stack: Stack, system_logs: bool) -> None:
    rendered = render(inventory_stack(workload_document("web", alloy={"system_logs": system_logs})))
    text = alloy_config(rendered)
    assert ("loki.source.journal" in text) is system_logs
    values = rendered.chart("alloy")["values"]
    mounted = {m["mountPath"] for m in values["alloy"]["mounts"]["extra"]}
    assert ("/var/log/journal" in mounted) is system_logs
    assert {"/host/root", "/host/proc", "/host/sys"} <= mounted


def test_namespace_selection_reaches_alloy(render: Render, inventory_stack: Stack) -> None:
    selected = render(inventory_stack(workload_document("web", alloy={"namespaces": ["shop", "checkout"]})))
    text = alloy_config(selected)
    assert 'names = ["shop", "checkout"]' in text


def test_all_namespaces_when_none_selected(render: Render, inventory_stack: Stack) -> None:
    text = alloy_config(render(inventory_stack(workload_document("web"))))
    # Only the stack's own components (self-monitoring) are looked for in named namespaces.
    (pods,) = [block for cid, block in components(parse(text)) if cid == "discovery.kubernetes.pods"]
    assert not [item for item in pods.body if getattr(item, "name", None) == "namespaces"]


def test_central_metric_filters_reach_alloy(render: Render, inventory_stack: Stack) -> None:
    spec = inventory_stack(workload_document("web", central={"metrics": ["up", "kube_.*"]}))
    text = alloy_config(render(spec))
    assert "write_relabel_config" in text
    assert "(?:up)|(?:kube_.*)" in text
    assert check_workload_alloy(text, "web", spec.push_url) == []


def test_loki_schema_and_retention(render: Render, inventory_stack: Stack) -> None:
    rendered = render(inventory_stack(workload_document("web", loki={"replicas": 2, "retention": "14d"})))
    loki = rendered.chart("loki")["values"]
    (schema,) = loki["loki"]["schemaConfig"]["configs"]
    assert (schema["store"], schema["schema"], schema["object_store"]) == ("tsdb", "v13", "s3")
    assert loki["loki"]["limits_config"]["retention_period"] == "336h"
    assert loki["loki"]["compactor"]["retention_enabled"] is True
    assert [loki[target]["replicas"] for target in ("write", "read", "backend")] == [2, 2, 2]
    (bucket,) = [r for r in rendered.of_type("aws:s3/bucket:Bucket") if r.name == "storage-loki"]
    assert loki["loki"]["storage"]["bucketNames"]["chunks"] == bucket.inputs["bucket"]


def test_issuer_is_looked_up_when_not_configured(render: Render, inventory_stack: Stack) -> None:
    rendered = render(inventory_stack(workload_document("web")), {})
    assert rendered.mocks.calls == ["aws:eks/getCluster:getCluster"]
    role = rendered.one("aws:iam/role:Role", "storage-mimir")
    assert EKS_ISSUER.removeprefix("https://") in role.inputs["assumeRolePolicy"]


def test_every_direct_kubernetes_object_is_valid(render: Render, inventory_stack: Stack) -> None:
    for cloud in ("aws", "azure"):
        spec = inventory_stack(
            workload_document("web", cloud=cloud, alloy={"namespaces": ["shop"]}),
            workload_document("payments"),
        )
        rendered = render(spec, {"oidc_issuer": AKS_ISSUER if cloud == "azure" else EKS_ISSUER})
        direct = [r for r in rendered.resources if r.type in DIRECT_KUBERNETES]
        # namespaces, 2 Secrets + 2 ConfigMaps (Alloy's, the events collector's), Role +
        # RoleBinding, kube-state-metrics (ServiceAccount, ClusterRole, ClusterRoleBinding,
        # Deployment), the events collector's ClusterRole + ClusterRoleBinding, NetworkPolicies:
        # 15 ingress (no Grafana hostname), 17 egress
        assert len(direct) == 4 + 4 + 2 + 4 + 2 + 15 + 17
        for resource in direct:
            kubernetes_validate.validate(resource.inputs, latest_version(), strict=True)


def test_the_secret_holds_the_handed_credential_marked_secret_and_no_stack_is_referenced(
    render: Render, inventory_stack: Stack, credentials: Any
) -> None:
    spec = inventory_stack(workload_document("web"), workload_document("payments"))
    rendered = render(spec)  # handed the plain string: the program marks it secret itself
    assert rendered.of_type("pulumi:pulumi:StackReference") == []
    auth = rendered.one(SECRET, "alloy-mimir-auth")
    assert is_secret(auth.raw_inputs["stringData"])
    assert auth.inputs["stringData"]["password"] == credentials["web"]["password"]
    everything = json.dumps([r.inputs for r in rendered.resources])
    assert everything.count(credentials["web"]["password"]) == 1  # in the Secret alone
    assert credentials["payments"]["password"] not in everything


def test_a_secret_output_handed_in_stays_secret(render: Render, inventory_stack: Stack) -> None:
    password = "handed-" + "x" * 24
    spec = inventory_stack(workload_document("web"))
    rendered = render(spec, credential=pulumi.Output.secret(password))
    auth = rendered.one(SECRET, "alloy-mimir-auth")
    assert is_secret(auth.raw_inputs["stringData"])
    assert auth.inputs["stringData"]["password"] == password


def test_the_program_reads_no_stack_configuration(
    render: Render, inventory_stack: Stack, credentials: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pulumi.config

    read: list[str] = []
    original = pulumi.config.get_config

    def recording(key: str) -> Any:
        read.append(key)
        return original(key)

    monkeypatch.setattr(pulumi.config, "get_config", recording)
    decoy = "decoy-" + "y" * 24  # what an earlier fleet version left as configuration
    spec = inventory_stack(workload_document("web"))
    rendered = render(spec, config={"fleet:centralPassword": decoy})
    assert read == []
    everything = json.dumps([r.inputs for r in rendered.resources])
    assert decoy not in everything
    assert credentials["web"]["password"] in everything
