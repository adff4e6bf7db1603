"""The control room's ruler and Alertmanager, proved on the objects mimir-distributed renders for
real with fleet's values: Mimir's effective configuration reads the shipped rules and
Alertmanager configuration from the ConfigMaps the stack creates, mounted where it looks, a
receiver's secret reaches Alertmanager as a file, never in the configuration or a plan, and the
fleet Grafana shows that Alertmanager's alerts (a datasource through the gateway, in the tenant
the alerts land in). The ruler also loads the chart's own mixin recording rules, which record
every recording rule's series the dashboards of the control room's Grafana read."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from charts import helm_path, real_charts
from inventories import AWS_ROOM, fleet_yaml, write_inventory
from promtool import check_rules, needs_promtool

from controlroom.alerting import (
    ALERTMANAGER_CONFIGMAP,
    CHART_MIXIN_RULES,
    MIXIN_RULES_CONFIGMAP,
    MIXIN_RULES_FILE,
    RULES_CONFIGMAP,
    mixin_rules_object,
)
from controlroom.grafana import READER_ENV, mimir_datasource
from fleet.charts.cache import ChartCache
from fleet.charts.expand import KubeObject, expand_plan, kubernetes_objects
from fleet.engines.render import RenderEngine, default_programs
from fleet.inventory.loader import Inventory, load_inventory
from fleet.verify.alerting import check_alerting, dashboard_queries, metric_names, recording_rule_series
from fleet.verify.collector import check_hub_collection
from fleet.verify.objects import StackObjects, pod_spec
from fleet.verify.rendered import expectation
from fleet.verify.stores import check_storage
from fleet.verify.wiring import check_urls
from kit.alerting.alertmanager import ENV_SECRET, SECRETS_DIR
from kit.alerting.catalogue import OWNER_TENANT
from kit.alerting.mimir import ALERTMANAGER_DIR, RULES_DIR

WEBHOOK = "https://hooks.example.net/T0/secret-path-4417"
ALERTING = (
    "  alerting:\n"
    "    receiver: oncall\n"
    "    receivers:\n"
    "      - name: oncall\n"
    "        webhook: {url: {env: FLEET_TEST_ONCALL_URL}}\n"
)


@dataclass
class Rendered:
    inventory: Inventory
    plan: dict[str, Any]
    objects: StackObjects
    charts: Path
    """The real chart archives the render was expanded from."""

    def pods(self, component: str) -> list[KubeObject]:
        return [
            o
            for o in self.objects.of_kind("Deployment", "StatefulSet")
            if (o.manifest["metadata"].get("labels") or {}).get("app.kubernetes.io/component") == component
        ]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rendered]:
    root = tmp_path_factory.mktemp("alerting")
    inventory_dir = write_inventory(
        root / "inventory", ["alpha", "beta"], fleet=fleet_yaml(AWS_ROOM, spec_extra=ALERTING)
    )
    with real_charts() as cache, pytest.MonkeyPatch.context() as patch:
        patch.setenv("FLEET_TEST_ONCALL_URL", WEBHOOK)
        inventory = load_inventory(inventory_dir)
        engine = RenderEngine(root / "render", show_secrets=False, programs=default_programs())
        plan = json.loads(engine.render(inventory, "controlroom").read_text(encoding="utf-8"))
        expect = expectation(inventory, "controlroom")
        charts = expand_plan(plan, ChartCache(cache), expect.kubernetes_version)
        objects = StackObjects("controlroom", plan, charts, kubernetes_objects(plan, charts), expect)
        yield Rendered(inventory, plan, objects, cache)


def _mimir_config(rendered: Rendered) -> dict[str, Any]:
    (config,) = [
        yaml.safe_load(o.manifest["data"]["mimir.yaml"])
        for o in rendered.objects.of_kind("ConfigMap")
        if "mimir.yaml" in (o.manifest.get("data") or {})
    ]
    return dict(config)


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


def test_mimir_runs_the_ruler_and_alertmanager_on_the_shipped_files(rendered: Rendered) -> None:
    config = _mimir_config(rendered)
    assert config["ruler_storage"]["backend"] == "local"
    assert config["ruler_storage"]["local"]["directory"] == RULES_DIR
    assert config["ruler"]["tenant_federation"]["enabled"] is True
    assert config["tenant_federation"]["enabled"] is True
    assert config["alertmanager_storage"] == {"backend": "local", "local": {"path": ALERTMANAGER_DIR}}
    # The chart's own alertmanager_url reaches the Alertmanager it now renders.
    assert "alertmanager-headless" in config["ruler"]["alertmanager_url"]
    (rulers,) = [rendered.pods("ruler")]
    assert rulers, "the chart renders no ruler"
    for ruler in rulers:
        volume = _mounts(ruler)[f"{RULES_DIR}/{OWNER_TENANT}"]
        sources = volume["projected"]["sources"]
        assert [s["configMap"]["name"] for s in sources] == [RULES_CONFIGMAP, MIXIN_RULES_CONFIGMAP]
    alertmanagers = rendered.pods("alertmanager")
    assert alertmanagers, "the chart renders no Alertmanager"
    for alertmanager in alertmanagers:
        mounts = _mounts(alertmanager)
        assert mounts[ALERTMANAGER_DIR]["configMap"]["name"] == ALERTMANAGER_CONFIGMAP
        sources = mounts[SECRETS_DIR]["projected"]["sources"]
        assert [s["secret"]["name"] for s in sources] == [ENV_SECRET]


def _service_ports(rendered: Rendered, name: str) -> set[int]:
    service = rendered.objects.find("Service", "mimir", name)
    assert service is not None, f"no Service mimir/{name}"
    return {int(port["port"]) for port in service.manifest["spec"]["ports"]}


def test_grafana_shows_the_hubs_alertmanager_through_the_gateway(rendered: Rendered) -> None:
    config_map = rendered.objects.find("ConfigMap", "grafana", "grafana")
    assert config_map is not None, "the grafana chart renders no ConfigMap grafana"
    provisioned = yaml.safe_load(config_map.manifest["data"]["datasources.yaml"])
    by_type = {source["type"]: source for source in provisioned["datasources"]}
    assert sorted(by_type) == ["alertmanager", "prometheus"]
    source = by_type["alertmanager"]
    # The gateway's root: Grafana adds /alertmanager/api/v2/... itself for Mimir.
    assert source["url"] == "http://mimir-gateway.mimir.svc.cluster.local"
    assert source["jsonData"] == {
        "implementation": "mimir",
        "handleGrafanaManagedAlerts": False,
        "httpHeaderName1": "X-Scope-OrgID",
    }
    # The tenant the ruler's alerts land in; the password from the environment, not the values.
    assert source["secureJsonData"] == {
        "httpHeaderValue1": OWNER_TENANT,
        "basicAuthPassword": f"${READER_ENV}",
    }
    assert source["basicAuth"] is True and source["basicAuthUser"] == "fleet-reader"
    assert 80 in _service_ports(rendered, "mimir-gateway")
    # The gateway (fleet's nginx.conf, through the chart) sends Mimir's Alertmanager prefix, its
    # default, to the Alertmanager's Service on a port that Service has, in that tenant.
    config = _mimir_config(rendered)
    assert "alertmanager_http_prefix" not in (config.get("api") or {})
    # The Alertmanager serves its API under its external URL's path: the same prefix.
    assert config["alertmanager"]["external_url"] == "/alertmanager"
    nginx = rendered.objects.find("ConfigMap", "mimir", "mimir-gateway-nginx")
    assert nginx is not None
    text = nginx.manifest["data"]["nginx.conf"]
    locations = re.findall(r"\n    location [^\n]*/alertmanager/api/v2/[^\n]*\{(.*?)\n    \}", text, re.S)
    assert len(locations) == 3
    for location in locations:
        upstream = re.search(r"set \$alertmanager ([a-z0-9-]+)\.mimir\.svc\.cluster\.local;", location)
        target = re.search(r"proxy_pass +http://\$alertmanager:(\d+)/alertmanager/api/v2/", location)
        assert upstream is not None and target is not None, location
        assert int(target[1]) in _service_ports(rendered, upstream[1])
        assert f"proxy_set_header     X-Scope-OrgID {OWNER_TENANT};" in location
    assert check_urls(rendered.objects) == []


def test_the_rule_files_are_the_federated_groups_over_every_workload(rendered: Rendered) -> None:
    rules = rendered.objects.find("ConfigMap", "mimir", RULES_CONFIGMAP)
    assert rules is not None
    groups = {name: yaml.safe_load(text)["groups"] for name, text in rules.manifest["data"].items()}
    assert set(groups) == {"fleet-workloads.yaml", "fleet-hub.yaml"}
    (workloads,) = groups["fleet-workloads.yaml"]
    assert workloads["source_tenants"] == ["alpha", "beta"]
    assert any(rule.get("alert") == "FleetWorkloadSilent" for rule in workloads["rules"])


def test_the_alertmanager_configuration_holds_no_secret_and_amtool_accepts_it(
    rendered: Rendered, tmp_path: Path
) -> None:
    config_map = rendered.objects.find("ConfigMap", "mimir", ALERTMANAGER_CONFIGMAP)
    assert config_map is not None
    text = config_map.manifest["data"][f"{OWNER_TENANT}.yaml"]
    assert WEBHOOK not in text and "secret-path" not in text
    (receiver,) = [r for r in yaml.safe_load(text)["receivers"] if r["name"] == "oncall"]
    assert receiver["webhook_configs"][0]["url_file"].startswith(f"{SECRETS_DIR}/")
    assert WEBHOOK not in json.dumps(rendered.plan)
    secret = rendered.objects.find("Secret", "mimir", ENV_SECRET)
    assert secret is not None
    amtool = shutil.which("amtool")
    if amtool is None:
        pytest.skip(
            "amtool is not installed (apt-get install prometheus-alertmanager; see .ci/apt-packages.txt)"
        )
    # Debian's amtool predates url_file; the rest of the configuration it must accept.
    parsed = yaml.safe_load(text)
    for item in parsed["receivers"]:
        item.pop("webhook_configs", None)
    path = tmp_path / "alertmanager.yaml"
    path.write_text(yaml.safe_dump(parsed), encoding="utf-8")
    done = subprocess.run([amtool, "check-config", str(path)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_verify_passes_and_fails_when_the_rules_configmap_is_gone(rendered: Rendered) -> None:
    assert check_storage(rendered.objects) == []
    without = [
        o for o in rendered.objects.objects if not (o.kind == "ConfigMap" and o.name == RULES_CONFIGMAP)
    ]
    violations = check_storage(replace(rendered.objects, objects=without))
    assert violations and all(v.invariant == "storage" for v in violations)
    assert any("ruler" in v.component and RULES_CONFIGMAP in v.message for v in violations)


def test_verify_fails_when_nothing_is_mounted_where_the_local_store_reads(rendered: Rendered) -> None:
    unmounted: list[KubeObject] = []
    for item in rendered.objects.objects:
        if item in rendered.pods("alertmanager"):
            manifest = json.loads(json.dumps(item.manifest))
            for container in manifest["spec"]["template"]["spec"]["containers"]:
                container["volumeMounts"] = [
                    m for m in container.get("volumeMounts") or [] if m["mountPath"] != ALERTMANAGER_DIR
                ]
            item = replace(item, manifest=manifest)
        unmounted.append(item)
    violations = check_storage(replace(rendered.objects, objects=unmounted))
    assert [v.message for v in violations] == [
        f"alertmanager_storage is local at {ALERTMANAGER_DIR}, and no ConfigMap is mounted there"
    ] * len(rendered.pods("alertmanager"))


def test_verify_alerting_passes_and_catches_a_dashboard_query_that_does_not_parse(rendered: Rendered) -> None:
    assert check_alerting(rendered.objects) == []
    broken: list[KubeObject] = []
    for item in rendered.objects.objects:
        if item.kind == "ConfigMap" and item.name.endswith("-dashboards-fleet"):
            manifest = json.loads(json.dumps(item.manifest))
            name, text = sorted(manifest["data"].items())[0]
            manifest["data"][name] = text.replace('"expr": "', '"expr": "sum(', 1)
            item = replace(item, manifest=manifest)
        broken.append(item)
    (violation,) = check_alerting(replace(rendered.objects, objects=broken))
    assert violation.invariant == "alerting" and "does not parse" in violation.message


# --- the Mimir mixin's recording rules ------------------------------------------------------------


def _recorded(texts: list[str]) -> set[str]:
    """The series the rule files ``texts`` record."""
    return {
        str(rule["record"])
        for text in texts
        for group in yaml.safe_load(text)["groups"]
        for rule in group["rules"]
        if "record" in rule
    }


def _dashboard_series(rendered: Rendered) -> dict[str, set[str]]:
    """Every recording rule's series a dashboard of the control room's Grafana reads (fleet's own,
    the Mimir chart's), with the dashboards that read it."""
    read: dict[str, set[str]] = {}
    for item in rendered.objects.of_kind("ConfigMap"):
        for key, text in (item.manifest.get("data") or {}).items():
            if key.endswith(".json") and '"panels"' in text:
                for _where, query in dashboard_queries(key, json.loads(text)):
                    for name in recording_rule_series(query):
                        read.setdefault(name, set()).add(key)
    return read


def _mixin_rules(rendered: Rendered) -> str:
    config_map = rendered.objects.find("ConfigMap", "mimir", MIXIN_RULES_CONFIGMAP)
    assert config_map is not None, "the Mimir release renders no mixin rules"
    return str(config_map.manifest["data"][MIXIN_RULES_FILE])


@needs_promtool
def test_the_mixin_rules_are_the_charts_own_file_and_promtool_accepts_them(
    rendered: Rendered, tmp_path: Path
) -> None:
    text = _mixin_rules(rendered)
    version = rendered.inventory.fleet.spec.versions.mimir
    with tarfile.open(rendered.charts / f"mimir-distributed-{version}.tgz") as archive:
        member = archive.extractfile(f"mimir-distributed/{CHART_MIXIN_RULES}")
        assert member is not None
        assert text == member.read().decode("utf-8")
    path = tmp_path / MIXIN_RULES_FILE
    path.write_text(text, encoding="utf-8")
    check_rules(path)


def test_a_chart_without_the_mixin_rules_fails_to_render_naming_the_file(
    rendered: Rendered, tmp_path: Path
) -> None:
    helm = helm_path()
    assert helm is not None  # the fixture's real_charts() found one
    version = rendered.inventory.fleet.spec.versions.mimir
    with tarfile.open(rendered.charts / f"mimir-distributed-{version}.tgz") as archive:
        archive.extractall(tmp_path, filter="data")
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump({"extraObjects": [mixin_rules_object()]}), encoding="utf-8")

    def template() -> subprocess.CompletedProcess[str]:
        command = [
            helm,
            "template",
            "mimir",
            str(tmp_path / "mimir-distributed"),
            "-n",
            "mimir",
            "-f",
            str(values),
        ]
        return subprocess.run(
            [*command, "--show-only", "templates/extra-manifests.yaml"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    done = template()
    assert done.returncode == 0, done.stderr
    assert yaml.safe_load(done.stdout)["metadata"]["name"] == MIXIN_RULES_CONFIGMAP
    (tmp_path / "mimir-distributed" / CHART_MIXIN_RULES).unlink()
    done = template()
    assert done.returncode != 0
    assert f"mimir-distributed has no {CHART_MIXIN_RULES}" in done.stderr


def test_every_recording_rule_the_dashboards_read_is_recorded_in_the_tenant_they_read(
    rendered: Rendered,
) -> None:
    read = _dashboard_series(rendered)
    # The mixin's writes, reads, queries, alertmanager, overview and scaling dashboards.
    assert "cluster_job_route:cortex_request_duration_seconds_bucket:sum_rate" in read
    assert len(read) >= 30 and any(len(keys) > 1 for keys in read.values())
    rulers = rendered.pods("ruler")
    assert rulers
    for ruler in rulers:
        sources = _mounts(ruler)[f"{RULES_DIR}/{OWNER_TENANT}"]["projected"]["sources"]
        texts = []
        for source in sources:
            config_map = rendered.objects.find("ConfigMap", "mimir", source["configMap"]["name"])
            assert config_map is not None
            texts += list(config_map.manifest["data"].values())
        assert sorted(set(read) - _recorded(texts)) == []
    # What the owner tenant's rules record, the dashboards' one datasource reads.
    header = mimir_datasource("http://mimir", ["alpha", "beta"])["secureJsonData"]["httpHeaderValue1"]
    assert OWNER_TENANT in header.split("|")


def test_the_rules_read_what_the_hub_collects_but_memcached_and_kube_state_metrics_1(
    rendered: Rendered,
) -> None:
    """Every recorded series a dashboard reads comes from what the hub's collector scrapes (Mimir's
    pods, cAdvisor, the kubelets, kube-state-metrics), but for what the scaling dashboard's
    required replicas also read: the caches' memcached exporter's series, and the alternatives its
    rules keep for kube-state-metrics 1 (``..._cpu_cores``, ``..._memory_bytes``, gone in 2.0;
    each ``or`` the series the collector keeps)."""
    groups = [group for group in yaml.safe_load(_mixin_rules(rendered))["groups"]]
    inputs: dict[str, set[str]] = {}
    for group in groups:
        for rule in group["rules"]:
            if "record" in rule:
                inputs.setdefault(rule["record"], set()).update(metric_names(rule["expr"]))

    def raw(name: str, seen: frozenset[str] = frozenset()) -> set[str]:
        found: set[str] = set()
        for metric in inputs.get(name, set()) - seen:
            found |= raw(metric, seen | {metric}) if metric in inputs else {metric}
        return found

    reads = {name: raw(name) for name in _dashboard_series(rendered)}
    configs = [
        (item.label, str(text))
        for item in rendered.objects.of_kind("ConfigMap")
        for key, text in (item.manifest.get("data") or {}).items()
        if key.endswith(".alloy")
    ]
    violations = check_hub_collection(configs, reads, OWNER_TENANT, "mimir")
    unfed = {v.message.split(" reads ", 1)[0] for v in violations}
    assert unfed == {"cluster_namespace_deployment_reason:required_replicas:count"}
    missing = {v.message.split(" reads ", 1)[1].split(",", 1)[0] for v in violations}
    kube_state_metrics_1 = {
        "kube_pod_container_resource_requests_cpu_cores",
        "kube_pod_container_resource_requests_memory_bytes",
    }
    assert kube_state_metrics_1 <= missing
    assert all(m.startswith("memcached_") for m in missing - kube_state_metrics_1), missing


def test_verify_names_the_panels_whose_recording_rules_nothing_records(rendered: Rendered) -> None:
    without = [
        o for o in rendered.objects.objects if not (o.kind == "ConfigMap" and o.name == MIXIN_RULES_CONFIGMAP)
    ]
    violations = check_alerting(replace(rendered.objects, objects=without))
    assert violations and all(v.message.endswith("which no rule records") for v in violations)
    assert any(
        "mimir-writes.json panel 'Latency' reads cluster_job_route:cortex_request_duration_seconds_bucket"
        in v.message
        for v in violations
    )


def test_verify_alerting_names_the_alerts_a_workloads_filter_blinds() -> None:
    """The proof reads the filter out of the Alloy ConfigMap a workload really runs."""
    from fleet.verify.objects import Expectation
    from workloads.alloy_config import AlloyPipeline, render_alloy_config

    def stack(required: tuple[str, ...]) -> StackObjects:
        text = render_alloy_config(
            AlloyPipeline(
                workload="shop",
                local_metrics_url="http://mimir-gateway.mimir.svc.cluster.local/api/v1/push",
                central_metrics_url="https://mimir.ctrl.example/api/v1/push",
                central_secret_namespace="alloy",
                central_metric_filters=("http_.*",),
                central_required_metrics=required,
            )
        )
        config = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "alloy-config", "namespace": "alloy"},
        }
        expect = Expectation(
            cloud="aws",
            kubeconfig=None,
            context=None,
            kubernetes_version="1.31",
            alloy=("alloy", "alloy-config", "config.alloy", "mimir-auth"),
        )
        objects = [KubeObject({**config, "data": {"config.alloy": text}})]
        return StackObjects("shop", {}, [], objects, expect)

    from kit.alerting.catalogue import HUB_READS_FROM_WORKLOADS

    blind = check_alerting(stack(()))
    assert any("FleetWorkloadSilent reads up" in v.message for v in blind)
    assert all(v.component == "ConfigMap alloy/alloy-config" for v in blind)
    assert check_alerting(stack(HUB_READS_FROM_WORKLOADS)) == []


