"""The workload's Alloy: its config, its credential Secret, its RBAC."""

from __future__ import annotations

from collections.abc import Callable

import pulumi
from pulumi_harness import FleetMocks, is_secret

from fleet.inventory.models import GRAFANA_REPOSITORY, AlloySettings, CentralExport
from fleet.verify.dataflow import check_workload_alloy
from workloads.alloy import Alloy, AlloyArgs, alloy_values

CENTRAL = "https://mimir.ctrl.example.com/api/v1/push"


def args(password: str = "s3cret-password", **settings: object) -> AlloyArgs:
    return AlloyArgs(
        version="1.4.0",
        repository=GRAFANA_REPOSITORY,
        namespace="collectors",
        workload="web",
        settings=AlloySettings.model_validate(settings),
        central=CentralExport(),
        central_push_url=CENTRAL,
        central_password=password,
        local_metrics_url="http://mimir-gateway.mimir.svc.cluster.local/api/v1/push",
        local_logs_url="http://loki-gateway.loki.svc.cluster.local/loki/api/v1/push",
    )


def test_config_points_at_the_secret_in_alloys_namespace(pulumi_runtime: Callable[..., FleetMocks]) -> None:
    mocks = pulumi_runtime()

    @pulumi.runtime.test
    def declare() -> pulumi.Output[None]:
        alloy = Alloy("alloy", args())

        def check(text: str) -> None:
            assert 'namespace = "collectors"' in text
            assert 'name      = "mimir-auth"' in text
            assert "s3cret-password" not in text
            assert check_workload_alloy(text, "web", CENTRAL) == []

        return alloy.config_text.apply(check)

    declare()
    (secret,) = [r for r in mocks.resources if r.type == "kubernetes:core/v1:Secret"]
    assert is_secret(secret.raw_inputs["stringData"])
    assert secret.inputs["metadata"]["namespace"] == "collectors"
    assert secret.inputs["stringData"] == {"username": "web", "password": "s3cret-password"}
    (configmap,) = [r for r in mocks.resources if r.type == "kubernetes:core/v1:ConfigMap"]
    assert not is_secret(configmap.raw_inputs["data"])
    assert "s3cret-password" not in str(configmap.inputs)


def test_only_the_auth_secret_is_readable(pulumi_runtime: Callable[..., FleetMocks]) -> None:
    mocks = pulumi_runtime()

    @pulumi.runtime.test
    def declare() -> None:
        Alloy("alloy", args())

    declare()
    (role,) = [r.inputs for r in mocks.resources if r.type == "kubernetes:rbac.authorization.k8s.io/v1:Role"]
    assert role["rules"] == [
        {
            "apiGroups": [""],
            "resources": ["secrets"],
            "resourceNames": ["mimir-auth"],
            "verbs": ["get", "list", "watch"],
        }
    ]
    (binding,) = [
        r.inputs for r in mocks.resources if r.type == "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"
    ]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "alloy", "namespace": "collectors"}]
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    values = alloy_values(system_logs=True)
    cluster_wide = values["rbac"]["rules"] + values["rbac"]["clusterRules"]
    assert not any("secrets" in rule.get("resources", []) for rule in cluster_wide)
    assert any("nodes/proxy" in rule.get("resources", []) for rule in cluster_wide)


def test_chart_runs_a_clustered_daemonset_on_our_configmap() -> None:
    values = alloy_values(system_logs=False)
    assert values["controller"]["type"] == "daemonset"
    assert values["alloy"]["clustering"] == {"enabled": True}
    assert values["alloy"]["configMap"] == {"create": False, "name": "alloy-config", "key": "config.alloy"}
    extra = values["controller"]["volumes"]["extra"]
    volumes = {v["name"]: v["hostPath"]["path"] for v in extra if "hostPath" in v}
    assert volumes == {"host-root": "/", "host-proc": "/proc", "host-sys": "/sys"}
    # The node's filesystems are read-only; Alloy writes only to its own emptyDir.
    assert [v["name"] for v in extra if "hostPath" not in v] == ["alloy-storage"]
    host_mounts = [m for m in values["alloy"]["mounts"]["extra"] if m["name"] != "alloy-storage"]
    assert all(mount["readOnly"] for mount in host_mounts)


def test_alloy_runs_restricted_and_as_root_only_to_read_the_journal() -> None:
    without_journal = alloy_values(system_logs=False)
    assert without_journal["global"]["podSecurityContext"]["runAsNonRoot"] is True
    with_journal = alloy_values(system_logs=True)["global"]["podSecurityContext"]
    assert with_journal["runAsUser"] == 0 and "runAsNonRoot" not in with_journal
    for values in (without_journal, alloy_values(system_logs=True)):
        context = values["alloy"]["securityContext"]
        assert context["capabilities"] == {"drop": ["ALL"]}
        assert context["allowPrivilegeEscalation"] is False and context["readOnlyRootFilesystem"] is True
    # By default Alloy runs on every node, tainted or not.
    assert without_journal["controller"]["tolerations"] == [{"operator": "Exists"}]


def test_journal_mounts_only_with_system_logs() -> None:
    with_logs = {m["mountPath"] for m in alloy_values(system_logs=True)["alloy"]["mounts"]["extra"]}
    without = {m["mountPath"] for m in alloy_values(system_logs=False)["alloy"]["mounts"]["extra"]}
    assert with_logs - without == {"/var/log/journal", "/run/log/journal", "/etc/machine-id"}
