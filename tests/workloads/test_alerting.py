"""A workload's local alerting, proved on the objects mimir-distributed and loki render for real
with fleet's values: the local Mimir's ruler and Alertmanager read the shipped rules and
configuration from the ConfigMaps the stack creates, mounted in the no-auth tenant's place;
Loki's ruler (in its backend pods, at both supported Loki chart versions) reads the log rules the
same way and sends to that Alertmanager; the workload's Grafana shows that Alertmanager (a
provisioned datasource the Mimir gateway routes to it); every `fleet verify` proof passes, and the
alerting proof catches rules mounted for the wrong tenant or a log rule Loki would refuse."""

from __future__ import annotations

import http.client
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from charts import real_charts
from inventories import AWS_WORKLOAD, fleet_yaml, workload_yaml, write_inventory
from nginx import RecordingUpstream, free_port, replace_each, require_nginx, run_nginx
from promtool import check_rules, needs_promtool

from fleet.charts.cache import ChartCache
from fleet.charts.expand import KubeObject, expand_plan, kubernetes_objects
from fleet.engines.render import RenderEngine, default_programs
from fleet.inventory.loader import load_inventory
from fleet.verify.alerting import check_alerting, dashboard_queries, recording_rule_series
from fleet.verify.hardening import check_hardening
from fleet.verify.logql import logql_problems
from fleet.verify.objects import StackObjects, check_references, pod_spec
from fleet.verify.rendered import expectation
from fleet.verify.stores import check_storage
from fleet.verify.wiring import check_urls
from kit.alerting.alertmanager import ENV_SECRET, SECRETS_DIR
from kit.alerting.mimir import ALERTMANAGER_DIR, RULES_DIR
from workloads.alerting import (
    ALERTMANAGER_CONFIGMAP,
    ALERTMANAGER_SERVICE,
    LOG_RULES_CONFIGMAP,
    LOKI_RULES_DIR,
    LOKI_TENANT,
    MIMIR_TENANT,
    RULES_CONFIGMAP,
    alertmanager_url,
)

WEBHOOK = "https://hooks.example.net/T0/shop-secret-9931"
ALERTING = (
    "  alerting:\n"
    "    enabled: true\n"
    "    thresholds: {pending: 5m}\n"
    "    receiver: shop-oncall\n"
    "    receivers:\n"
    "      - name: shop-oncall\n"
    "        webhook: {url: {env: FLEET_TEST_SHOP_URL}}\n"
    "      - name: shop-chat\n"
    "        slack: {api_url: {kubernetes: alertmanager-slack/url}}\n"
)
LOKI_VERSIONS = {"shop": "6.46.0", "legacy": "6.30.1"}
RBAC_KINDS = ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding")


@dataclass
class Rendered:
    plan: dict[str, Any]
    objects: StackObjects

    def pods(self, chart: str, component: str) -> list[KubeObject]:
        return [
            o
            for o in self.objects.of_kind("Deployment", "StatefulSet")
            if o.chart == chart
            and (o.manifest["metadata"].get("labels") or {}).get("app.kubernetes.io/component") == component
        ]

    def config(self, key: str) -> dict[str, Any]:
        (found,) = [
            yaml.safe_load(o.manifest["data"][key])
            for o in self.objects.of_kind("ConfigMap")
            if key in (o.manifest.get("data") or {})
        ]
        return dict(found)

    def data(self, namespace: str, name: str) -> dict[str, str]:
        config_map = self.objects.find("ConfigMap", namespace, name)
        assert config_map is not None, f"no ConfigMap {namespace}/{name}"
        return dict(config_map.manifest["data"])


