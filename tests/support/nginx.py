"""A real nginx (Debian's ``nginx``) on a free loopback port, and a recording upstream server.

``run_nginx(config, workdir)`` starts ``nginx`` in the foreground with ``config`` and stops it on
exit; ``RecordingUpstream`` is an HTTP server that answers 200 to everything and records each
request it received, so a test can assert both what a client saw and what reached the backend.
``gateway_on_loopback`` turns the control room's rendered gateway nginx.conf into one that runs
here: only addresses, ports and file paths change, every location, limit and header stays.

Tests that use nginx skip with a reason where it is not installed (``.ci/apt-packages.txt``
installs it for CI).
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import bcrypt
import pytest

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)


def require_nginx() -> str:
    """The nginx binary, or skip the test with the reason."""
    if NGINX is None:
        pytest.skip("nginx is not installed (apt-get install nginx)")
    return NGINX


def write_htpasswd(path: Path, users: Mapping[str, str]) -> None:
    """Write ``{user: password}`` as an htpasswd file (bcrypt), atomically: nginx reads it per
    request."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(
        f"{user}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()}\n"
        for user, password in users.items()
    )
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s") from None
            time.sleep(0.02)


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    """The request target as the upstream received it (path and query string)."""
    headers: list[tuple[str, str]]
    body: bytes

    def header_values(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]


class RecordingUpstream:
    """An HTTP/1.1 server on 127.0.0.1 that records every request and answers 200 ``ok``."""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        records = self.requests
        lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _record(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with lock:
                    records.append(RecordedRequest(self.command, self.path, list(self.headers.items()), body))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            do_GET = do_POST = do_PUT = do_DELETE = _record

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> RecordingUpstream:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass
class NginxProcess:
    process: subprocess.Popen[bytes]
    log: Path
    """nginx's stderr: the error log and, for configs logging to /dev/stderr, the access log."""

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


@contextmanager
def run_nginx(config: str, workdir: Path, port: int) -> Iterator[NginxProcess]:
    """Run nginx with ``config`` (written to ``workdir/nginx.conf``) until the block exits.

    Checks the configuration with ``nginx -t`` first (its message becomes the failure), then waits
    until ``port`` accepts connections. As root nginx would run its workers as ``nobody``, which
    cannot read files under pytest's private temporary directories, so the workers stay root.
    """
    binary = require_nginx()
    workdir.mkdir(parents=True, exist_ok=True)
    conf = workdir / "nginx.conf"
    conf.write_text(config, encoding="utf-8")
    directives = "daemon off; master_process on; user root;"
    base = [binary, "-e", "stderr", "-p", str(workdir), "-c", str(conf)]
    check = subprocess.run([*base, "-t", "-g", directives], capture_output=True, text=True, check=False)
    if check.returncode != 0:
        raise AssertionError(f"nginx -t rejected the configuration:\n{check.stderr}")
    log = workdir / "nginx.stderr"
    with log.open("wb") as sink:
        process = subprocess.Popen([*base, "-g", directives], stdout=sink, stderr=sink)
    try:
        wait_for_port(port)
        yield NginxProcess(process, log)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def replace_each(text: str, replacements: Mapping[str, str]) -> str:
    """``text`` with every key replaced; fails when a key does not occur (the config changed shape)."""
    for old, new in replacements.items():
        if old not in text:
            raise AssertionError(f"{old!r} does not occur in the configuration")
        text = text.replace(old, new)
    return text


def gateway_on_loopback(
    config: str,
    *,
    workdir: Path,
    port: int,
    upstream_port: int,
    write_htpasswd: Path,
    reader_htpasswd_dir: Path,
    rotation_htpasswd_dir: Path,
) -> str:
    """The control room's rendered gateway nginx.conf, runnable here.

    Changes only where things are: the listen address, the cluster DNS resolver, the Mimir
    Services (all become the recording upstream), the mounted htpasswd files (the workloads',
    the reader's, the rotation's) and ``/tmp``.
    """
    from controlroom.gateway import (
        CLUSTER_DOMAIN,
        DNS_SERVICE,
        HTTP_PORT,
        READER_HTPASSWD_DIR,
        ROTATION_HTPASSWD_DIR,
        WRITE_HTPASSWD,
        upstream_host,
    )

    return replace_each(
        config,
        {
            "/tmp/": f"{workdir}/",  # first: the paths put in below may be under /tmp
            f"listen [::]:{HTTP_PORT};": "",
            f"listen {HTTP_PORT};": f"listen 127.0.0.1:{port};",
            f"resolver {DNS_SERVICE}.svc.{CLUSTER_DOMAIN}": "resolver 127.0.0.1",
            f"{upstream_host('mimir', 'distributor-headless')};": "127.0.0.1;",
            f"{upstream_host('mimir', 'query-frontend')};": "127.0.0.1;",
            f"{upstream_host('mimir', 'alertmanager-headless')};": "127.0.0.1;",
            f":{HTTP_PORT}/": f":{upstream_port}/",
            WRITE_HTPASSWD: str(write_htpasswd),
            READER_HTPASSWD_DIR: str(reader_htpasswd_dir),
            ROTATION_HTPASSWD_DIR: str(rotation_htpasswd_dir),
        },
    )
