from __future__ import annotations

import json

from controlroom.grafana import federated_tenants

from .conftest import RenderControlRoom


def test_federated_tenants_are_sorted_and_unique() -> None:
    assert federated_tenants(["b", "a", "b"]) == "a|b"


def test_one_metrics_datasource_the_central_mimir_across_all_tenants(
    render_controlroom: RenderControlRoom,
) -> None:
    rendered = render_controlroom("azure", workloads=("gamma", "alpha", "beta"))
    chart = rendered.chart("grafana-chart")
    assert chart["chart"] == "grafana"
    assert chart["version"] == "10.1.4"
    assert chart["namespace"] == "grafana"
    values = chart["values"]
    datasource, alertmanager = values["datasources"]["datasources.yaml"]["datasources"]
    assert datasource["type"] == "prometheus"
    assert datasource["url"] == "http://mimir-gateway.mimir.svc.cluster.local/prometheus"
    assert datasource["basicAuth"] is True and datasource["basicAuthUser"] == "fleet-reader"
    assert datasource["jsonData"]["httpHeaderName1"] == "X-Scope-OrgID"
    # The workloads' tenants and the hub's own (its collector's series, the ruler's ALERTS).
    assert datasource["secureJsonData"]["httpHeaderValue1"] == "alpha|beta|controlroom|gamma"
    assert datasource["secureJsonData"]["basicAuthPassword"] == "$MIMIR_READER_PASSWORD"
    # The hub's Alertmanager, in the hub's own tenant only (where the fleet's alerts land).
    assert alertmanager["type"] == "alertmanager"
    assert alertmanager["url"] == "http://mimir-gateway.mimir.svc.cluster.local"
    assert alertmanager["basicAuthUser"] == "fleet-reader"
    assert alertmanager["secureJsonData"] == {
        "httpHeaderValue1": "controlroom",
        "basicAuthPassword": "$MIMIR_READER_PASSWORD",
    }
    assert "controlroom" not in json.dumps(alertmanager["jsonData"])
    # Grafana's names (AlertManagerDataSourceJsonData): "mimir" makes Grafana call
    # /alertmanager/api/v2/... and /api/v1/alerts on the gateway's root, the paths it opens.
    assert alertmanager["jsonData"] == {
        "implementation": "mimir",
        "handleGrafanaManagedAlerts": False,
        "httpHeaderName1": "X-Scope-OrgID",
    }
    assert alertmanager["access"] == "proxy" and alertmanager["editable"] is False
    assert values["envValueFrom"]["MIMIR_READER_PASSWORD"] == {
        "secretKeyRef": {"name": "grafana-mimir-reader", "key": "password"}
    }
    reader = rendered.kubernetes("Secret", "grafana-mimir-reader")
    assert reader["metadata"]["namespace"] == "grafana"
    assert reader["stringData"]["password"] == rendered.plan["outputs"]["reader"]["password"]
    assert values["admin"]["existingSecret"] == "grafana-admin"
    admin = rendered.kubernetes("Secret", "grafana-admin")["stringData"]
    assert admin["admin-user"] == "admin" and len(admin["admin-password"]) == 32
