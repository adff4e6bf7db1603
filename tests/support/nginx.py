"""A real nginx on a free loopback port running the control room's rendered gateway config, in
front of a recording upstream: the harness for proofs against the gateway (authentication,
tenancy, credential rotation, hardening).

``render_gateway_config`` renders the chart's ``tpl`` expressions of
:func:`controlroom.mimir.gateway_nginx_config` the way the chart would for a test (the upstreams
become the recording server, the listen port a free one) and points the absolute paths (pid,
temp dirs, the mounted htpasswd files) into the test's directory; nothing else changes. Every
nginx process started here is stopped by its own pid at the end of its test.
"""

from __future__ import annotations

import http.server
import shutil
import signal
import subprocess
import threading
import urllib.error
import urllib.request
from base64 import b64encode
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bcrypt
import pytest
from fleet_services import free_port, stop_process, wait_for


def htpasswd_line(user: str, password: str) -> str:
    """An htpasswd line with a bcrypt hash, as the control room writes them."""
    return f"{user}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()}\n"


def write_htpasswd(path: Path, users: Mapping[str, str]) -> None:
    """Write ``{user: password}`` as an htpasswd file, atomically (nginx reads it per request)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(htpasswd_line(user, users[user]) for user in sorted(users)))
    tmp.chmod(0o644)
    tmp.replace(path)


@dataclass
class RecordingUpstream:
    """An HTTP server that answers 200 to everything and records each request's method, path and
    headers (lower-cased names): what the gateway forwarded."""

    port: int = field(default_factory=free_port)
    requests: list[dict[str, Any]] = field(default_factory=list)
    _server: http.server.ThreadingHTTPServer | None = None

    def start(self) -> None:
        recorded = self.requests

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                recorded.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "body": body,
                    }
                )
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def render_gateway_config(template: str, *, directory: Path, port: int, upstream_port: int) -> str:
    """``template`` (the gateway's nginx.conf with the chart's ``tpl`` expressions) as the chart
    would render it, with every upstream the recording server and every path under ``directory``."""
    text = template
    text = text.replace('{{ include "mimir.serverHttpListenPort" . }}', str(port))
    text = text.replace(
        '{{ template "mimir.fullname" . }}-distributor-headless.{{ .Release.Namespace }}'
        ".svc.{{ .Values.global.clusterDomain }}",
        "127.0.0.1",
    )
    text = text.replace(
        '{{ template "mimir.fullname" . }}-query-frontend.{{ .Release.Namespace }}'
        ".svc.{{ .Values.global.clusterDomain }}",
        "127.0.0.1",
    )
    text = text.replace(
        "{{ .Values.global.dnsService }}.{{ .Values.global.dnsNamespace }}"
        ".svc.{{ .Values.global.clusterDomain }}",
        "127.0.0.1",
    )
    # The upstreams listen on the gateway's port in the cluster; here on the recording server's.
    text = text.replace(f"http://$distributor:{port}", f"http://$distributor:{upstream_port}")
    text = text.replace(f"http://$query_frontend:{port}", f"http://$query_frontend:{upstream_port}")
    text = text.replace(f"listen [::]:{port};", "")
    text = text.replace("listen " + str(port) + ";", f"listen 127.0.0.1:{port};")
    text = text.replace("/tmp/", f"{directory}/tmp/").replace("/etc/nginx/", f"{directory}/etc/")
    assert "{{" not in text, "a chart template expression was left unrendered"
    return text


@dataclass
class Gateway:
    """The gateway's nginx (``port``) in front of ``upstream``; htpasswd files under ``etc``."""

    directory: Path
    upstream: RecordingUpstream
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def etc(self) -> Path:
        """Where ``/etc/nginx/`` of the gateway's pod is (``secrets/.htpasswd``, ``reader/...``)."""
        return self.directory / "etc"

    def start(self, template: str) -> None:
        binary = shutil.which("nginx")
        if binary is None:
            pytest.skip("nginx is not installed (apt-get install nginx)")
        (self.directory / "tmp").mkdir(parents=True, exist_ok=True)
        self.etc.mkdir(parents=True, exist_ok=True)
        self.directory.chmod(0o755)
        config = render_gateway_config(
            template, directory=self.directory, port=self.port, upstream_port=self.upstream.port
        )
        # As root, nginx's workers run as nobody: keep the directories they read open to them.
        config = "user root;\n" + config.replace("worker_processes  5;", "worker_processes  1;")
        conf = self.directory / "nginx.conf"
        conf.write_text(config)
        check = subprocess.run(
            [binary, "-t", "-p", str(self.directory), "-c", str(conf)], capture_output=True
        )
        assert check.returncode == 0, check.stderr.decode()
        with (self.directory / "nginx.log").open("ab") as log:
            self.process = subprocess.Popen(
                [binary, "-p", str(self.directory), "-c", str(conf), "-g", "daemon off;"],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_for(self._ready, f"nginx on port {self.port}", timeout=30)

    def _ready(self) -> bool:
        assert self.process is not None and self.process.poll() is None, self.log()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/ready", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def log(self) -> str:
        path = self.directory / "nginx.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def push(self, user: str, password: str, *, tenant: str | None = None) -> int:
        """POST a remote-write body to ``/api/v1/push`` as ``user``; the HTTP status."""
        headers = {"Authorization": "Basic " + b64encode(f"{user}:{password}".encode()).decode()}
        if tenant is not None:
            headers["X-Scope-OrgID"] = tenant
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/api/v1/push",
            data=b"snappy-protobuf",
            headers=headers,
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return int(response.status)
        except urllib.error.HTTPError as error:
            return int(error.code)

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, signal.SIGTERM)
            self.process = None


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    """A not yet started gateway (``gateway.start(template)``) with its recording upstream."""
    upstream = RecordingUpstream()
    upstream.start()
    found = Gateway(tmp_path / "gateway", upstream)
    try:
        yield found
    finally:
        found.stop()
        upstream.stop()
