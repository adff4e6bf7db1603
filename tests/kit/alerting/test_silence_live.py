"""The silent-workload rule in a real Prometheus, fed by remote write as the hub is by Alloy.

The control room's rule file is loaded as shipped (less Mimir's ``source_tenants`` and the group
interval, so the test evaluates every second): a workload that writes is not silent, one whose last
sample is older than ``silent_after`` is, one the inventory names that never wrote is too, and a
silent workload that writes again stops alerting.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fleet_services import wait_for
from prometheus_server import PROMETHEUS, PromServer, needs_prometheus, running_prometheus
from promtool import for_unit_tests

from fleet.inventory.models import AlertThresholds
from kit.alerting.catalogue import controlroom_rule_groups
from kit.alerting.rules import rule_file

pytestmark = needs_prometheus

WORKLOADS = ("writing", "stale", "never")


@pytest.fixture(scope="module")
def prom(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PromServer]:
    if not Path(PROMETHEUS).exists():
        pytest.skip("the prometheus binary is not installed")
    home = tmp_path_factory.mktemp("prometheus-rules")
    groups = controlroom_rule_groups(WORKLOADS, AlertThresholds(silent_after="10m"))
    rules = home / "controlroom.yaml"
    rules.write_text(for_unit_tests(rule_file(groups, prometheus=True), annotations=True))
    with running_prometheus(home, rule_files=[rules], evaluation_interval="1s") as server:
        yield server


def _silent(prom: PromServer) -> set[str]:
    alerts = prom.api("alerts")["alerts"]
    return {
        alert["labels"]["workload"]
        for alert in alerts
        if alert["labels"]["alertname"] == "FleetWorkloadSilent" and alert["state"] == "firing"
    }


def test_silent_workloads_alert_and_writing_ones_do_not(prom: PromServer) -> None:
    prom.push(["writing"])
    prom.push(["stale"], age_s=15 * 60)
    wait_for(lambda: _silent(prom) == {"stale", "never"}, "FleetWorkloadSilent for stale and never only")
    prom.push(["stale"])
    wait_for(lambda: _silent(prom) == {"never"}, "stale to stop being silent once it writes again")
