"""The proofs over the rendered objects, on the example inventory rendered for real (Helm v4, the
chart archives it pins), and on plans broken on purpose: each break fails its invariant, naming
the object.

The inventory is rendered once for the module; each test edits a copy of one stack's plan and
proves that stack alone (charts with unchanged values come from Helm's per-process cache).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from charts import real_charts
from inventories import copy_example
from typer.testing import CliRunner

from fleet.charts.cache import ChartCache
from fleet.charts.expand import ChartNotCached
from fleet.cli.main import app
from fleet.engines.render import render_all
from fleet.inventory.loader import Inventory
from fleet.verify.dataflow import Violation
from fleet.verify.hardening import HARDENING_INVARIANTS
from fleet.verify.rendered import verify_objects
from kit.sizing import SIDECAR

AZURE_ROOM = """\
    cloud: azure
    region: westeurope
    subscription_id: "0b5e9f43-7c2a-4d8e-9a61-3f2d8c4b1e07"
    tenant_id: "6c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f"
"""


@pytest.fixture(scope="module", autouse=True)
def charts() -> Iterator[Path]:
    """The shared chart archives and a Helm, for this module's proofs (the example's plans come
    from conftest, rendered once per session)."""
    with real_charts() as cache:
        yield cache


Edit = Callable[[dict[str, Any]], None]


def prove(inventory: Inventory, plans: dict[str, dict[str, Any]], stack: str, edit: Edit) -> list[Violation]:
    """The object proofs of ``stack`` after ``edit`` changed a copy of its plan; every violation."""
    plan = copy.deepcopy(plans[stack])
    edit(plan)
    results = verify_objects(inventory, {stack: plan})
    return [v for violations in results[stack].values() for v in violations]


def chart_values(plan: dict[str, Any], resource: str) -> dict[str, Any]:
    (chart,) = [r for r in plan["resources"] if r["name"] == resource and r["type"].endswith(":Chart")]
    values: dict[str, Any] = chart["inputs"]["values"]
    return values


def summary(violations: list[Violation]) -> list[tuple[str | int, str]]:
    return sorted({(v.invariant, v.component) for v in violations}, key=str)


# --- passing ------------------------------------------------------------------------------------


def test_every_stack_of_the_example_inventory_passes(
    inventory: Inventory, plans: dict[str, dict[str, Any]]
) -> None:
    results = verify_objects(inventory, plans)
    assert list(results) == list(inventory.stacks())
    for stack, proofs in results.items():
        assert list(proofs) == [
            name
            for name in (
                "provider",
                "schema",
                "references",
                "urls",
                "alloy",
                "storage",
                "replicas",
                "values",
                "alerting",
                *HARDENING_INVARIANTS,
            )
            if stack != "controlroom" or name != "alloy"
        ]
        assert {name: v for name, v in proofs.items() if v} == {}, stack


def test_fleet_verify_renders_every_chart_and_passes(inventory: Inventory) -> None:
    result = CliRunner().invoke(app, ["-i", str(inventory.root), "verify"])
    assert result.exit_code == 0, result.output
    *lines, summary = result.output.splitlines()
    assert all(line.startswith("PASS ") for line in lines), lines
    assert summary == f"verified {len(inventory.stacks())} stacks: all passed"
    assert "PASS analytics-prod: invariant storage" in lines  # an Azure workload
    assert "PASS controlroom: invariant references" in lines


def test_with_the_control_room_on_azure_too(inventory: Inventory, tmp_path: Path) -> None:
    root = copy_example(tmp_path / "azure")
    fleet_yaml = root / "fleet.yaml"
    text = fleet_yaml.read_text(encoding="utf-8")
    aws = '    cloud: aws\n    region: us-east-1\n    account_id: "123456789012"\n'
    assert aws in text
    fleet_yaml.write_text(text.replace(aws, AZURE_ROOM), encoding="utf-8")
    result = CliRunner().invoke(app, ["-i", str(root), "verify"])
    assert result.exit_code == 0, result.output
    assert "PASS controlroom: invariant storage" in result.output.splitlines()


# --- broken on purpose --------------------------------------------------------------------------


def test_a_wrong_configmap_key_fails_alloy(inventory: Inventory, plans: dict[str, dict[str, Any]]) -> None:
    def edit(plan: dict[str, Any]) -> None:
        chart_values(plan, "alloy-chart")["alloy"]["configMap"]["key"] = "wrong.alloy"

    violations = prove(inventory, plans, "payments-prod", edit)
    assert summary(violations) == [("alloy", "DaemonSet alloy/alloy")]
    assert "loads /etc/alloy/wrong.alloy" in violations[0].message


def test_a_gateway_url_with_a_wrong_name_fails_urls(
    inventory: Inventory, plans: dict[str, dict[str, Any]]
) -> None:
    def edit(plan: dict[str, Any]) -> None:
        for resource in plan["resources"]:
            if resource["type"] == "kubernetes:core/v1:ConfigMap":
                data = resource["inputs"]["data"]
                data["config.alloy"] = data["config.alloy"].replace("//mimir-gateway.", "//mimir-gw.")

    # search-staging: no local alerting, so Alloy's is the one ConfigMap the program declares.
    violations = prove(inventory, plans, "search-staging", edit)
    assert summary(violations) == [("urls", "ConfigMap alloy/alloy-config")]
    assert "no Service mimir/mimir-gw in the stack" in violations[0].message


def test_a_grafana_datasource_on_a_port_nobody_serves_fails_urls(
    inventory: Inventory, plans: dict[str, dict[str, Any]]
) -> None:
    def edit(plan: dict[str, Any]) -> None:
        (source, _loki) = chart_values(plan, "grafana-chart")["datasources"]["datasources.yaml"][
            "datasources"
        ]
        source["url"] = source["url"].replace(".svc.cluster.local/", ".svc.cluster.local:9009/")

    violations = prove(inventory, plans, "search-staging", edit)
    assert summary(violations) == [("urls", "ConfigMap grafana/grafana")]
    assert "Service mimir/mimir-gateway has no port 9009" in violations[0].message


def test_s3_blocks_storage_on_azure_fails_storage(
    inventory: Inventory, plans: dict[str, dict[str, Any]]
) -> None:
    def edit(plan: dict[str, Any]) -> None:
        # What fleet used to set: common.storage only, so the chart's blocks_storage.backend (s3) wins.
        config = chart_values(plan, "mimir-chart")["mimir"]["structuredConfig"]
        config["common"] = {
            "storage": {k: v for k, v in config.pop("blocks_storage").items() if k != "storage_prefix"}
        }

    violations = prove(inventory, plans, "analytics-prod", edit)
    assert summary(violations) == [("storage", "ConfigMap mimir/mimir-config")]
    assert violations[0].message == "blocks_storage is on s3; the stack's storage is azure"


def test_blocks_sharing_the_rulers_prefix_fails_storage(
    inventory: Inventory, plans: dict[str, dict[str, Any]]
) -> None:
    def edit(plan: dict[str, Any]) -> None:
        config = chart_values(plan, "mimir-chart")["mimir"]["structuredConfig"]
        config["ruler_storage"]["storage_prefix"] = "blocks"

    # search-staging: no local alerting, so its ruler keeps its rules in the bucket.
    violations = prove(inventory, plans, "search-staging", edit)
    assert summary(violations) == [("storage", "ConfigMap mimir/mimir-config")]
    assert "blocks_storage and ruler_storage share bucket and prefix" in violations[0].message


def test_an_unread_value_path_fails_values(inventory: Inventory, plans: dict[str, dict[str, Any]]) -> None:
    def edit(plan: dict[str, Any]) -> None:
        chart_values(plan, "mimir-chart")["gateway"]["enabledNonEnterprise"] = True

    violations = prove(inventory, plans, "search-staging", edit)
    assert summary(violations) == [("values", "mimir-chart (mimir-distributed 6.0.0)")]
    assert violations[0].message.startswith("gateway.enabledNonEnterprise is not read by the chart")


def test_a_missing_tls_secret_fails_references(
    inventory: Inventory, plans: dict[str, dict[str, Any]]
) -> None:
    def edit(plan: dict[str, Any]) -> None:
        # No cert-manager issuer, and the inventory names no Secret: nothing makes the certificate.
        chart_values(plan, "mimir-chart")["gateway"]["ingress"]["annotations"] = {}

    violations = prove(inventory, plans, "controlroom", edit)
    assert summary(violations) == [("references", "Ingress mimir/mimir-gateway")]
    assert (
        "TLS Secret mimir/mimir-gateway-tls does not exist and nothing provides it" in violations[0].message
    )


def test_a_schema_invalid_object_fails_schema(inventory: Inventory, plans: dict[str, dict[str, Any]]) -> None:
    def edit(plan: dict[str, Any]) -> None:
        chart_values(plan, "mimir-chart")["distributor"]["replicas"] = "three"

    violations = prove(inventory, plans, "payments-prod", edit)
    assert ("schema", "Deployment mimir/mimir-distributor") in summary(violations)
    (schema,) = [v for v in violations if v.invariant == "schema"]
    assert schema.message == "spec.replicas: 'three' is not of type 'integer', 'null'"


def test_the_charts_demo_kafka_fails_replicas(inventory: Inventory, plans: dict[str, dict[str, Any]]) -> None:
    def edit(plan: dict[str, Any]) -> None:
        chart_values(plan, "mimir-chart")["kafka"] = {"enabled": True}

    violations = prove(inventory, plans, "search-staging", edit)
    assert ("replicas", "StatefulSet mimir/mimir-kafka") in summary(violations)


def test_a_single_replica_write_path_fails_replicas(
    inventory: Inventory, plans: dict[str, dict[str, Any]]
) -> None:
    def edit(plan: dict[str, Any]) -> None:
        chart_values(plan, "loki-chart")["gateway"]["replicas"] = 1

    violations = prove(inventory, plans, "analytics-prod", edit)  # loki: {replicas: 3}
    assert summary(violations) == [("replicas", "Deployment loki/loki-gateway")]


def test_another_reader_of_the_credential_fails_alloy(
    inventory: Inventory, plans: dict[str, dict[str, Any]]
) -> None:
    def edit(plan: dict[str, Any]) -> None:
        # The Loki chart's defaults: its rules sidecar, and a ClusterRole reading every Secret for it.
        values = chart_values(plan, "loki-chart")
        values["rbac"] = {"namespaced": False}
        values["sidecar"] = {"resources": SIDECAR.values(), "rules": {"enabled": True}}

    violations = prove(inventory, plans, "search-staging", edit)
    assert summary(violations) == [("alloy", "Secret alloy/mimir-auth")]
    assert violations[0].message == "is readable by other ServiceAccounts: loki/loki"


def test_a_program_without_its_cluster_provider_fails_provider(
    inventory: Inventory, plans: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import workloads.program

    monkeypatch.setattr(workloads.program, "kubernetes_provider", lambda *args, **kwargs: None)
    out = tmp_path / "plans"
    out.mkdir()
    state = inventory.root.parent / "plans" / ".state"
    (out / ".state").mkdir()
    (out / ".state" / "controlroom.json").write_text((state / "controlroom.json").read_text("utf-8"), "utf-8")
    render_all(inventory, ["search-staging"], out)
    plan = json.loads((out / "search-staging" / "plan.json").read_text(encoding="utf-8"))
    violations = verify_objects(inventory, {"search-staging": plan})["search-staging"]["provider"]
    assert [(v.component, v.message) for v in violations] == [
        (
            "search-staging",
            "the plan has 0 Kubernetes providers (none); expected one for its cluster",
        )
    ]


def test_a_resource_on_the_default_provider_fails_provider(
    inventory: Inventory, plans: dict[str, dict[str, Any]]
) -> None:
    def edit(plan: dict[str, Any]) -> None:
        for resource in plan["resources"]:
            if resource["name"] == "alloy-mimir-auth":
                resource["provider"] = None

    violations = prove(inventory, plans, "payments-prod", edit)
    assert [(v.invariant, v.component) for v in violations] == [("provider", "Secret alloy-mimir-auth")]
    assert "the default provider" in violations[0].message


def test_a_chart_missing_from_the_cache_names_it_and_how_to_pull(
    inventory: Inventory, plans: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    with pytest.raises(ChartNotCached) as caught:
        verify_objects(inventory, plans, ChartCache(tmp_path))
    assert str(caught.value) == (
        f"chart grafana 10.1.4 is not in the chart cache ({tmp_path}); "
        "run `fleet charts pull` (or `fleet charts pull --from DIR` offline)"
    )
    result = CliRunner().invoke(
        app, ["-i", str(inventory.root), "verify"], env={"FLEET_CHART_CACHE": str(tmp_path)}
    )
    assert result.exit_code == 1
    assert "chart grafana 10.1.4 is not in the chart cache" in result.output


def test_a_control_room_without_its_collector_fails_alerting(
    inventory: Inventory, plans: dict[str, dict[str, Any]]
) -> None:
    def edit(plan: dict[str, Any]) -> None:
        (config,) = [
            r
            for r in plan["resources"]
            if r["type"] == "kubernetes:core/v1:ConfigMap"
            and r["inputs"]["metadata"]["name"] == "hub-collector-config"
        ]
        config["inputs"]["data"]["config.alloy"] = config["inputs"]["data"]["config.alloy"].replace(
            '"fleet_gateway_"', '"loki_process_custom_"'
        )

    violations = [v for v in prove(inventory, plans, "controlroom", edit) if v.invariant == "alerting"]
    assert [v.message for v in violations] == [
        "FleetGatewayUnauthorized reads fleet_gateway_requests_total, "
        "which the hub's collector does not collect"
    ]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"replicas": 2}, "is a Deployment of 2 replicas: every replica reads every event"),
        ({"updateStrategy": {"type": "RollingUpdate"}}, "is rolled with a surge"),
    ],
)
def test_an_events_collector_that_could_read_events_twice_fails_alloy(
    inventory: Inventory, plans: dict[str, dict[str, Any]], change: dict[str, Any], message: str
) -> None:
    def edit(plan: dict[str, Any]) -> None:
        chart_values(plan, "alloy-events-chart")["controller"].update(change)

    violations = prove(inventory, plans, "payments-prod", edit)
    assert summary(violations) == [("alloy", "Deployment alloy/alloy-events")]
    assert message in violations[0].message


def test_an_events_collector_that_may_not_watch_events_fails_alloy(
    inventory: Inventory, plans: dict[str, dict[str, Any]]
) -> None:
    def edit(plan: dict[str, Any]) -> None:
        (role,) = [
            r
            for r in plan["resources"]
            if r["name"] == "alloy-events-watch-events" and "Role" in r["type"] and "Binding" not in r["type"]
        ]
        role["inputs"]["rules"][0]["verbs"] = ["get"]

    violations = prove(inventory, plans, "payments-prod", edit)
    assert summary(violations) == [("alloy", "Deployment alloy/alloy-events")]
    assert "may not list and watch events" in violations[0].message
