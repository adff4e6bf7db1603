"""A real Prometheus server for tests (Debian's ``prometheus`` package), fed by remote write.

Each server runs on a free loopback port with its own storage and basic auth, serving under
``/prometheus`` as Mimir does. Samples arrive through the remote-write API, encoded here by hand
(a protobuf WriteRequest in a literal-only snappy block). Rule files may be loaded, evaluated at a
test's own cadence.
"""

from __future__ import annotations

import base64
import contextlib
import json
import shutil
import socket
import ssl
import struct
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bcrypt
import pytest

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
USERNAME = "control-room"
PASSWORD = 'pa55-w0rd:with|odd"chars'

needs_prometheus = pytest.mark.skipif(
    not Path(PROMETHEUS).exists(),
    reason="the prometheus binary is not installed (apt-get install prometheus; see .ci/apt-packages.txt)",
)


# --- remote write, by hand ----------------------------------------------------------------------


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field (wire type 2)."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _write_request(series: Sequence[tuple[dict[str, str], float, int]]) -> bytes:
    """prometheus.WriteRequest{timeseries: [{labels, samples: [{value, timestamp}]}]}."""
    out = b""
    for labels, value, timestamp_ms in series:
        body = b""
        for name in sorted(labels):  # remote write requires labels sorted by name
            body += _field(1, _field(1, name.encode()) + _field(2, labels[name].encode()))
        sample = b"\x09" + struct.pack("<d", value) + b"\x10" + _varint(timestamp_ms)
        body += _field(2, sample)
        out += _field(1, body)
    return out


def _snappy_literals(data: bytes) -> bytes:
    """A valid snappy block made only of literals (no compression, which snappy allows)."""
    out = bytearray(_varint(len(data)))
    for start in range(0, len(data), 65536):
        chunk = data[start : start + 65536]
        out += bytes([61 << 2]) + struct.pack("<H", len(chunk) - 1) + chunk
    return bytes(out)


@dataclass
class PromServer:
    root: str  # http(s)://127.0.0.1:PORT
    process: subprocess.Popen[bytes]
    ca_file: str | None = None  # the server's self-signed certificate, when it serves HTTPS
    pushed: int = field(default=0)

    @property
    def context(self) -> ssl.SSLContext | None:
        return ssl.create_default_context(cafile=self.ca_file) if self.ca_file else None

    @property
    def base_url(self) -> str:
        return f"{self.root}/prometheus"

    def push(self, workloads: Sequence[str], *, age_s: float = 0.0) -> None:
        """Write one fresh sample per workload, ``age_s`` seconds old, as Alloy would."""
        self.pushed += 1
        self.write(
            [({"__name__": "up", "workload": name, "push": str(self.pushed)}, 1.0) for name in workloads],
            age_s=age_s,
        )

    def write(self, series: Sequence[tuple[dict[str, str], float]], *, age_s: float = 0.0) -> None:
        """Remote-write one sample per ``(labels, value)``, ``age_s`` seconds old."""
        stamp = int((time.time() - age_s) * 1000)
        samples = [(labels, value, stamp) for labels, value in series]
        request = urllib.request.Request(
            f"{self.base_url}/api/v1/write",
            data=_snappy_literals(_write_request(samples)),
            method="POST",
            headers={
                "Content-Encoding": "snappy",
                "Content-Type": "application/x-protobuf",
                "X-Prometheus-Remote-Write-Version": "0.1.0",
                "Authorization": basic_auth_header(USERNAME, PASSWORD),
            },
        )
        with urllib.request.urlopen(request, timeout=10, context=self.context) as response:
            assert response.status == 204

    def api(self, path: str) -> Any:
        """GET ``/prometheus/api/v1/<path>``; the ``data`` of the JSON answer."""
        request = urllib.request.Request(
            f"{self.base_url}/api/v1/{path}", headers={"Authorization": basic_auth_header(USERNAME, PASSWORD)}
        )
        with urllib.request.urlopen(request, timeout=10, context=self.context) as response:
            body = json.loads(response.read())
        assert body["status"] == "success", body
        return body["data"]


def basic_auth_header(username: str, password: str) -> str:
    """The Authorization header value of HTTP basic auth."""
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def running_prometheus(
    home: Path,
    *,
    tls: bool = False,
    rule_files: Sequence[Path] = (),
    evaluation_interval: str = "1m",
) -> Iterator[PromServer]:
    """A Prometheus on a free loopback port, serving under /prometheus with basic auth, evaluating
    ``rule_files`` every ``evaluation_interval`` (a group's own ``interval`` wins)."""
    digest = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    web = f"basic_auth_users:\n  {USERNAME}: '{digest}'\n"
    ca_file = None
    if tls:
        cert, key = _self_signed_certificate(home)
        web += f"tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n"
        ca_file = str(cert)
    (home / "web.yml").write_text(web)
    config = {
        "global": {"evaluation_interval": evaluation_interval},
        "rule_files": [str(f) for f in rule_files],
    }
    (home / "prometheus.yml").write_text(json.dumps(config) + "\n")
    port = free_port()
    root = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    with (home / "prometheus.log").open("wb") as log:
        process = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={home / 'prometheus.yml'}",
                f"--web.config.file={home / 'web.yml'}",
                f"--storage.tsdb.path={home / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                f"--web.external-url={root}/prometheus",
                "--web.route-prefix=/prometheus",
                "--web.enable-remote-write-receiver",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            server = PromServer(root, process, ca_file)
            _wait_ready(server, home / "prometheus.log")
            yield server
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _self_signed_certificate(home: Path) -> tuple[Path, Path]:
    cert, key = home / "cert.pem", home / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-nodes", "-days", "1",
            "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-keyout", str(key), "-out", str(cert),
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def _wait_ready(server: PromServer, log: Path) -> None:
    request = urllib.request.Request(
        f"{server.base_url}/-/ready", headers={"Authorization": basic_auth_header(USERNAME, PASSWORD)}
    )
    context = server.context
    for _ in range(300):
        if server.process.poll() is not None:
            pytest.fail(f"prometheus exited: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(request, timeout=1, context=context) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError):
            pass
        time.sleep(0.1)
    pytest.fail(f"prometheus did not become ready: {log.read_text()[-2000:]}")
