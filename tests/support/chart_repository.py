"""Real chart archives for tests, and a Helm chart repository served over HTTP on loopback.

The archives and the two repository index snapshots live in ``../shared/charts`` (relative to the
project root; see its README), or where ``FLEET_TEST_CHARTS`` says (a git worktree elsewhere).
Tests that need them skip with the reason where there is none.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import http.server
import os
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from fleet.charts.helm import helm_binary
from fleet.charts.index import RepositoryIndex, parse_index
from fleet.inventory.models import CHARTS, GRAFANA_COMMUNITY_REPOSITORY, GRAFANA_REPOSITORY

PROJECT = Path(__file__).resolve().parents[2]
SHARED_CHARTS = Path(os.environ.get("FLEET_TEST_CHARTS") or PROJECT.parent / "shared" / "charts")
"""``../shared/charts`` (or ``FLEET_TEST_CHARTS``): real chart archives and index snapshots (read-only)."""

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
    command = [str(helm_binary()), "repo", "index", str(target)]
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
