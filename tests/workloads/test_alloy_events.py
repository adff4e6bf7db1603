"""The Kubernetes events collector: its Alloy configuration (checked against the component's
arguments at the pinned Alloy), the chart values, the real chart rendered with them, its RBAC."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml
from charts import require_charts
from pulumi_harness import FleetMocks

from fleet.inventory.models import GRAFANA_REPOSITORY, AlloySettings
from fleet.verify.dataflow import check_events_alloy
from fleet.verify.hardening import _rules_broken
from kit.alloy.parser import parse
from kit.alloy.syntax import Array, Attribute, Block, Literal, components
from kit.sizing import Sizing
from workloads.alloy_events import (
    CONFIG_MAP,
    JOB_NAME,
    AlloyEvents,
    AlloyEventsArgs,
    EventsPipeline,
    events_values,
    render_events_config,
)

LOKI = "http://loki-gateway.loki.svc.cluster.local/loki/api/v1/push"
# loki.source.kubernetes_events at Alloy v1.11 (the alloy chart 1.4.0's appVersion):
# internal/component/loki/source/kubernetes_events/kubernetes_events.go declares these attributes
# (and a `client` block fleet does not use); Validate() refuses an empty job_name and any
# log_format but these two.
SOURCE_ATTRIBUTES = {"forward_to", "job_name", "namespaces", "log_format"}
LOG_FORMATS = {"logfmt", "json"}


def source_of(text: str) -> Block:
    found = dict(components(parse(text)))
    (source,) = [block for block in found.values() if block.name == "loki.source.kubernetes_events"]
    return source


def attributes(block: Block) -> dict[str, Any]:
    return {item.name: item.value for item in block.body if isinstance(item, Attribute)}


@pytest.mark.parametrize("namespaces", [(), ("payments", "ingress-nginx")])
def test_the_config_uses_only_the_components_arguments_and_passes_the_proof(
    namespaces: tuple[str, ...],
) -> None:
    text = render_events_config(EventsPipeline("shop", LOKI, namespaces))
    assert check_events_alloy(text, "shop") == []
    source = source_of(text)
    values = attributes(source)
    assert set(values) <= SOURCE_ATTRIBUTES
    assert not [item for item in source.body if isinstance(item, Block)]
    assert isinstance(values["log_format"], Literal) and values["log_format"].value in LOG_FORMATS
    assert isinstance(values["job_name"], Literal) and values["job_name"].value == JOB_NAME
    if namespaces:
        assert isinstance(values["namespaces"], Array)
        assert [item.value for item in values["namespaces"].items] == list(namespaces)  # type: ignore[attr-defined]
    else:
        assert "namespaces" not in values  # every namespace: the component's default


def test_hostile_namespaces_stay_inside_their_literals() -> None:
    text = render_events_config(EventsPipeline("shop", LOKI, ('x"]\nloki.write "leak" {',)))
    assert [block.name for _, block in components(parse(text))] == [
        "loki.source.kubernetes_events",
        "loki.write",
    ]


def test_a_pipeline_needs_an_http_url_and_named_namespaces() -> None:
    with pytest.raises(ValueError, match="http"):
        EventsPipeline("shop", "loki-gateway:80")
    with pytest.raises(ValueError, match="empty"):
        EventsPipeline("shop", LOKI, ("",))


def test_the_switch_is_on_by_default_and_strict() -> None:
    assert AlloySettings().events is True
    assert AlloySettings.model_validate({"events": False}).events is False
    with pytest.raises(ValueError):
        AlloySettings.model_validate({"events": "no"})


def render_chart(values: dict[str, Any], tmp_path: Path) -> list[dict[str, Any]]:
    cache, helm = require_charts()
    path = tmp_path / "values.json"
    path.write_text(json.dumps(values), encoding="utf-8")
    done = subprocess.run(
        [helm, "template", "alloy-events", str(cache / "alloy-1.4.0.tgz"), "-n", "alloy", "-f", str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def test_the_real_chart_runs_one_restricted_sized_replica_on_our_config(tmp_path: Path) -> None:
    objects = render_chart(events_values(sizing=Sizing("large")), tmp_path)
    kinds = sorted(item["kind"] for item in objects)
    # No RBAC from the chart (the program's ClusterRole grants events only), no DaemonSet.
    assert kinds == ["Deployment", "Service", "ServiceAccount"]
    (deployment,) = [item for item in objects if item["kind"] == "Deployment"]
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "alloy-events"
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert labels["app.kubernetes.io/name"] == "alloy"
    assert labels["app.kubernetes.io/instance"] == "alloy-events"
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    config_volume = next(v for v in volumes.values() if "configMap" in v)
    assert config_volume["configMap"]["name"] == CONFIG_MAP
    for container in pod["containers"]:
        assert _rules_broken(pod, container) == [], container["name"]
        resources = container["resources"]
        assert resources["requests"] and resources["limits"], container["name"]
    (alloy,) = [c for c in pod["containers"] if c["name"] == "alloy"]
    assert alloy["args"][:2] == ["run", "/etc/alloy/config.alloy"]
    assert "--cluster.enabled=true" not in alloy["args"]
    assert alloy["resources"]["requests"] == {"cpu": "100m", "memory": "384Mi"}
    # Its positions file lives in an emptyDir: the root filesystem is read-only.
    storage = next(m for m in alloy["volumeMounts"] if m["mountPath"] == "/tmp/alloy")
    assert "emptyDir" in volumes[storage["name"]]


def test_the_collector_may_watch_events_and_nothing_else(pulumi_runtime: Callable[..., FleetMocks]) -> None:
    mocks = pulumi_runtime()

    @pulumi.runtime.test
    def declare() -> pulumi.Output[None]:
        events = AlloyEvents(
            "alloy-events",
            AlloyEventsArgs(
                version="1.4.0",
                repository=GRAFANA_REPOSITORY,
                namespace="alloy",
                workload="shop",
                local_logs_url=LOKI,
            ),
        )
        return events.config_text.apply(lambda text: None)

    declare()
    by_type = {r.type.rsplit(":", 1)[-1]: r.inputs for r in mocks.resources}
    assert by_type["ClusterRole"]["rules"] == [
        {"apiGroups": [""], "resources": ["events"], "verbs": ["get", "list", "watch"]}
    ]
    binding = by_type["ClusterRoleBinding"]
    assert binding["roleRef"]["name"] == by_type["ClusterRole"]["metadata"]["name"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "alloy-events", "namespace": "alloy"}]
    assert by_type["ConfigMap"]["metadata"]["name"] == CONFIG_MAP
    assert "Role" not in by_type and "Secret" not in by_type
