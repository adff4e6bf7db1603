from __future__ import annotations

import json
from pathlib import Path

import kubernetes_validate
import pytest

from fleet.engines.render import REDACTED, RenderEngine

from .conftest import RenderControlRoom, write_inventory

KUBERNETES_VERSION = "1.33.0"


def test_outputs(render_controlroom: RenderControlRoom) -> None:
    outputs = render_controlroom("aws", workloads=("beta", "alpha")).plan["outputs"]
    assert outputs["push_url"] == "https://mimir.ctrl.acme.example/api/v1/push"
    assert outputs["query_url"] == "https://mimir.ctrl.acme.example/prometheus"
    assert outputs["tenants"] == ["alpha", "beta"]
    assert sorted(k for k in outputs if k.startswith("credential")) == ["credential-alpha", "credential-beta"]


def test_each_credential_and_the_reader_are_secret_outputs(tmp_path: Path) -> None:
    from fleet.inventory.loader import load_inventory

    root = write_inventory(tmp_path / "inventory", "aws", ["alpha"])
    path = RenderEngine(tmp_path / "out").render(load_inventory(root), "controlroom")
    outputs = json.loads(path.read_text(encoding="utf-8"))["outputs"]
    assert outputs["credential-alpha"] == REDACTED
    assert outputs["reader"] == REDACTED
    assert outputs["tenants"] == ["alpha"]


def _manifest(resource: dict[str, object]) -> dict[str, object]:
    inputs = dict(resource["inputs"])  # type: ignore[call-overload]
    group_version, kind = str(resource["type"]).removeprefix("kubernetes:").rsplit(":", 1)
    group, version = group_version.split("/")
    assert inputs["kind"] == kind
    assert inputs["apiVersion"] == (version if group == "core" else f"{group}/{version}")
    return inputs


@pytest.mark.parametrize("cloud", ["aws", "azure"])
def test_every_kubernetes_object_validates(render_controlroom: RenderControlRoom, cloud: str) -> None:
    rendered = render_controlroom(cloud)
    objects = [
        r
        for r in rendered.plan["resources"]
        if r["type"].startswith("kubernetes:") and not r["type"].startswith("kubernetes:helm.sh/")
    ]
    kinds = sorted({r["type"] for r in objects})
    assert kinds == [
        "kubernetes:apps/v1:Deployment",
        "kubernetes:core/v1:ConfigMap",
        "kubernetes:core/v1:Namespace",
        "kubernetes:core/v1:Secret",
        "kubernetes:core/v1:ServiceAccount",
        "kubernetes:networking.k8s.io/v1:NetworkPolicy",
        "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole",
        "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding",
        "kubernetes:rbac.authorization.k8s.io/v1:Role",
        "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding",
    ]
    # 3 namespaces (Mimir, Grafana, the hub collector), 5 Secrets (htpasswd: workloads, reader,
    # rotation), the rule, Alertmanager and collector ConfigMaps, 12 ingress and 13 egress
    # NetworkPolicies; the collector's kube-state-metrics (ServiceAccount, Role and binding in
    # Mimir's namespace, Deployment) and its own grants (nodes: cluster-wide; pods: its namespace)
    assert len(objects) == 11 + 12 + 13 + 4 + 4
    for resource in objects:
        kubernetes_validate.validate(_manifest(resource), KUBERNETES_VERSION, strict=True)


def test_a_broken_object_fails_validation() -> None:
    broken = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}, "stringData": {"a": 1}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_kubernetes_provider_uses_the_cluster_section(render_controlroom: RenderControlRoom) -> None:
    provider = render_controlroom("aws").resource("controlroom-kubernetes")
    assert provider["type"] == "pulumi:providers:kubernetes"
    assert provider["inputs"]["kubeconfig"] == "/etc/kube/ctrl.yaml"
    assert provider["inputs"]["context"] == "ctrl"
    assert provider["inputs"]["enableServerSideApply"] == "true"  # provider inputs are strings