def _mounts(item: KubeObject) -> dict[str, dict[str, Any]]:
    """Mount path -> the volume mounted there, across the pod's containers."""
    spec = pod_spec(item) or {}
    volumes = {v["name"]: v for v in spec.get("volumes") or []}
    return {
        m["mountPath"]: volumes[m["name"]]
        for c in spec.get("containers") or []
        for m in c.get("volumeMounts") or []
        if m["name"] in volumes
    }


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Rendered]]:
    root = tmp_path_factory.mktemp("local-alerting")
    inventory_dir = write_inventory(root / "inventory", ["plain"], fleet=fleet_yaml())
    for name, loki in LOKI_VERSIONS.items():
        spec = AWS_WORKLOAD + f'  versions: {{loki: "{loki}"}}\n' + ALERTING
        (inventory_dir / "workloads" / f"{name}.yaml").write_text(workload_yaml(name, spec), encoding="utf-8")
    nologs = AWS_WORKLOAD + ALERTING + "    logs: false\n"
    (inventory_dir / "workloads" / "nologs.yaml").write_text(
        workload_yaml("nologs", nologs), encoding="utf-8"
    )
    with real_charts() as cache, pytest.MonkeyPatch.context() as patch:
        patch.setenv("FLEET_TEST_SHOP_URL", WEBHOOK)
        inventory = load_inventory(inventory_dir)
        engine = RenderEngine(root / "render", show_secrets=False, programs=default_programs())
        paths = engine.render_many(inventory, ["controlroom", "plain", "nologs", *LOKI_VERSIONS])
        stacks = {}
        for name in ("plain", "nologs", *LOKI_VERSIONS):
            plan = json.loads(paths[name].read_text(encoding="utf-8"))
            expect = expectation(inventory, name)
            charts = expand_plan(plan, ChartCache(cache), expect.kubernetes_version)
            objects = StackObjects(name, plan, charts, kubernetes_objects(plan, charts), expect)
            stacks[name] = Rendered(plan, objects)
        yield stacks


def test_off_by_default_nothing_is_installed(rendered: dict[str, Rendered]) -> None:
    plain = rendered["plain"]
    assert plain.pods("mimir-chart", "alertmanager") == []
    assert plain.config("mimir.yaml")["ruler_storage"]["backend"] == "s3"
    assert plain.config("config.yaml")["ruler"]["storage"]["type"] == "s3"
    names = {o.name for o in plain.objects.of_kind("ConfigMap")}
    assert not names & {RULES_CONFIGMAP, ALERTMANAGER_CONFIGMAP, LOG_RULES_CONFIGMAP}


def test_without_logs_only_the_mimir_rules_are_installed(rendered: dict[str, Rendered]) -> None:
    nologs = rendered["nologs"]
    assert nologs.config("config.yaml")["ruler"]["storage"]["type"] == "s3"
    assert nologs.objects.find("ConfigMap", "loki", LOG_RULES_CONFIGMAP) is None
    assert nologs.config("mimir.yaml")["ruler_storage"]["backend"] == "local"
    assert nologs.pods("mimir-chart", "alertmanager")


def test_mimir_runs_its_ruler_and_alertmanager_on_the_shipped_files(rendered: dict[str, Rendered]) -> None:
    shop = rendered["shop"]
    config = shop.config("mimir.yaml")
    assert config["multitenancy_enabled"] is False
    assert config["ruler_storage"] == {"backend": "local", "local": {"directory": RULES_DIR}}
    assert config["alertmanager_storage"] == {"backend": "local", "local": {"path": ALERTMANAGER_DIR}}
    assert "mimir-alertmanager-headless" in config["ruler"]["alertmanager_url"]
    rulers = shop.pods("mimir-chart", "ruler")
    assert rulers, "the chart renders no ruler"
    for ruler in rulers:
        assert _mounts(ruler)[f"{RULES_DIR}/{MIMIR_TENANT}"]["configMap"]["name"] == RULES_CONFIGMAP
    alertmanagers = shop.pods("mimir-chart", "alertmanager")
    assert alertmanagers, "the chart renders no Alertmanager"
    for alertmanager in alertmanagers:
        mounts = _mounts(alertmanager)
        assert mounts[ALERTMANAGER_DIR]["configMap"]["name"] == ALERTMANAGER_CONFIGMAP
        sources = [s["secret"]["name"] for s in mounts[SECRETS_DIR]["projected"]["sources"]]
        assert sources == [ENV_SECRET, "alertmanager-slack"]


