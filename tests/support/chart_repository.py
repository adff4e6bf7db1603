"""Real chart archives for tests, and a Helm chart repository served over HTTP on loopback.

The archives and the two repository index snapshots are the shared ones :mod:`charts` finds
(``../shared/charts``, or ``FLEET_TEST_CHARTS``). Tests that need them skip with the reason where
there are none.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import hashlib
import http.server
import json
import shutil
import socket
import ssl
import subprocess
import tarfile
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from charts import SHARED_CHARTS, helm_path

from fleet.charts.index import RepositoryIndex, parse_index
from fleet.inventory.models import CHARTS, GRAFANA_COMMUNITY_REPOSITORY, GRAFANA_REPOSITORY

SNAPSHOT_FILES = {
    GRAFANA_REPOSITORY: "grafana.github.io_helm-charts.yaml.gz",
    GRAFANA_COMMUNITY_REPOSITORY: "grafana-community.github.io_helm-charts.yaml.gz",
}


def shared_charts() -> Path:
    """``../shared/charts``, or skip the test saying why."""
    if not any(SHARED_CHARTS.glob("*.tgz")):
        pytest.skip(f"no chart archives in {SHARED_CHARTS} (see the README's Charts section)")
    return SHARED_CHARTS


@functools.cache
def snapshot_index(repository: str) -> RepositoryIndex:
    """The snapshot of ``repository``'s index in ``../shared/charts/index`` (read once a session)."""
    path = shared_charts() / "index" / SNAPSHOT_FILES[repository]
    if not path.is_file():
        pytest.skip(f"no index snapshot {path}")
    return parse_index(gzip.decompress(path.read_bytes()), repository, set(CHARTS.values()))


def build_repository(target: Path, archives: Iterable[Path], *, url: str | None = None) -> Path:
    """A Helm repository folder: ``archives`` and the ``index.yaml`` that the real ``helm repo
    index`` writes for them (relative URLs, or absolute ones under ``url``)."""
    target.mkdir(parents=True, exist_ok=True)
    for archive in archives:
        shutil.copy2(archive, target / archive.name)
    helm = helm_path()
    if helm is None:
        pytest.skip("no Helm v4: set FLEET_HELM or put helm on PATH (make test installs one)")
    command = [helm, "repo", "index", str(target)]
    if url is not None:
        command += ["--url", url]
    subprocess.run(command, check=True, capture_output=True, timeout=120)
    return target


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


@contextlib.contextmanager
def serve(directory: Path) -> Iterator[str]:
    """Serve ``directory`` over HTTP on a free loopback port; yields its base URL."""
    handler = functools.partial(_Quiet, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@contextlib.contextmanager
def silent_server() -> Iterator[str]:
    """A loopback port that accepts connections and never answers; yields its base URL."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, made by the real ``openssl`` (or skip)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed (.ci/apt-packages.txt lists it)")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@contextlib.contextmanager
def oci_registry(archives: Iterable[Path], cert: Path, key: Path) -> Iterator[str]:
    """A read-only OCI registry over HTTPS on loopback holding each archive as ``charts/<chart>:<version>``
    the way ``helm push`` stores it (a Helm config blob, one chart layer); yields ``oci://…/charts``.

    Just the distribution API ``helm pull`` uses: manifests by tag or digest, and blobs."""
    objects: dict[str, tuple[bytes, str, str]] = {}  # path -> (body, content type, digest)
    for archive in archives:
        data = archive.read_bytes()
        with tarfile.open(archive) as tar:
            name = tar.getnames()[0].split("/")[0]
            member = tar.extractfile(f"{name}/Chart.yaml")
            assert member is not None
            chart = yaml.safe_load(member.read())
        config = json.dumps(chart).encode()
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {
                    "mediaType": "application/vnd.cncf.helm.config.v1+json",
                    "digest": _digest(config),
                    "size": len(config),
                },
                "layers": [
                    {
                        "mediaType": "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
                        "digest": _digest(data),
                        "size": len(data),
                    }
                ],
            }
        ).encode()
        base = f"/v2/charts/{chart['name']}"
        kind = "application/vnd.oci.image.manifest.v1+json"
        for reference in (str(chart["version"]), _digest(manifest)):
            objects[f"{base}/manifests/{reference}"] = (manifest, kind, _digest(manifest))
        for blob in (config, data):
            objects[f"{base}/blobs/{_digest(blob)}"] = (blob, "application/octet-stream", _digest(blob))

    class Registry(http.server.BaseHTTPRequestHandler):
        def _answer(self, body: bool) -> None:
            found = objects.get(self.path) if self.path != "/v2/" else (b"{}", "application/json", "")
            if found is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            data, kind, digest = found
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            if digest:
                self.send_header("Docker-Content-Digest", digest)
            self.end_headers()
            if body:
                self.wfile.write(data)

        def do_GET(self) -> None:
            self._answer(True)

        def do_HEAD(self) -> None:
            self._answer(False)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Registry)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"oci://127.0.0.1:{server.server_address[1]}/charts"
    finally:
        server.shutdown()
        server.server_close()
