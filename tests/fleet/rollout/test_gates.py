"""The health gate against a real Prometheus server (Debian's ``prometheus`` package), one per
module, fed by remote write (``tests/support/prometheus_server.py``)."""

from __future__ import annotations

import http.server
import shutil
import socket
import threading
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_server import (
    PASSWORD,
    PROMETHEUS,
    USERNAME,
    PromServer,
    basic_auth_header,
    free_port,
    needs_prometheus,
    running_prometheus,
)

from fleet.errors import UserError
from fleet.rollout.gates import (
    GateResult,
    check_receiving,
    mimir_query_base,
    receiving_query,
    wait_until_receiving,
)


@pytest.fixture(scope="module")
def prom(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PromServer]:
    if not Path(PROMETHEUS).exists():
        pytest.skip("the prometheus binary is not installed")
    with running_prometheus(tmp_path_factory.mktemp("prometheus")) as server:
        yield server


@pytest.fixture(scope="module")
def prom_tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PromServer]:
    if not Path(PROMETHEUS).exists():
        pytest.skip("the prometheus binary is not installed")
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is not installed")
    with running_prometheus(tmp_path_factory.mktemp("prometheus-tls"), tls=True) as server:
        yield server


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def check(prom: PromServer, workloads: Sequence[str], **options: object) -> GateResult:
    return check_receiving(
        prom.base_url,
        workloads,
        username=USERNAME,
        password=PASSWORD,
        **options,  # type: ignore[arg-type]
    )


# --- against the real server --------------------------------------------------------------------


@needs_prometheus
def test_passes_when_every_workload_writes(prom: PromServer) -> None:
    names = [unique("w1"), unique("w2")]
    prom.push(names)
    result = check(prom, names)
    assert result == GateResult(True, (), "receiving series from 2 workloads", None)


@needs_prometheus
def test_fails_naming_the_silent_workloads_in_order(prom: PromServer) -> None:
    w1, w2, w3 = unique("w1"), unique("w2"), unique("w3")
    prom.push([w1])
    result = check(prom, [w1, w2, w3])
    assert not result.passed
    assert result.cause == "silent"
    assert result.silent == (w2, w3)
    assert result.reason == f"silent: {w2}, {w3}"


@needs_prometheus
def test_samples_older_than_lookback_do_not_count(prom: PromServer) -> None:
    stale, fresh = unique("stale"), unique("fresh")
    prom.push([stale], age_s=120)
    prom.push([fresh])
    result = check(prom, [stale, fresh], lookback="1m")
    assert result.silent == (stale,)
    assert check(prom, [stale, fresh], lookback="5m").passed


@needs_prometheus
def test_samples_before_since_do_not_count(prom: PromServer) -> None:
    before, after = unique("before"), unique("after")
    prom.push([before], age_s=90)
    prom.push([after], age_s=1)
    wave_ended = datetime.now(UTC) - timedelta(seconds=30)
    result = check(prom, [before, after], since=wave_ended)
    assert result.silent == (before,)


@needs_prometheus
def test_workload_names_match_literally(prom: PromServer) -> None:
    dotted, piped, odd = unique("a.b"), unique("x|y"), unique('q"u\\o\u00fc')
    prom.push([dotted, piped, odd])
    assert check(prom, [dotted, piped, odd]).passed
    # "." is not a wildcard, "|" does not split the name, a prefix is not the name.
    lookalike = dotted.replace(".", "X")
    halves = piped.split("|")
    result = check(prom, [lookalike, *halves, odd[:-1]])
    assert result.silent == (lookalike, *halves, odd[:-1])


@needs_prometheus
def test_tenant_header_is_accepted_by_plain_prometheus(prom: PromServer) -> None:
    name = unique("tenant")
    prom.push([name])
    assert check(prom, [name], tenant_header=True).passed


@needs_prometheus
def test_custom_label(prom: PromServer) -> None:
    name = unique("w")
    prom.push([name])
    # The pushed series carry workload=..., not cluster=...
    assert check(prom, [name], label="cluster").silent == (name,)