@needs_promtool
def test_a_workloads_dashboards_read_no_recording_rule(rendered: dict[str, Rendered]) -> None:
    """A workload's Grafana shows fleet's own dashboards only (its Mimir renders none of the
    mixin's), and they read raw series: no workload needs recording rules for its panels."""
    for name, stack in rendered.items():
        dashboards = {
            key: text
            for item in stack.objects.of_kind("ConfigMap")
            for key, text in (item.manifest.get("data") or {}).items()
            if key.endswith(".json") and '"panels"' in text
        }
        assert set(dashboards) == {"fleet-pipeline.json", "fleet-kubernetes.json"}, name
        read = {
            series
            for key, text in dashboards.items()
            for _where, query in dashboard_queries(key, json.loads(text))
            for series in recording_rule_series(query)
        }
        assert read == set(), name


def test_the_shipped_rule_files_pass_promtool(rendered: dict[str, Rendered], tmp_path: Path) -> None:
    files = rendered["shop"].data("mimir", RULES_CONFIGMAP)
    assert set(files) == {"fleet-local.yaml", "fleet-local-kubernetes.yaml"}
    for name, text in files.items():
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        check_rules(path)
    # The workload's own pending threshold (5m), not the fleet's default.
    (group,) = yaml.safe_load(files["fleet-local-kubernetes.yaml"])["groups"]
    assert {rule["for"] for rule in group["rules"]} == {"5m"}


@pytest.mark.parametrize("workload", sorted(LOKI_VERSIONS))
def test_loki_runs_the_log_rules_and_sends_to_the_local_alertmanager(
    rendered: dict[str, Rendered], workload: str
) -> None:
    stack = rendered[workload]
    (chart,) = [c for c in stack.objects.charts if c.chart == "loki"]
    assert chart.version == LOKI_VERSIONS[workload]
    ruler = stack.config("config.yaml")["ruler"]
    assert ruler["storage"]["type"] == "local"
    assert ruler["storage"]["local"] == {"directory": LOKI_RULES_DIR}
    assert ruler["alertmanager_url"] == alertmanager_url("mimir")
    assert ruler["enable_alertmanager_discovery"] is True
    backends = stack.pods("loki-chart", "backend")
    assert backends, "the chart renders no backend (where the simple-scalable ruler runs)"
    for backend in backends:
        assert _mounts(backend)[f"{LOKI_RULES_DIR}/{LOKI_TENANT}"]["configMap"]["name"] == LOG_RULES_CONFIGMAP
    (group,) = yaml.safe_load(stack.data("loki", LOG_RULES_CONFIGMAP)["fleet-local-logs.yaml"])["groups"]
    alerts = {rule["alert"]: rule["expr"] for rule in group["rules"]}
    # The workload collects the journal (system_logs defaults to true): the OOM rule is there.
    assert set(alerts) == {"FleetLogsPipelineErrors", "FleetLogsOOMKills"}
    assert all(logql_problems(expr) == [] for expr in alerts.values())
    assert 'namespace=~"alloy|grafana|loki|mimir"' in alerts["FleetLogsPipelineErrors"]


def _datasources(stack: Rendered) -> dict[str, dict[str, Any]]:
    """Grafana's provisioned datasources by type, as the chart renders them."""
    config_map = stack.objects.find("ConfigMap", "grafana", "grafana")
    assert config_map is not None, "the grafana chart renders no ConfigMap grafana"
    provisioned = yaml.safe_load(config_map.manifest["data"]["datasources.yaml"])
    return {source["type"]: source for source in provisioned["datasources"]}


def _service_ports(stack: Rendered, name: str) -> set[int]:
    service = stack.objects.find("Service", "mimir", name)
    assert service is not None, f"no Service mimir/{name}"
    return {int(port["port"]) for port in service.manifest["spec"]["ports"]}


