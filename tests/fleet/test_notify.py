from __future__ import annotations

import base64
import http.server
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone

import pytest

from fleet.errors import OperationError
from fleet.notify import (
    EVENTS,
    SCHEMA_VERSION,
    build_payload,
    send_webhook,
    validate_webhook_url,
)


@dataclass(frozen=True)
class StackOutcome:
    """A stack as a notification sees it (the journal's StackState has the same fields)."""

    stack: str
    status: str
    error: str | None = None


# --- build_payload ------------------------------------------------------------------------------


def test_payload_of_a_finished_rollout() -> None:
    payload = build_payload(
        rollout_id="r-20240106-0300",
        kind="upgrade",
        event="finished",
        dry_run=False,
        stacks=[
            StackOutcome("controlroom", "succeeded"),
            StackOutcome("shop-eu", "succeeded"),
            StackOutcome("shop-us", "failed", "helm release mimir: timed out"),
        ],
        started_by="ops@example.com",
        started_at=datetime(2024, 1, 6, 2, 0, tzinfo=UTC),
        finished_at=datetime(2024, 1, 6, 3, 0, tzinfo=timezone(timedelta(hours=1))),
    )
    assert payload == {
        "version": SCHEMA_VERSION,
        "rollout": "r-20240106-0300",
        "kind": "upgrade",
        "event": "finished",
        "dry_run": False,
        "text": "fleet upgrade rollout r-20240106-0300 finished: 1 failed, 2 succeeded",
        "reason": None,
        "started_by": "ops@example.com",
        "started_at": "2024-01-06T02:00:00Z",
        "finished_at": "2024-01-06T02:00:00Z",
        "counts": {"failed": 1, "succeeded": 2},
        "stacks": [
            {"stack": "controlroom", "status": "succeeded", "error": None},
            {"stack": "shop-eu", "status": "succeeded", "error": None},
            {"stack": "shop-us", "status": "failed", "error": "helm release mimir: timed out"},
        ],
    }
    assert json.loads(json.dumps(payload)) == payload


def test_payload_of_a_halted_dry_run_carries_the_reason() -> None:
    payload = build_payload(
        rollout_id="r1",
        kind="deploy",
        event="halted",
        dry_run=True,
        stacks=[StackOutcome("w1", "succeeded"), StackOutcome("w2", "pending")],
        reason="gate: silent: w1",
    )
    assert payload["dry_run"] is True
    assert payload["reason"] == "gate: silent: w1"
    assert payload["text"] == (
        "fleet deploy rollout r1 halted (dry run): 1 pending, 1 succeeded (gate: silent: w1)"
    )


def test_payload_without_stacks() -> None:
    payload = build_payload(rollout_id="r1", kind="deploy", event="started", dry_run=False, stacks=[])
    assert payload["stacks"] == []
    assert payload["counts"] == {}
    assert payload["text"] == "fleet deploy rollout r1 started"


def test_errors_are_one_line_and_mask_url_credentials() -> None:
    error = "push to https://shop-eu:s3cr3t@mimir.example.com/api/v1/push failed\n  traceback...\n"
    payload = build_payload(
        rollout_id="r1",
        kind="deploy",
        event="failed",
        dry_run=False,
        stacks=[StackOutcome("shop-eu", "failed", error + "x" * 1000)],
        reason="see\nabove",
    )
    cleaned = payload["stacks"][0]["error"]
    assert "s3cr3t" not in json.dumps(payload)
    assert cleaned.startswith("push to https://***@mimir.example.com/api/v1/push failed traceback...")
    assert "\n" not in cleaned
    assert len(cleaned) == 500
    assert payload["reason"] == "see above"


def test_unknown_event_is_refused() -> None:
    with pytest.raises(ValueError, match="not one of started, halted"):
        build_payload(rollout_id="r1", kind="deploy", event="exploded", dry_run=False, stacks=[])


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        build_payload(
            rollout_id="r1",
            kind="deploy",
            event="finished",
            dry_run=False,
            stacks=[],
            started_at=datetime(2024, 1, 1),
        )


def test_every_event_builds() -> None:
    for event in EVENTS:
        assert (
            build_payload(rollout_id="r", kind="k", event=event, dry_run=False, stacks=[])["event"] == event
        )


@pytest.mark.parametrize(
    "url",
    ["ftp://hooks.example.com/x", "hooks.example.com/x", "https:///path", "http://host:port/x"],
)
def test_validate_webhook_url_rejects(url: str) -> None:
    with pytest.raises(ValueError, match="webhook URL"):
        validate_webhook_url(url)


def test_validate_webhook_url_accepts() -> None:
    validate_webhook_url("https://user:pw@hooks.example.com:8443/services/T0/B0/XYZ?x=1")
    validate_webhook_url("http://[::1]:8080/hook")


