"""The hub-collection proof: the collector configuration the control room renders collects every
metric the ``fleet-hub`` rules read into the hub's own tenant, and each way of breaking it is
named (the counter's prefix left at Alloy's default, the tenant header, Mimir's namespace, the
self-scrape); and the same proof over the mixin's resource metrics (cAdvisor, the kubelets,
kube-state-metrics), each way of losing one named too."""

from __future__ import annotations

from controlroom.collector import CADVISOR_METRICS, KUBE_STATE_METRICS, KUBELET_METRICS, collector_config
from fleet.inventory.models import AlertThresholds
from fleet.verify.alerting import metric_names
from fleet.verify.collector import check_hub_collection
from kit.alerting.catalogue import GATEWAY_REQUESTS, OWNER_TENANT, controlroom_rule_groups

TEXT = collector_config("mimir", ("alpha", "beta"))


def _reads() -> dict[str, set[str]]:
    (hub,) = [g for g in controlroom_rule_groups((), AlertThresholds()) if g.name == "fleet-hub"]
    return {rule.name: metric_names(rule.expr) for rule in hub.alerts()}


def _check(text: str) -> list[str]:
    return [v.message for v in check_hub_collection([("ConfigMap x", text)], _reads(), OWNER_TENANT, "mimir")]


def test_the_rendered_collector_collects_every_metric_of_the_hub_rules() -> None:
    reads = _reads()
    assert GATEWAY_REQUESTS in reads["FleetGatewayUnauthorized"]
    assert _check(TEXT) == []


def test_the_counter_under_alloys_default_prefix_blinds_the_401_rule() -> None:
    text = TEXT.replace('prefix            = "fleet_gateway_"', "")
    assert text != TEXT
    assert _check(text) == [
        f"FleetGatewayUnauthorized reads {GATEWAY_REQUESTS}, which the hub's collector does not collect"
    ]


def test_writing_another_tenant_leaves_the_rules_without_data() -> None:
    text = TEXT.replace(f'"X-Scope-OrgID" = "{OWNER_TENANT}"', '"X-Scope-OrgID" = "alpha"')
    assert text != TEXT
    (message,) = _check(text)
    assert f"no Alloy configuration writes tenant {OWNER_TENANT}" in message


def test_scraping_another_namespace_blinds_every_mimir_rule() -> None:
    problems = _check(TEXT.replace('names = ["mimir"]', 'names = ["elsewhere"]'))
    assert any(
        p.startswith("FleetHubPushErrors reads cortex_request_duration_seconds_count") for p in problems
    )
    assert any(p.startswith(f"FleetGatewayUnauthorized reads {GATEWAY_REQUESTS}") for p in problems)
    assert not any(" reads up," in p for p in problems)


def test_without_the_self_scrape_the_counter_is_not_collected() -> None:
    text = TEXT.replace("prometheus.exporter.self.collector.targets", "discovery.kubernetes.mimir.targets")
    assert _check(text) == [
        f"FleetGatewayUnauthorized reads {GATEWAY_REQUESTS}, which the hub's collector does not collect"
    ]


RESOURCES = {
    "cadvisor:sizing": {"container_memory_working_set_bytes", "container_spec_memory_limit_bytes"},
    "kubelet:disks": {"kubelet_volume_stats_used_bytes"},
    "kube-state-metrics:replicas": {"kube_statefulset_replicas", "kube_pod_container_resource_requests"},
}
"""Stand-ins for rules reading resource metrics (the real mixin's are in tests/controlroom)."""


def _check_resources(text: str) -> list[str]:
    return [
        v.message for v in check_hub_collection([("ConfigMap x", text)], RESOURCES, OWNER_TENANT, "mimir")
    ]


def test_the_rendered_collector_collects_the_mixins_resource_metrics() -> None:
    assert {m for ms in RESOURCES.values() for m in ms} <= {
        *CADVISOR_METRICS,
        *KUBELET_METRICS,
        *KUBE_STATE_METRICS,
    }
    assert _check_resources(TEXT) == []
    # Another namespace's series are not Mimir's.
    assert len(check_hub_collection([("x", TEXT)], RESOURCES, OWNER_TENANT, "kube-system")) == 5


def test_a_name_the_keep_rule_drops_is_not_collected() -> None:
    text = TEXT.replace("container_memory_working_set_bytes|", "")
    assert text != TEXT
    assert _check_resources(text) == [
        "cadvisor:sizing reads container_memory_working_set_bytes, which the hub's collector does not collect"
    ]


def test_cadvisor_must_be_scraped_on_its_own_path() -> None:
    text = TEXT.replace('/proxy/metrics/cadvisor"', '/proxy/metrics/probes"')
    assert text != TEXT
    problems = _check_resources(text)
    assert len(problems) == 2 and all(p.startswith("cadvisor:sizing reads container_") for p in problems)


def test_kube_state_metrics_must_be_the_scraped_pods() -> None:
    text = TEXT.replace('label = "app.kubernetes.io/name=kube-state-metrics"', 'label = "app=other"')
    assert text != TEXT
    problems = _check_resources(text)
    assert len(problems) == 2 and all(
        p.startswith("kube-state-metrics:replicas reads kube_") for p in problems
    )


def test_a_relabel_that_forwards_nowhere_collects_nothing() -> None:
    text = TEXT.replace(
        'prometheus.relabel "kubelet" {\n  forward_to = [prometheus.remote_write.hub.receiver]',
        'prometheus.relabel "kubelet" {\n  forward_to = []',
    )
    assert text != TEXT
    assert _check_resources(text) == [
        "kubelet:disks reads kubelet_volume_stats_used_bytes, which the hub's collector does not collect"
    ]