def test_the_readme_receivers_render_offline_with_placeholders_and_a_provided_secret(tmp_path: Path) -> None:
    """The README's receivers, their variables unset: the receivers' Secret holds the marked
    placeholders (shown here only because the render shows secrets), and the references proof
    accepts the `kubernetes: alertmanager-slack/url` Secret as provided outside fleet, and only
    because the inventory names it."""
    from inventories import README_ALERTING_VARIABLES, copy_example, with_readme_alerting

    from fleet.verify.objects import check_references
    from kit.alerting.alertmanager import placeholder

    root = with_readme_alerting(copy_example(tmp_path / "inventory"))
    with real_charts() as cache, pytest.MonkeyPatch.context() as patch:
        for variable in README_ALERTING_VARIABLES:
            patch.delenv(variable, raising=False)
        inventory = load_inventory(root)
        engine = RenderEngine(tmp_path / "render", show_secrets=True, programs=default_programs())
        plan = json.loads(engine.render(inventory, "controlroom").read_text(encoding="utf-8"))
        expect = expectation(inventory, "controlroom")
        charts = expand_plan(plan, ChartCache(cache), expect.kubernetes_version)
    (secret,) = [
        r["inputs"]
        for r in plan["resources"]
        if r["type"] == "kubernetes:core/v1:Secret" and r["inputs"]["metadata"]["name"] == ENV_SECRET
    ]
    assert secret["stringData"] == {
        "oncall-pagerduty-routing-key": placeholder("PAGERDUTY_ROUTING_KEY"),
        "payments-email-password": placeholder("SMTP_PASSWORD"),
    }
    objects = StackObjects("controlroom", plan, charts, kubernetes_objects(plan, charts), expect)
    mounted = {
        source["secret"]["name"]
        for o in objects.of_kind("StatefulSet")
        for volume in (pod_spec(o) or {}).get("volumes") or []
        for source in (volume.get("projected") or {}).get("sources") or []
        if "secret" in source
    }
    assert {"alertmanager-slack", ENV_SECRET} <= mounted
    assert objects.find("Secret", "mimir", "alertmanager-slack") is None  # fleet never creates it
    assert ("Secret", "mimir", "alertmanager-slack") in expect.provided
    assert check_references(objects) == []
    unnamed = replace(expect, provided=expect.provided - {("Secret", "mimir", "alertmanager-slack")})
    violations = check_references(replace(objects, expect=unnamed))
    assert violations and all(
        "Secret mimir/alertmanager-slack does not exist" in v.message for v in violations
    )
