"""The upgrade hooks: the health gate against a small real HTTP server speaking the Prometheus
query API, the maintenance-window check, and the webhook on a real HTTP server."""

from __future__ import annotations

import base64
import functools
import http.server
import json
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from inventories import copy_example

from fleet.inventory.loader import Inventory, load_inventory
from fleet.inventory.models import UpgradeSchedule
from fleet.journal import Journal, RolloutStatus, journal_url_for
from fleet.rollout.gates import wait_until_receiving
from fleet.rollout.hooks import (
    DRY_RUN_GATE,
    SCHEDULER_ACTOR,
    SCRIPTED_GATE,
    GateAccess,
    health_gate_hook,
    notification_hook,
    rollout_hooks,
    window_hook,
)
from fleet.rollout.waves import Wave

PASSWORD = "s3cret-reader-pw"


@dataclass
class FakeMimir:
    """What the test HTTP server answers: the workloads whose series arrive, and what it saw."""

    receiving: set[str] = field(default_factory=set)
    requests: list[dict[str, str]] = field(default_factory=list)


def serve(handler: type[http.server.BaseHTTPRequestHandler]) -> tuple[http.server.HTTPServer, str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture
def mimir() -> Iterator[tuple[FakeMimir, str]]:
    state = FakeMimir()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"])).decode()
            query = urllib.parse.parse_qs(body)["query"][0]
            auth = self.headers.get("Authorization", "")
            state.requests.append(
                {"path": self.path, "query": query, "tenants": self.headers["X-Scope-OrgID"]}
            )
            if auth != "Basic " + base64.b64encode(f"fleet-reader:{PASSWORD}".encode()).decode():
                self.send_response(401)
                self.end_headers()
                return
            asked = self.headers["X-Scope-OrgID"].split("|")
            result = [
                {"metric": {"workload": name}, "value": [0, "1"]} for name in asked if name in state.receiving
            ]
            payload = json.dumps({"status": "success", "data": {"resultType": "vector", "result": result}})
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(payload.encode())

        def log_message(self, *args: Any) -> None:
            pass

    server, url = serve(Handler)
    yield state, f"{url}/prometheus"
    server.shutdown()
    server.server_close()


@pytest.fixture
def inventory(tmp_path: Path) -> Inventory:
    copy_example(tmp_path / "inv")
    return load_inventory(tmp_path / "inv")


@pytest.fixture
def journal(inventory: Inventory) -> Iterator[Journal]:
    with Journal(journal_url_for(inventory.root)) as opened:
        yield opened


class FakeTime:
    """A clock and a sleep that advances it: the gate's polling runs without waiting."""

    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def finished_wave(journal: Journal, stacks: tuple[str, ...], *, dry_run: bool = False) -> tuple[str, Any]:
    """A running upgrade whose first wave (``stacks``) just succeeded."""
    rollout = journal.create_rollout(
        [Wave(0, "canary", stacks), Wave(1, "wave 1", ("payments-prod",))],
        kind="upgrade",
        dry_run=dry_run,
        policy={},
        versions={},
    )
    journal.set_status(rollout.id, "running")
    journal.mark_wave(rollout.id, 0, "running")
    for stack in stacks:
        claim = journal.claim(rollout.id, stack, worker="test")
        assert claim.attempt is not None
        journal.finish(rollout.id, stack, claim.attempt, "succeeded", versions={"alloy": "1.5.0"})
    journal.mark_wave(rollout.id, 0, "succeeded")
    return rollout.id, journal.get_rollout(rollout.id).waves[0]


def gate(
    inventory: Inventory, journal: Journal, rollout_id: str, url: str, *, password: str = PASSWORD
) -> Any:
    fake = FakeTime()
    return health_gate_hook(
        inventory,
        journal,
        rollout_id,
        dry_run=journal.rollout(rollout_id).dry_run,
        access=lambda: GateAccess(url, "fleet-reader", password),
        wait=functools.partial(wait_until_receiving, clock=fake.clock, sleep=fake.sleep),
    )


def test_the_gate_passes_when_the_wave_is_receiving(
    inventory: Inventory, journal: Journal, mimir: tuple[FakeMimir, str]
) -> None:
    state, url = mimir
    state.receiving = {"search-staging"}
    rollout_id, wave = finished_wave(journal, ("search-staging",))
    assert gate(inventory, journal, rollout_id, url)(wave) is None
    recorded = journal.get_rollout(rollout_id).waves[0].gate
    assert recorded is not None and recorded.passed
    assert recorded.reason == "receiving series from 1 workload"
    assert state.requests[-1]["tenants"] == "search-staging"
    assert state.requests[-1]["path"] == "/prometheus/api/v1/query"


def test_a_silent_workload_halts_the_rollout_after_polling_until_the_timeout(
    inventory: Inventory, journal: Journal, mimir: tuple[FakeMimir, str]
) -> None:
    state, url = mimir
    state.receiving = {"search-staging"}
    rollout_id, wave = finished_wave(journal, ("search-staging", "analytics-prod"))
    reason = gate(inventory, journal, rollout_id, url)(wave)
    assert reason is not None
    assert reason.startswith("health gate after canary: silent: analytics-prod (after 10m")
    assert len(state.requests) == 1 + 600 // 30  # every 30s for 10m (spec.health defaults)
    recorded = journal.get_rollout(rollout_id).waves[0].gate
    assert recorded is not None and not recorded.passed


def test_wrong_credentials_halt_at_once_without_the_password_in_the_reason(
    inventory: Inventory, journal: Journal, mimir: tuple[FakeMimir, str]
) -> None:
    state, url = mimir
    rollout_id, wave = finished_wave(journal, ("search-staging",))
    reason = gate(inventory, journal, rollout_id, url, password="wrong-password")(wave)
    assert reason is not None and "rejected the credentials (HTTP 401" in reason
    assert "wrong-password" not in reason and len(state.requests) == 1


def test_dry_runs_skip_the_gate_and_say_so(inventory: Inventory, journal: Journal) -> None:
    rollout_id, wave = finished_wave(journal, ("search-staging",), dry_run=True)
    hook = health_gate_hook(inventory, journal, rollout_id, dry_run=True, access=lambda: pytest.fail("asked"))
    assert hook(wave) is None
    recorded = journal.get_rollout(rollout_id).waves[0].gate
    assert recorded is not None and (recorded.passed, recorded.reason) == (True, DRY_RUN_GATE)


def test_an_unreadable_control_room_fails_closed(inventory: Inventory, journal: Journal) -> None:
    from fleet.errors import OperationError

    def no_access() -> GateAccess:
        raise OperationError("stack controlroom does not exist yet; deploy it first")

    rollout_id, wave = finished_wave(journal, ("search-staging",))
    reason = health_gate_hook(inventory, journal, rollout_id, dry_run=False, access=no_access)(wave)
    assert reason == (
        "health gate after canary: cannot ask the control room: "
        "stack controlroom does not exist yet; deploy it first"
    )


def test_the_window_hook_pauses_outside_the_window() -> None:
    schedule = UpgradeSchedule(schedule="0 3 * * SAT", window="4h", timezone="UTC")
    now = [datetime(2026, 3, 7, 6, 59, tzinfo=UTC)]
    hook = window_hook(schedule, clock=lambda: now[0])
    record = Wave(2, "wave 2", ("payments-prod",))  # the hook reads only the wave's name
    assert hook(record) is None  # type: ignore[arg-type]
    now[0] = datetime(2026, 3, 7, 7, 0, tzinfo=UTC)
    assert hook(record) == (  # type: ignore[arg-type]
        "maintenance window closed before wave 2; continues at 2026-03-14T03:00:00+00:00"
    )


def test_the_webhook_fires_once_per_end_state(
    inventory: Inventory, journal: Journal, webhook: tuple[str, list[dict[str, Any]]]
) -> None:
    url, received = webhook
    rollout_id, _wave = finished_wave(journal, ("search-staging",))
    on_update = notification_hook(url, kind="upgrade")
    on_update(journal.get_rollout(rollout_id))  # running: nothing to say
    journal.set_status(rollout_id, RolloutStatus.HALTED, reason="health gate after canary: silent: x")
    on_update(journal.get_rollout(rollout_id))
    on_update(journal.get_rollout(rollout_id))  # the same state again: no second message
    assert [(m["event"], m["kind"], m["reason"]) for m in received] == [
        ("halted", "upgrade", "health gate after canary: silent: x")
    ]
    assert received[0]["counts"] == {"pending": 1, "succeeded": 1}


def test_an_unreachable_webhook_is_not_fatal(inventory: Inventory, journal: Journal) -> None:
    rollout_id, _wave = finished_wave(journal, ("search-staging",))
    journal.set_status(rollout_id, RolloutStatus.FAILED)
    sent: list[str] = []

    def send(url: str, payload: dict[str, Any]) -> None:
        from fleet.notify import send_webhook

        sent.append(payload["event"])
        send_webhook(url, payload, retries=0)

    notification_hook("http://127.0.0.1:9/hook", kind="upgrade", send=send)(journal.get_rollout(rollout_id))
    assert sent == ["failed"]


# -- which hooks a rollout runs with, decided from its record --------------------------------------


def _recorded(journal: Journal, kind: str, *, started_by: str | None = None, dry_run: bool = False) -> Any:
    rollout = journal.create_rollout(
        [Wave(0, "canary", ("search-staging",))],
        kind=kind,
        dry_run=dry_run,
        policy={},
        versions={},
        started_by=started_by,
    )
    return journal.set_status(rollout.id, "running")


def _with_webhook(inventory: Inventory, url: str) -> Inventory:
    fleet_yaml = inventory.root / "fleet.yaml"
    with fleet_yaml.open("a") as handle:
        handle.write(f"  notifications: {{webhook: {url}}}\n")
    return load_inventory(inventory.root)


def test_a_plain_rollout_gets_the_gate_and_notifies_only_when_a_webhook_is_set(
    inventory: Inventory, journal: Journal, webhook: tuple[str, list[dict[str, Any]]]
) -> None:
    rollout = _recorded(journal, "rollout")
    hooks = rollout_hooks(inventory, journal, rollout)
    assert hooks.may_start_wave is None and hooks.after_wave is not None and hooks.on_update is None
    seen: list[str] = []
    hooks = rollout_hooks(inventory, journal, rollout, on_update=lambda d: seen.append(d.rollout.id))
    assert hooks.on_update is not None
    hooks.on_update(journal.get_rollout(rollout.id))
    assert seen == [rollout.id]

    url, received = webhook
    hooks = rollout_hooks(_with_webhook(inventory, url), journal, rollout)
    assert hooks.on_update is not None
    journal.set_status(rollout.id, RolloutStatus.SUCCEEDED)
    hooks.on_update(journal.get_rollout(rollout.id))
    assert [(m["event"], m["kind"]) for m in received] == [("finished", "rollout")]


def test_a_plain_rollout_halts_when_its_canary_goes_silent(
    inventory: Inventory, journal: Journal, mimir: tuple[FakeMimir, str]
) -> None:
    state, url = mimir
    state.receiving = {"payments-prod"}
    rollout = _recorded(journal, "rollout")
    fake = FakeTime()
    hooks = rollout_hooks(
        inventory,
        journal,
        rollout,
        access=lambda: GateAccess(url, "fleet-reader", PASSWORD),
        wait=functools.partial(wait_until_receiving, clock=fake.clock, sleep=fake.sleep),
    )
    claim = journal.claim(rollout.id, "search-staging", worker="test")
    assert claim.attempt is not None
    journal.finish(rollout.id, "search-staging", claim.attempt, "succeeded", versions={"alloy": "1.5.0"})
    assert hooks.after_wave is not None

    reason = hooks.after_wave(journal.get_rollout(rollout.id).waves[0])

    assert reason is not None and reason.startswith("health gate after canary: silent: search-staging")


def test_an_offboarding_has_no_gate_and_the_scripted_engine_skips_it(
    inventory: Inventory, journal: Journal
) -> None:
    assert rollout_hooks(inventory, journal, _recorded(journal, "offboard")).after_wave is None
    rollout_id, wave = finished_wave(journal, ("search-staging",))
    hook = health_gate_hook(
        inventory, journal, rollout_id, dry_run=False, engine="scripted", access=lambda: pytest.fail("asked")
    )
    assert hook(wave) is None
    recorded = journal.get_rollout(rollout_id).waves[0].gate
    assert recorded is not None and (recorded.passed, recorded.reason) == (True, SCRIPTED_GATE)


def test_an_upgrade_gets_the_gate_and_the_window_only_when_the_scheduler_started_it(
    inventory: Inventory, journal: Journal
) -> None:
    closed = datetime(2026, 3, 9, 12, 0, tzinfo=UTC)  # a Monday: the example's window is on Saturdays
    by_user = _recorded(journal, "upgrade", started_by="ana@laptop", dry_run=True)
    by_beat = _recorded(journal, "upgrade", started_by=SCHEDULER_ACTOR, dry_run=True)

    manual = rollout_hooks(inventory, journal, by_user, clock=lambda: closed)
    scheduled = rollout_hooks(inventory, journal, by_beat, clock=lambda: closed)
    forced = rollout_hooks(inventory, journal, by_user, in_window=True, clock=lambda: closed)

    assert manual.may_start_wave is None
    for hooks, rollout in ((scheduled, by_beat), (forced, by_user)):
        assert hooks.may_start_wave is not None and hooks.after_wave is not None
        wave = journal.get_rollout(rollout.id).waves[0]
        reason = hooks.may_start_wave(wave)
        assert reason is not None and reason.startswith("maintenance window closed before canary")
    assert manual.after_wave is not None
    wave = journal.get_rollout(by_user.id).waves[0]
    assert manual.after_wave(wave) is None  # a dry run: the gate records that it was skipped
    gate = journal.get_rollout(by_user.id).waves[0].gate
    assert gate is not None and gate.reason == DRY_RUN_GATE