# --- send_webhook against a real local HTTP server ------------------------------------------------


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Hook:
    url: str
    port: int
    replies: list[int] = field(default_factory=list)  # statuses to answer, in order; then 204
    received: list[Received] = field(default_factory=list)


@pytest.fixture
def hook() -> Iterator[Hook]:
    state = Hook(url="", port=0)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            headers = {key.lower(): value for key, value in self.headers.items()}
            state.received.append(Received("POST", self.path, headers, body))
            status = state.replies.pop(0) if state.replies else 204
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("Location", f"http://127.0.0.1:{state.port}/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self) -> None:
            state.received.append(Received("GET", self.path, {}, b""))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = int(server.server_address[1])
    state.url = f"http://127.0.0.1:{state.port}/hooks/fleet"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


PAYLOAD = build_payload(
    rollout_id="r1",
    kind="upgrade",
    event="failed",
    dry_run=False,
    stacks=[StackOutcome("shöp-eu", "failed", "boom")],
)


def test_posts_json(hook: Hook) -> None:
    send_webhook(hook.url, PAYLOAD)
    [request] = hook.received
    assert request.method == "POST"
    assert request.path == "/hooks/fleet"
    assert request.headers["content-type"] == "application/json"
    assert "authorization" not in request.headers
    assert json.loads(request.body.decode("utf-8")) == PAYLOAD


def test_retries_on_5xx_then_succeeds(hook: Hook) -> None:
    hook.replies = [500, 503]
    waits: list[float] = []
    send_webhook(hook.url, PAYLOAD, retries=2, backoff_s=0.5, sleep=waits.append)
    assert len(hook.received) == 3
    assert all(json.loads(r.body) == PAYLOAD for r in hook.received)
    assert waits == [0.5, 1.0]


def test_retries_on_429(hook: Hook) -> None:
    hook.replies = [429]
    send_webhook(hook.url, PAYLOAD, backoff_s=0)
    assert len(hook.received) == 2


def test_gives_up_after_the_retries(hook: Hook) -> None:
    hook.replies = [500, 500, 500, 500]
    with pytest.raises(OperationError) as caught:
        send_webhook(hook.url, PAYLOAD, retries=2, backoff_s=0)
    assert len(hook.received) == 3
    assert str(caught.value) == (
        f"webhook to http://127.0.0.1:{hook.port} failed: HTTP 500 Internal Server Error (3 attempts)"
    )


def test_client_error_is_not_retried(hook: Hook) -> None:
    hook.replies = [400]
    with pytest.raises(OperationError, match=r"HTTP 400 Bad Request \(1 attempt\)"):
        send_webhook(hook.url, PAYLOAD, backoff_s=0)
    assert len(hook.received) == 1


def test_redirect_is_not_followed(hook: Hook) -> None:
    hook.replies = [302]
    with pytest.raises(OperationError, match="HTTP 302"):
        send_webhook(hook.url, PAYLOAD, backoff_s=0)
    assert [r.method for r in hook.received] == ["POST"]


def test_credentials_in_the_url_become_basic_auth(hook: Hook) -> None:
    url = hook.url.replace("http://", "http://fleet:p%40ss%3Aword@")
    send_webhook(url, PAYLOAD)
    [request] = hook.received
    expected = base64.b64encode(b"fleet:p@ss:word").decode()
    assert request.headers["authorization"] == f"Basic {expected}"
    assert request.path == "/hooks/fleet"


def test_secret_parts_of_the_url_never_reach_the_message(hook: Hook) -> None:
    hook.replies = [500, 500]
    url = f"http://fleet:hunter2@127.0.0.1:{hook.port}/services/T000/B000/tok3n?sig=s1gn"
    with pytest.raises(OperationError) as caught:
        send_webhook(url, PAYLOAD, retries=1, backoff_s=0)
    message = str(caught.value)
    for secret in ("hunter2", "tok3n", "s1gn", "fleet:"):
        assert secret not in message
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None


def test_unreachable_server_fails_after_retries() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    waits: list[float] = []
    with pytest.raises(OperationError) as caught:
        send_webhook(f"http://u:pw@127.0.0.1:{port}/x", PAYLOAD, retries=2, backoff_s=1, sleep=waits.append)
    assert str(caught.value) == (
        f"webhook to http://127.0.0.1:{port} failed: cannot connect: connection refused (3 attempts)"
    )
    assert waits == [1, 2]


def test_server_that_never_answers_times_out() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        with pytest.raises(OperationError, match=r"cannot connect: timed out \(1 attempt\)"):
            send_webhook(f"http://127.0.0.1:{port}/x", PAYLOAD, timeout_s=0.2, retries=0)


def test_invalid_url_is_an_operation_error() -> None:
    with pytest.raises(OperationError, match="webhook not sent: the webhook URL must be"):
        send_webhook("hooks.example.com/x", PAYLOAD)
