"""The Alertmanager configuration built from ``spec.alerting``, judged by Alertmanager's own
``amtool`` (Debian's ``prometheus-alertmanager``): ``check-config`` loads it as Alertmanager would,
and ``config routes test`` says which receiver an alert with given labels reaches."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from fleet.inventory.models import UNROUTED_RECEIVER, Alerting
from kit.alerting.alertmanager import (
    ENV_SECRET,
    SECRETS_DIR,
    MissingSecret,
    alertmanager_config,
    alertmanager_yaml,
    environment_secrets,
    secret_refs,
    secrets_volume,
)

AMTOOL = shutil.which("amtool") or "/usr/bin/amtool"
needs_amtool = pytest.mark.skipif(
    not Path(AMTOOL).exists(),
    reason="amtool is not installed (apt-get install prometheus-alertmanager; see .ci/apt-packages.txt)",
)

EVERY_KIND: dict[str, Any] = {
    "receiver": "oncall",
    "routes": [
        {"receiver": "mail", "matchers": ['alertname=~"FleetHub.*"'], "continue": True},
        {"receiver": "oncall", "matchers": ['severity="critical"']},
        {"receiver": "team", "matchers": ['workload=~"pay.*"', 'severity="warning"']},
    ],
    "receivers": [
        {"name": "oncall", "pagerduty": {"routing_key": {"env": "FLEET_TEST_PD_KEY"}}},
        {
            "name": "team",
            "slack": {"api_url": {"kubernetes": "slack-webhook/url"}, "channel": "#payments"},
            "opsgenie": {
                "api_key": {"env": "FLEET_TEST_OPSGENIE"},
                "api_url": "https://api.eu.opsgenie.com/",
            },
        },
        {
            "name": "mail",
            "email": {
                "to": "ops@example.com",
                "from": "fleet@example.com",
                "smarthost": "smtp.example.com:587",
                "username": "fleet",
                "password": {"env": "FLEET_TEST_SMTP"},
            },
            "webhook": {"url": "https://hooks.example.com/fleet", "bearer_token": {"env": "FLEET_TEST_HOOK"}},
        },
    ],
}


def _amtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([AMTOOL, *args], capture_output=True, text=True, timeout=60, check=False)


def _write(tmp_path: Path, routing: Alerting) -> Path:
    path = tmp_path / "alertmanager.yaml"
    path.write_text(alertmanager_yaml(routing))
    return path


def _route(config: Path, *labels: str) -> str:
    done = _amtool("config", "routes", "test", f"--config.file={config}", *labels)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.strip()


@needs_amtool
def test_every_receiver_kind_passes_amtool(tmp_path: Path) -> None:
    done = _amtool("check-config", str(_write(tmp_path, Alerting.model_validate(EVERY_KIND))))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 receivers" in done.stdout


def _amtool_knows_webhook_url_file(tmp_path: Path) -> bool:
    probe = tmp_path / "probe.yaml"
    probe.write_text(
        yaml.safe_dump(
            {"route": {"receiver": "w"}, "receivers": [{"name": "w", "webhook_configs": [{"url_file": "/"}]}]}
        )
    )
    return _amtool("check-config", str(probe)).returncode == 0


@needs_amtool
def test_a_secret_webhook_url_passes_amtool(tmp_path: Path) -> None:
    if not _amtool_knows_webhook_url_file(tmp_path):
        pytest.skip("this amtool predates webhook url_file (Alertmanager 0.25, Debian 12); Mimir 3's has it")
    routing = Alerting.model_validate(
        {"receiver": "hook", "receivers": [{"name": "hook", "webhook": {"url": {"env": "HOOK_URL"}}}]}
    )
    done = _amtool("check-config", str(_write(tmp_path, routing)))
    assert done.returncode == 0, done.stdout + done.stderr


@needs_amtool
def test_routes_send_alerts_where_the_inventory_says(tmp_path: Path) -> None:
    config = _write(tmp_path, Alerting.model_validate(EVERY_KIND))
    assert _route(config, "alertname=FleetAlloyWriteFailures", "workload=pay", "severity=warning") == "team"
    assert _route(config, "alertname=FleetWorkloadSilent", "workload=pay", "severity=critical") == "oncall"
    # continue: the hub's alerts reach the mail receiver, then the next route that matches.
    assert _route(config, "alertname=FleetHubPushErrors", "severity=critical") == "mail,oncall"


@needs_amtool
def test_without_receivers_alerts_are_kept_but_notify_nobody(tmp_path: Path) -> None:
    config = _write(tmp_path, Alerting())
    done = _amtool("check-config", str(config))
    assert done.returncode == 0, done.stdout + done.stderr
    assert _route(config, "alertname=FleetWorkloadSilent", "workload=a") == UNROUTED_RECEIVER


def test_the_configuration_names_files_never_secrets() -> None:
    routing = Alerting.model_validate(EVERY_KIND)
    environ = {
        "FLEET_TEST_PD_KEY": "pd-s3cret",
        "FLEET_TEST_OPSGENIE": "og-s3cret",
        "FLEET_TEST_SMTP": "smtp-s3cret",
        "FLEET_TEST_HOOK": "hook-s3cret",
    }
    values = environment_secrets(routing, environ)
    text = alertmanager_yaml(routing)
    assert all(value not in text for value in environ.values())
    assert values == {
        "oncall-pagerduty-routing-key": "pd-s3cret",
        "team-opsgenie-api-key": "og-s3cret",
        "mail-email-password": "smtp-s3cret",
        "mail-webhook-bearer-token": "hook-s3cret",
    }
    config = alertmanager_config(routing)
    oncall = next(r for r in config["receivers"] if r["name"] == "oncall")
    assert oncall["pagerduty_configs"][0]["routing_key_file"] == f"{SECRETS_DIR}/oncall-pagerduty-routing-key"


def test_the_volume_projects_every_secret_under_its_id() -> None:
    routing = Alerting.model_validate(EVERY_KIND)
    volume = secrets_volume(routing)
    assert volume is not None
    sources = volume["projected"]["sources"]
    assert sources[0]["secret"]["name"] == ENV_SECRET
    paths = {item["path"] for source in sources for item in source["secret"]["items"]}
    assert paths == set(secret_refs(routing))
    slack = {"name": "slack-webhook", "items": [{"key": "url", "path": "team-slack-api-url"}]}
    assert {"secret": slack} in sources
    assert secrets_volume(Alerting()) is None


def test_a_missing_variable_is_named_without_any_value() -> None:
    routing = Alerting.model_validate(EVERY_KIND)
    with pytest.raises(MissingSecret, match="FLEET_TEST_PD_KEY") as caught:
        environment_secrets(routing, {"FLEET_TEST_OPSGENIE": "og-s3cret"})
    assert "og-s3cret" not in str(caught.value)


def test_an_offline_render_reads_an_unset_variable_as_a_marked_placeholder() -> None:
    from kit.alerting.alertmanager import offline_placeholders, placeholder, unset_env_secrets

    routing = Alerting.model_validate(EVERY_KIND)
    environ = {"FLEET_TEST_OPSGENIE": "og-s3cret"}
    unset = unset_env_secrets(routing, environ)
    assert "FLEET_TEST_PD_KEY" in {s.variable for s in unset}
    assert "FLEET_TEST_OPSGENIE" not in {s.variable for s in unset}
    with offline_placeholders():
        values = environment_secrets(routing, environ)
    assert values["team-opsgenie-api-key"] == "og-s3cret"
    assert values["oncall-pagerduty-routing-key"] == placeholder("FLEET_TEST_PD_KEY")
    assert "FLEET_TEST_PD_KEY" in placeholder("FLEET_TEST_PD_KEY") and "placeholder" in placeholder("X")
    # Outside the block, the same call refuses again.
    with pytest.raises(MissingSecret, match=r"^fleet.yaml spec\.alerting\.receivers\["):
        environment_secrets(routing, environ)