@needs_prometheus
def test_wrong_credentials(prom: PromServer) -> None:
    wrong = "not-the-password-xyz"
    result = check_receiving(prom.base_url, ["w1"], username=USERNAME, password=wrong)
    assert not result.passed
    assert result.cause == "credentials"
    assert "HTTP 401" in result.reason
    assert "rejected the credentials" in result.reason
    assert wrong not in result.reason


@needs_prometheus
def test_missing_prometheus_prefix_is_a_bad_response(prom: PromServer) -> None:
    result = check_receiving(prom.root, ["w1"], username=USERNAME, password=PASSWORD)
    assert result.cause == "bad_response"
    assert "HTTP 404" in result.reason
    assert PASSWORD not in result.reason


def test_unreachable_server_connection_refused() -> None:
    url = f"http://127.0.0.1:{free_port()}/prometheus"
    result = check_receiving(url, ["w1"], username=USERNAME, password=PASSWORD, timeout_s=2)
    assert result == GateResult(
        False, (), f"cannot reach {url}/api/v1/query: connection refused", "unreachable"
    )


def test_unreachable_server_timeout() -> None:
    with socket.socket() as listener:  # accepts connections into its backlog, never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        result = check_receiving(url, ["w1"], username=USERNAME, password=PASSWORD, timeout_s=0.2)
    assert result.cause == "unreachable"
    assert result.reason.endswith("timed out")


def test_unknown_host_is_unreachable() -> None:
    result = check_receiving("https://mimir.invalid/prometheus", ["w1"], username=USERNAME, password=PASSWORD)
    assert result.cause == "unreachable"
    assert result.reason.startswith("cannot reach https://mimir.invalid/prometheus/api/v1/query: ")


@needs_prometheus
def test_https_with_a_private_ca(prom_tls: PromServer) -> None:
    assert prom_tls.base_url.startswith("https://")
    pushed, silent = unique("tls"), unique("tls")
    prom_tls.push([pushed])
    result = check_receiving(
        prom_tls.base_url, [pushed, silent], username=USERNAME, password=PASSWORD, ca_file=prom_tls.ca_file
    )
    assert result.silent == (silent,)
    assert check(prom_tls, [pushed], ca_file=prom_tls.ca_file).passed


@needs_prometheus
def test_https_with_an_untrusted_certificate_is_unreachable(prom_tls: PromServer) -> None:
    result = check_receiving(prom_tls.base_url, ["w1"], username=USERNAME, password=PASSWORD)
    assert result.cause == "unreachable"
    assert "CERTIFICATE_VERIFY_FAILED" in result.reason


def test_missing_ca_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="cannot use CA file"):
        check_receiving(
            "https://127.0.0.1:1", ["w"], username="u", password="p", ca_file=str(tmp_path / "no.pem")
        )


# --- waiting, with an injected clock ------------------------------------------------------------