def test_grafana_shows_the_local_alertmanager_through_the_mimir_gateway(
    rendered: dict[str, Rendered],
) -> None:
    shop = rendered["shop"]
    source = _datasources(shop)["alertmanager"]
    assert source["url"] == "http://mimir-gateway.mimir.svc.cluster.local"
    assert source["access"] == "proxy"
    # Grafana adds /alertmanager/api/v2/... itself for Mimir; single-tenant: no tenant header.
    assert source["jsonData"] == {"implementation": "mimir", "handleGrafanaManagedAlerts": False}
    assert "secureJsonData" not in source
    # The Service the URL names, on port 80 (the URL's), is the chart's gateway...
    assert 80 in _service_ports(shop, "mimir-gateway")
    # ...whose nginx sends Mimir's Alertmanager prefix (not overridden: its default) to the
    # Alertmanager's Service, on the port that Service exposes.
    config = shop.config("mimir.yaml")
    assert "alertmanager_http_prefix" not in (config.get("api") or {})
    # The Alertmanager serves its API under its external URL's path: the same prefix.
    assert config["alertmanager"]["external_url"] == "/alertmanager"
    nginx = shop.data("mimir", "mimir-gateway-nginx")["nginx.conf"]
    location = nginx.split("location /alertmanager {", 1)[1].split("}", 1)[0]
    upstream = re.search(r"set \$alertmanager ([a-z0-9-]+)\.mimir\.svc\.cluster\.local\.?;", location)
    assert upstream is not None, location
    port = re.search(r"proxy_pass +http://\$alertmanager:(\d+)\$request_uri;", location)
    assert port is not None, location
    assert upstream[1] == ALERTMANAGER_SERVICE
    assert int(port[1]) in _service_ports(shop, upstream[1])
    assert check_urls(shop.objects) == []


def _send(port: int, method: str, path: str, body: bytes = b"") -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(method, path, body=body)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def test_grafanas_alertmanager_calls_reach_the_alertmanager_through_the_rendered_gateway(
    rendered: dict[str, Rendered], tmp_path: Path
) -> None:
    """The chart's own gateway nginx.conf, run by a real nginx: what Grafana's Alertmanager
    datasource (implementation mimir) calls on the gateway's root reaches the Alertmanager, path
    and query unchanged; Prometheus's Alertmanager path does not (Grafana's health check would
    otherwise take the datasource for a Prometheus Alertmanager)."""
    require_nginx()
    nginx = rendered["shop"].data("mimir", "mimir-gateway-nginx")["nginx.conf"]
    port = free_port()
    with RecordingUpstream() as alertmanager, RecordingUpstream() as others:
        config = replace_each(
            nginx,
            {
                "/tmp/": f"{tmp_path}/",
                "listen [::]:8080;": "",
                "listen 8080;": f"listen 127.0.0.1:{port};",
                "resolver kube-dns.kube-system.svc.cluster.local.;": "resolver 127.0.0.1;",
                f"$alertmanager {ALERTMANAGER_SERVICE}.mimir.svc.cluster.local.;": "$alertmanager 127.0.0.1;",
                "$alertmanager:8080$request_uri": f"$alertmanager:{alertmanager.port}$request_uri",
            },
        )
        config = re.sub(r"(set \$\w+) [a-z0-9.-]+\.svc\.cluster\.local\.;", r"\1 127.0.0.1;", config)
        config = config.replace(":8080$request_uri", f":{others.port}$request_uri")
        calls = [
            ("GET", "/alertmanager/api/v2/alerts/groups?silenced=false&inhibited=false"),
            ("GET", "/alertmanager/api/v2/silences"),
            ("POST", "/alertmanager/api/v2/silences"),
            ("DELETE", "/alertmanager/api/v2/silence/4f6a1d2e-9b1c-4e57-8a3d-2c0b5e7f9a10"),
            ("GET", "/alertmanager/api/v2/status"),
            ("GET", "/api/v1/alerts"),  # the configuration, which Grafana reads for Mimir
        ]
        with run_nginx(config, tmp_path / "nginx", port):
            for method, path in calls:
                assert _send(port, method, path, b"{}" if method == "POST" else b"") == 200, path
            assert _send(port, "GET", "/api/v2/status") == 404
    assert [(r.method, r.path) for r in alertmanager.requests] == calls
    assert others.requests == []


def test_without_local_alerting_grafana_has_no_alertmanager(rendered: dict[str, Rendered]) -> None:
    assert sorted(_datasources(rendered["plain"])) == ["loki", "prometheus"]
    assert "alertmanager" in _datasources(rendered["nologs"])


