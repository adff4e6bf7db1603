"""The real chart archives and a Helm v4 binary, for the tests that render charts for real.

The archives are the project's shared offline copies (``../shared/charts`` beside the project,
see its README; ``FLEET_TEST_CHARTS`` to point elsewhere); Helm is ``FLEET_HELM``, ``helm`` on
PATH, or the one ``make test`` installs into the virtualenv. Without either, the tests that need
them skip with the reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

_PROJECT = Path(__file__).resolve().parents[2]


def _origin() -> Path | None:
    """The checkout this one was cloned from, when that is a folder on this machine."""
    try:
        done = subprocess.run(
            ["git", "-C", str(_PROJECT), "config", "--get", "remote.origin.url"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    url = done.stdout.strip().removeprefix("file://")
    return Path(url) if url.startswith("/") else None


def _shared_charts() -> Path:
    """``FLEET_TEST_CHARTS``, else ``../shared/charts`` beside the project (or one level further
    up, for a git worktree kept in a folder beside the main checkout), else beside the checkout
    this one was cloned from (a fresh clone in /tmp, as CI makes)."""
    explicit = os.environ.get("FLEET_TEST_CHARTS")
    if explicit:
        return Path(explicit)
    roots = [_PROJECT, _PROJECT.parent]
    origin = _origin()
    if origin is not None:
        roots += [origin, origin.parent]
    candidates = [root.parent / "shared" / "charts" for root in roots]
    return next((path for path in candidates if path.is_dir()), candidates[0])


SHARED_CHARTS = _shared_charts()
"""The shared chart archives."""


def helm_path() -> str | None:
    """A Helm binary: FLEET_HELM, else helm on PATH, else the virtualenv's."""
    explicit = os.environ.get("FLEET_HELM")
    if explicit:
        return explicit
    found = shutil.which("helm")
    if found:
        return found
    beside = Path(sys.executable).parent / "helm"
    return str(beside) if beside.is_file() else None


def require_charts() -> tuple[Path, str]:
    """(chart cache, helm) or skip the test with the reason."""
    if not any(SHARED_CHARTS.glob("*.tgz")):
        pytest.skip(f"no chart archives in {SHARED_CHARTS} (see its README)")
    helm = helm_path()
    if helm is None:
        pytest.skip("no Helm v4: set FLEET_HELM or put helm on PATH (make test installs one)")
    return SHARED_CHARTS, helm


@contextmanager
def real_charts() -> Iterator[Path]:
    """FLEET_CHART_CACHE and FLEET_HELM set to the shared archives and a Helm, for a block
    (module-scoped fixtures use it; a test can use ``monkeypatch`` instead)."""
    cache, helm = require_charts()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FLEET_CHART_CACHE", str(cache))
        patch.setenv("FLEET_HELM", helm)
        yield cache