class FakeTime:
    """A clock that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@needs_prometheus
def test_wait_until_receiving_passes_once_samples_arrive(prom: PromServer) -> None:
    early, late = unique("early"), unique("late")
    prom.push([early])
    fake = FakeTime()

    def sleep(seconds: float) -> None:
        fake.sleep(seconds)
        if len(fake.sleeps) == 3:  # the late workload starts writing after the third check
            prom.push([late])

    result = wait_until_receiving(
        prom.base_url,
        [early, late],
        username=USERNAME,
        password=PASSWORD,
        deadline_s=600,
        interval_s=30,
        clock=fake.clock,
        sleep=sleep,
    )
    assert result.passed
    assert fake.sleeps == [30, 30, 30]


@needs_prometheus
def test_wait_until_receiving_gives_up_at_the_deadline(prom: PromServer) -> None:
    never = unique("never")
    fake = FakeTime()
    result = wait_until_receiving(
        prom.base_url,
        [never],
        username=USERNAME,
        password=PASSWORD,
        deadline_s=100,
        interval_s=30,
        clock=fake.clock,
        sleep=fake.sleep,
    )
    assert not result.passed
    assert result.silent == (never,)
    assert fake.sleeps == [30, 30, 30, 10]  # the last check is exactly at the deadline
    assert result.reason == f"silent: {never} (after 1m40s and 5 checks)"


@needs_prometheus
def test_wait_until_receiving_stops_at_once_on_wrong_credentials(prom: PromServer) -> None:
    fake = FakeTime()
    result = wait_until_receiving(
        prom.base_url,
        ["w1"],
        username=USERNAME,
        password="wrong",
        deadline_s=600,
        interval_s=30,
        clock=fake.clock,
        sleep=fake.sleep,
    )
    assert result.cause == "credentials"
    assert fake.sleeps == []


def test_wait_until_receiving_unreachable_until_deadline() -> None:
    fake = FakeTime()
    url = f"http://127.0.0.1:{free_port()}"
    result = wait_until_receiving(
        url,
        ["w1"],
        username=USERNAME,
        password=PASSWORD,
        deadline_s=60,
        interval_s=30,
        clock=fake.clock,
        sleep=fake.sleep,
    )
    assert result.cause == "unreachable"
    assert fake.sleeps == [30, 30]
    assert result.reason.endswith("connection refused (after 1m00s and 3 checks)")


# --- a recording server, for what Prometheus cannot show ----------------------------------------


@dataclass
class Recorded:
    headers: list[dict[str, str]] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)


@pytest.fixture
def scripted() -> Iterator[tuple[str, Recorded, list[tuple[int, bytes]]]]:
    """A local HTTP server answering with the scripted (status, body) replies, in order."""
    recorded = Recorded()
    replies: list[tuple[int, bytes]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            recorded.bodies.append(self.rfile.read(length))
            recorded.headers.append({k.lower(): v for k, v in self.headers.items()})
            status, body = replies.pop(0)
            self.send_response(status)
            if status in (301, 302, 307):
                self.send_header("Location", "http://127.0.0.1:1/elsewhere")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/prometheus", recorded, replies
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


VECTOR_W1 = (
    b'{"status":"success","data":{"resultType":"vector",'
    b'"result":[{"metric":{"workload":"w1"},"value":[1,"1"]}]}}'
)


def test_request_carries_basic_auth_and_tenant_header(
    scripted: tuple[str, Recorded, list[tuple[int, bytes]]],
) -> None:
    url, recorded, replies = scripted
    replies.append((200, VECTOR_W1))
    result = check_receiving(url, ["w1", "w1"], username=USERNAME, password=PASSWORD, tenant_header=True)
    assert result.passed
    headers = recorded.headers[0]
    assert headers["authorization"] == basic_auth_header(USERNAME, PASSWORD)
    assert headers["x-scope-orgid"] == "w1"
    assert b"query=group+by+%28workload%29" in recorded.bodies[0]


def test_tenant_header_lists_every_workload(
    scripted: tuple[str, Recorded, list[tuple[int, bytes]]],
) -> None:
    url, recorded, replies = scripted
    replies.append((200, VECTOR_W1))
    check_receiving(url, ["w1", "w2", "w3"], username="u", password="p", tenant_header=True)
    assert recorded.headers[0]["x-scope-orgid"] == "w1|w2|w3"


def test_no_tenant_header_by_default(scripted: tuple[str, Recorded, list[tuple[int, bytes]]]) -> None:
    url, recorded, replies = scripted
    replies.append((200, VECTOR_W1))
    assert check_receiving(url, ["w1"], username="u", password="p").passed
    assert "x-scope-orgid" not in recorded.headers[0]


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (200, b"<html>not json</html>", "not JSON"),
        (200, b'{"status":"success","data":{"resultType":"matrix","result":[]}}', "not an instant vector"),
        (
            200,
            b'{"status":"success","data":{"resultType":"vector","result":[{"value":[1,"1"]}]}}',
            "without a workload label",
        ),
        (
            422,
            b'{"status":"error","errorType":"execution","error":"too many\\nseries"}',
            "HTTP 422: too many series",
        ),
        (503, b"", "HTTP 503"),
        (302, b"", "HTTP 302"),
    ],
)
def test_bad_responses(
    scripted: tuple[str, Recorded, list[tuple[int, bytes]]], status: int, body: bytes, expected: str
) -> None:
    url, recorded, replies = scripted
    replies.append((status, body))
    result = check_receiving(url, ["w1"], username=USERNAME, password=PASSWORD)
    assert result.cause == "bad_response"
    assert expected in result.reason
    assert "\n" not in result.reason
    assert len(recorded.bodies) == 1  # a redirect is not followed


def test_forbidden_is_a_credentials_failure(
    scripted: tuple[str, Recorded, list[tuple[int, bytes]]],
) -> None:
    url, _, replies = scripted
    replies.append((403, b"forbidden"))
    result = check_receiving(url, ["w1"], username=USERNAME, password=PASSWORD)
    assert result.cause == "credentials"
    assert result.reason.endswith("(HTTP 403: forbidden)")


def test_password_echoed_by_the_server_is_scrubbed(
    scripted: tuple[str, Recorded, list[tuple[int, bytes]]],
) -> None:
    url, _, replies = scripted
    replies.append((400, f'{{"status":"error","error":"bad password {PASSWORD}"}}'.encode()))
    result = check_receiving(url, ["w1"], username=USERNAME, password=PASSWORD)
    assert PASSWORD not in result.reason
    assert "bad password ***" in result.reason


# --- pure parts --------------------------------------------------------------------------------


def test_no_workloads_passes_without_asking() -> None:
    result = check_receiving("http://127.0.0.1:1", [], username="u", password="p")
    assert result.passed


def test_query_shape() -> None:
    assert (
        receiving_query(["w-1", "a.b"], 300)
        == 'group by (workload) (count_over_time({workload=~"w\\\\x{2d}1|a\\\\x{2e}b"}[300000ms]))'
    )


def test_mimir_query_base() -> None:
    assert mimir_query_base("cr.example.com") == "https://mimir.cr.example.com/prometheus"


def test_url_with_credentials_is_refused_without_echoing_them() -> None:
    with pytest.raises(UserError) as caught:
        check_receiving("https://u:hunter2@mimir.example.com/prometheus", ["w"], username="u", password="p")
    assert "hunter2" not in str(caught.value)
    assert "mimir.example.com" in str(caught.value)


@pytest.mark.parametrize("url", ["ftp://mimir.example.com", "mimir.example.com/prometheus", "http://"])
def test_url_must_be_http(url: str) -> None:
    with pytest.raises(UserError, match="not an http"):
        check_receiving(url, ["w"], username="u", password="p")


def test_invalid_tenant_id_is_refused() -> None:
    with pytest.raises(UserError, match="not a valid Mimir tenant ID"):
        check_receiving("http://127.0.0.1:1", ["a|b"], username="u", password="p", tenant_header=True)


def test_invalid_label_is_refused() -> None:
    with pytest.raises(UserError, match="not a Prometheus label name"):
        check_receiving("http://127.0.0.1:1", ["w"], username="u", password="p", label="work-load")


def test_naive_since_is_refused() -> None:
    with pytest.raises(UserError, match="timezone-aware"):
        check_receiving("http://127.0.0.1:1", ["w"], username="u", password="p", since=datetime(2024, 1, 1))


def test_since_in_the_future_is_silent_without_asking() -> None:
    soon = datetime.now(UTC) + timedelta(hours=1)
    result = check_receiving("http://127.0.0.1:1", ["w1", "w2"], username="u", password="p", since=soon)
    assert result == GateResult(False, ("w1", "w2"), "silent: w1, w2 (since is in the future)", "silent")


def test_bad_lookback_is_refused() -> None:
    with pytest.raises(UserError, match="lookback: '5 minutes' is not a duration"):
        check_receiving("http://127.0.0.1:1", ["w"], username="u", password="p", lookback="5 minutes")