@pytest.mark.parametrize("workload", ["plain", *sorted(LOKI_VERSIONS)])
def test_no_loki_pod_runs_the_rules_sidecar_and_loki_gets_no_api_access(
    rendered: dict[str, Rendered], workload: str
) -> None:
    """The ruler reads a mounted ConfigMap: the chart's rules sidecar (which watches ConfigMaps and
    Secrets through the API) runs in no Loki pod, and no Role or binding grants Loki anything."""
    objects = rendered[workload].objects
    loki = [o for o in objects.objects if o.chart == "loki-chart"]
    workloads = [o for o in loki if o.kind in ("Deployment", "StatefulSet", "DaemonSet", "Job")]
    assert rendered[workload].pods("loki-chart", "backend"), "the chart renders no backend"
    for item in workloads:
        spec = pod_spec(item) or {}
        containers = [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]
        assert containers, item.label
        for container in containers:
            assert container["name"] != "loki-sc-rules", item.label
            assert "k8s-sidecar" not in container["image"], item.label
        assert "sc-rules-volume" not in {v["name"] for v in spec.get("volumes") or []}, item.label
    for backend in rendered[workload].pods("loki-chart", "backend"):
        assert [c["name"] for c in (pod_spec(backend) or {})["containers"]] == ["loki"]
    assert [o.label for o in loki if o.kind in RBAC_KINDS] == []
    for binding in objects.of_kind("RoleBinding", "ClusterRoleBinding"):
        subjects = {(s.get("namespace"), s["name"]) for s in binding.manifest.get("subjects") or []}
        assert ("loki", "loki") not in subjects, binding.label


def test_the_alertmanager_configuration_holds_no_secret_and_amtool_accepts_it(
    rendered: dict[str, Rendered], tmp_path: Path
) -> None:
    shop = rendered["shop"]
    text = shop.data("mimir", ALERTMANAGER_CONFIGMAP)[f"{MIMIR_TENANT}.yaml"]
    assert WEBHOOK not in text and WEBHOOK not in json.dumps(shop.plan)
    config = yaml.safe_load(text)
    assert config["route"]["receiver"] == "shop-oncall"
    assert shop.objects.find("Secret", "mimir", ENV_SECRET) is not None
    amtool = shutil.which("amtool")
    if amtool is None:
        pytest.skip(
            "amtool is not installed (apt-get install prometheus-alertmanager; see .ci/apt-packages.txt)"
        )
    # Debian's amtool predates url_file; the rest of the configuration it must accept.
    for receiver in config["receivers"]:
        receiver.pop("webhook_configs", None)
    path = tmp_path / "alertmanager.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    done = subprocess.run([amtool, "check-config", str(path)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("workload", ["plain", "nologs", *sorted(LOKI_VERSIONS)])
def test_the_verify_proofs_pass(rendered: dict[str, Rendered], workload: str) -> None:
    objects = rendered[workload].objects
    assert check_alerting(objects) == []
    assert check_storage(objects) == []
    assert check_references(objects) == []
    assert check_hardening(objects)["network"] == []


def _edited(stack: Rendered, kind: str, name: str, edit: Any) -> StackObjects:
    changed = []
    for item in stack.objects.objects:
        if item.kind == kind and item.name == name:
            manifest = json.loads(json.dumps(item.manifest))
            edit(manifest)
            item = replace(item, manifest=manifest)
        changed.append(item)
    return replace(stack.objects, objects=changed)


def test_verify_catches_rules_mounted_for_another_tenant(rendered: dict[str, Rendered]) -> None:
    def elsewhere(manifest: dict[str, Any]) -> None:
        for container in manifest["spec"]["template"]["spec"]["containers"]:
            for mount in container.get("volumeMounts") or []:
                if mount["mountPath"] == f"{RULES_DIR}/{MIMIR_TENANT}":
                    mount["mountPath"] = f"{RULES_DIR}/shop"

    objects = _edited(rendered["shop"], "StatefulSet", "mimir-ruler", elsewhere)
    if objects == rendered["shop"].objects:
        objects = _edited(rendered["shop"], "Deployment", "mimir-ruler", elsewhere)
    (violation,) = check_alerting(objects)
    assert "the ruler reads tenant anonymous's" in violation.message


