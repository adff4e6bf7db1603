from __future__ import annotations

import re

import pytest

from controlroom.gateway import READ_ENDPOINTS, gateway_nginx_config
from fleet.inventory.models import ControlRoomGateway

from .conftest import RenderControlRoom


def _location(config: str, path: str) -> str:
    match = re.search(r"location " + re.escape(path) + r" \{(.*?)\n    \}", config, re.S)
    assert match, f"no location {path}"
    return match.group(1)


def _config() -> str:
    return gateway_nginx_config(ControlRoomGateway(), "mimir")


def test_write_path_derives_the_tenant_from_the_authenticated_user() -> None:
    config = _config()
    for path in ("= /api/v1/push", "= /otlp/v1/metrics"):
        block = _location(config, path)
        assert "auth_basic_user_file /etc/nginx/secrets/.htpasswd;" in block
        assert re.search(r"proxy_set_header\s+X-Scope-OrgID \$remote_user;", block)
        assert "distributor-headless" in block


def test_read_path_uses_the_reader_file_and_passes_the_tenant_header() -> None:
    config = _config()
    block = _location(config, "~ ^/prometheus/api/v1/(?<endpoint>" + "|".join(READ_ENDPOINTS) + ")$")
    assert "auth_basic_user_file /etc/nginx/reader/.htpasswd;" in block
    assert "proxy_set_header     X-Scope-OrgID" not in block
    assert "query-frontend" in block
    assert "return 404;" in _location(config, "/")
    # The chart passes the file through Helm's tpl, which leaves text without {{ unchanged.
    assert "{{" not in config and "}}" not in config


def test_chart_comes_from_the_version_set_with_tenancy_and_federation(
    render_controlroom: RenderControlRoom,
) -> None:
    rendered = render_controlroom("aws")
    chart = rendered.chart("mimir-chart")
    assert rendered.resource("mimir-chart")["type"] == "kubernetes:helm.sh/v4:Chart"
    assert chart["chart"] == "mimir-distributed"
    assert chart["version"] == "6.0.0"
    assert chart["repositoryOpts"] == {"repo": "https://grafana.github.io/helm-charts"}
    assert chart["namespace"] == "mimir"
    assert chart["name"] == "mimir"
    values = chart["values"]
    structured = values["mimir"]["structuredConfig"]
    assert structured["multitenancy_enabled"] is True
    assert structured["tenant_federation"] == {"enabled": True}
    assert structured["limits"]["compactor_blocks_retention_period"] == "120d"
    assert values["minio"] == {"enabled": False}
    gateway = values["gateway"]
    assert "enabledNonEnterprise" not in gateway  # 6.x does not read it
    assert values["kafka"] == {"enabled": False}  # never the chart's demo broker
    assert structured["ingest_storage"] == {"enabled": False}
    assert gateway["nginx"]["basicAuth"] == {"enabled": True, "existingSecret": "mimir-gateway-htpasswd"}
    assert gateway["nginx"]["config"]["file"] == _config()
    assert gateway["extraVolumes"] == [
        {"name": "reader-htpasswd", "secret": {"secretName": "mimir-gateway-reader-htpasswd"}},
        {"name": "rotation-htpasswd", "secret": {"secretName": "mimir-gateway-rotation-htpasswd"}},
    ]
    assert [mount["mountPath"] for mount in gateway["extraVolumeMounts"]] == [
        "/etc/nginx/reader",
        "/etc/nginx/rotation",
    ]
    assert gateway["ingress"]["hosts"][0]["host"] == "mimir.ctrl.acme.example"


@pytest.mark.parametrize(("replicas", "factor", "zones"), [(1, 1, False), (3, 3, True), (6, 3, True)])
def test_replication_follows_the_replicas(
    render_controlroom: RenderControlRoom, replicas: int, factor: int, zones: bool
) -> None:
    values = render_controlroom("aws", replicas=replicas).chart("mimir-chart")["values"]
    assert values["ingester"]["replicas"] == replicas
    assert values["ingester"]["zoneAwareReplication"] == {"enabled": zones}
    assert values["mimir"]["structuredConfig"]["ingester"]["ring"]["replication_factor"] == factor


def test_the_hub_certificate_from_cert_manager_or_a_secret() -> None:
    from controlroom.mimir import ingress_values
    from fleet.inventory.models import ControlRoom

    base = {"cloud": "aws", "region": "us-east-1", "account_id": "123456789012", "domain": "ctrl.example.com"}
    issued = ingress_values(
        ControlRoom(**base, tls={"cluster_issuer": "letsencrypt", "ingress_class": "nginx"})
    )
    assert issued["annotations"] == {"cert-manager.io/cluster-issuer": "letsencrypt"}
    assert issued["ingressClassName"] == "nginx"
    assert issued["tls"] == [{"secretName": "mimir-gateway-tls", "hosts": ["mimir.ctrl.example.com"]}]
    namespaced = ingress_values(ControlRoom(**base, tls={"issuer": "acme"}))
    assert namespaced["annotations"] == {"cert-manager.io/issuer": "acme"}
    own = ingress_values(ControlRoom(**base, tls={"secret": "hub-tls"}))
    assert own["annotations"] == {}
    assert own["tls"][0]["secretName"] == "hub-tls"
    assert "ingressClassName" not in own


def test_ingest_storage_only_on_the_inventorys_kafka() -> None:
    from fleet.inventory.models import MimirKafka
    from kit.mimir import architecture

    values, config = architecture(None)
    assert values == {"kafka": {"enabled": False}}
    assert config == {"ingest_storage": {"enabled": False}, "ingester": {"push_grpc_method_enabled": True}}
    values, config = architecture(MimirKafka(address="kafka-0:9092", topic="metrics"))
    assert values == {"kafka": {"enabled": False}}
    assert config == {
        "ingest_storage": {"enabled": True, "kafka": {"address": "kafka-0:9092", "topic": "metrics"}}
    }


def test_each_workload_gets_its_central_limits_as_runtime_overrides(
    render_controlroom: RenderControlRoom,
) -> None:
    values = render_controlroom("aws", workloads=("alpha", "beta")).chart("mimir-chart")["values"]
    default = {
        "max_global_series_per_user": 800_000,
        "ingestion_rate": 100_000,
        "ingestion_burst_size": 1_000_000,
    }
    assert values["runtimeConfig"] == {"overrides": {"alpha": default, "beta": default}}
