"""The workload's Grafana."""

from __future__ import annotations

from collections.abc import Callable

import pulumi
from pulumi_harness import FleetMocks, is_secret

from fleet.inventory.models import GRAFANA_COMMUNITY_REPOSITORY, GrafanaSettings
from workloads.grafana import Grafana, GrafanaArgs, datasources

MIMIR = "http://mimir-gateway.mimir.svc.cluster.local/prometheus"
LOKI = "http://loki-gateway.loki.svc.cluster.local"


def test_datasources_are_the_local_mimir_and_loki() -> None:
    provisioned = datasources(MIMIR, LOKI)
    by_type = {source["type"]: source for source in provisioned["datasources"]}
    assert sorted(by_type) == ["loki", "prometheus"]
    assert by_type["prometheus"]["url"] == MIMIR
    assert by_type["prometheus"]["isDefault"] is True
    assert by_type["loki"]["url"] == LOKI


def test_with_local_alerting_grafana_reads_the_local_alertmanager() -> None:
    gateway = "http://mimir-gateway.mimir.svc.cluster.local"
    provisioned = datasources(MIMIR, LOKI, gateway)
    by_type = {source["type"]: source for source in provisioned["datasources"]}
    assert sorted(by_type) == ["alertmanager", "loki", "prometheus"]
    alertmanager = by_type["alertmanager"]
    assert alertmanager["url"] == gateway
    assert alertmanager["jsonData"]["implementation"] == "mimir"
    assert alertmanager.get("isDefault") is None


def test_admin_password_lives_in_a_secret(pulumi_runtime: Callable[..., FleetMocks]) -> None:
    mocks = pulumi_runtime()

    @pulumi.runtime.test
    def declare() -> pulumi.Output[None]:
        grafana = Grafana(
            "grafana",
            GrafanaArgs("10.1.4", GRAFANA_COMMUNITY_REPOSITORY, "grafana", GrafanaSettings(), MIMIR, LOKI),
        )
        assert grafana.url is None

        def check(password: str) -> None:
            assert len(password) == 32

        return grafana.admin_password.apply(check)

    declare()
    (secret,) = [r for r in mocks.resources if r.type == "kubernetes:core/v1:Secret"]
    assert is_secret(secret.raw_inputs["stringData"])
    assert secret.inputs["metadata"]["name"] == "grafana-admin"
    assert set(secret.inputs["stringData"]) == {"admin-user", "admin-password"}
    (chart,) = [r.inputs for r in mocks.resources if r.type == "kubernetes:helm.sh/v4:Chart"]
    assert chart["values"]["admin"]["existingSecret"] == "grafana-admin"
    assert secret.inputs["stringData"]["admin-password"] not in str(chart)


def test_hostname_gives_an_ingress(pulumi_runtime: Callable[..., FleetMocks]) -> None:
    mocks = pulumi_runtime()

    @pulumi.runtime.test
    def declare() -> pulumi.Output[None] | None:
        settings = GrafanaSettings(hostname="grafana.web.example.com")
        grafana = Grafana(
            "grafana", GrafanaArgs("10.1.4", GRAFANA_COMMUNITY_REPOSITORY, "grafana", settings, MIMIR, LOKI)
        )
        assert grafana.url is not None

        def check(url: str) -> None:
            assert url == "https://grafana.web.example.com/"

        return grafana.url.apply(check)

    declare()
    (chart,) = [r.inputs for r in mocks.resources if r.type == "kubernetes:helm.sh/v4:Chart"]
    assert chart["values"]["ingress"]["enabled"] is True
    assert chart["values"]["ingress"]["hosts"] == ["grafana.web.example.com"]
    assert chart["values"]["grafana.ini"]["server"]["domain"] == "grafana.web.example.com"