def test_verify_catches_a_log_rule_loki_would_refuse(rendered: dict[str, Rendered]) -> None:
    def broken(manifest: dict[str, Any]) -> None:
        manifest["data"]["fleet-local-logs.yaml"] = manifest["data"]["fleet-local-logs.yaml"].replace(
            '|= "level=error"', '|~ "level=(error"'
        )

    (violation,) = check_alerting(_edited(rendered["shop"], "ConfigMap", LOG_RULES_CONFIGMAP, broken))
    assert "FleetLogsPipelineErrors" in violation.message and "does not compile" in violation.message


def test_verify_catches_an_alertmanager_url_that_names_no_service(rendered: dict[str, Rendered]) -> None:
    def astray(manifest: dict[str, Any]) -> None:
        manifest["data"]["config.yaml"] = manifest["data"]["config.yaml"].replace(
            "mimir-alertmanager-headless", "alertmanager"
        )

    (config_map,) = [
        o
        for o in rendered["shop"].objects.of_kind("ConfigMap")
        if "config.yaml" in o.manifest.get("data", {})
    ]
    (violation,) = check_alerting(_edited(rendered["shop"], "ConfigMap", config_map.name, astray))
    assert "no Service mimir/alertmanager" in violation.message


def test_a_receiver_secret_missing_from_the_environment_is_one_line_naming_the_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Offline: a warning naming the workload's file and field, and a render. For real: one line."""
    from fleet.engines.receiver_secrets import require_receiver_secrets
    from fleet.errors import UserError

    inventory_dir = write_inventory(tmp_path / "inventory", [], fleet=fleet_yaml())
    (inventory_dir / "workloads" / "shop.yaml").write_text(
        workload_yaml("shop", AWS_WORKLOAD + ALERTING), encoding="utf-8"
    )
    with real_charts(), pytest.MonkeyPatch.context() as patch:
        patch.delenv("FLEET_TEST_SHOP_URL", raising=False)
        inventory = load_inventory(inventory_dir)
        engine = RenderEngine(tmp_path / "render", show_secrets=False, programs=default_programs())
        with caplog.at_level("WARNING", logger="fleet"):
            paths = engine.render_many(inventory, ["controlroom", "shop"])
        with pytest.raises(UserError) as caught:
            require_receiver_secrets(inventory, "shop", {})
    assert [r.getMessage() for r in caplog.records] == [
        "workloads/shop.yaml spec.alerting.receivers[shop-oncall].webhook.url: FLEET_TEST_SHOP_URL is not "
        "set; rendered with a placeholder; a real rollout needs it"
    ]
    assert "fleet-offline-placeholder" not in paths["shop"].read_text(encoding="utf-8")
    message = str(caught.value)
    assert "\n" not in message
    assert (
        message.startswith("workloads/shop.yaml spec.alerting.receivers[")
        and "FLEET_TEST_SHOP_URL" in message
    )


def test_verify_catches_a_local_rule_reading_what_alloy_does_not_collect(
    rendered: dict[str, Rendered],
) -> None:
    """Without the kube-state-metrics scrape, the Kubernetes rules would never fire."""
    from kit.alloy.parser import parse
    from kit.alloy.syntax import Block
    from kit.alloy.writer import write_block

    def without_kube_state_metrics(manifest: dict[str, Any]) -> None:
        tree = parse(manifest["data"]["config.alloy"])
        scrape = ("prometheus.scrape", "kube_state_metrics")
        kept = [item for item in tree.body if isinstance(item, Block) and (item.name, item.label) != scrape]
        assert len(kept) == len(tree.body) - 1
        manifest["data"]["config.alloy"] = "\n".join(write_block(block) for block in kept)

    violations = check_alerting(
        _edited(rendered["shop"], "ConfigMap", "alloy-config", without_kube_state_metrics)
    )
    assert violations
    assert {v.component for v in violations} == {
        f"ConfigMap mimir/{RULES_CONFIGMAP} fleet-local-kubernetes.yaml"
    }
    assert all("but Alloy has no prometheus.scrape.kube_state_metrics" in v.message for v in violations)
    assert any(
        v.message.startswith("rule FleetKubeNodeNotReady reads kube_node_status_condition")
        for v in violations
    )
