"""The chart cache and Helm for the tests that render charts for real: the shared archives
(:func:`chart_repository.shared_charts`) and the Helm fleet finds (``FLEET_HELM``, PATH, the venv's,
which ``make test`` installs). Without either, the tests that need them skip with the reason."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from chart_repository import shared_charts

from fleet.charts.helm import helm_binary
from fleet.errors import MissingTool


def require_charts() -> tuple[Path, str]:
    """(the shared chart archives, a Helm binary), or skip the test with the reason."""
    cache = shared_charts()
    try:
        helm = helm_binary()
    except MissingTool as exc:
        pytest.skip(exc.message)
    return cache, str(helm)


@contextmanager
def real_charts() -> Iterator[Path]:
    """FLEET_CHART_CACHE and FLEET_HELM set to the shared archives and a Helm, for a block
    (module-scoped fixtures use it; a test can use ``monkeypatch`` instead)."""
    cache, helm = require_charts()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FLEET_CHART_CACHE", str(cache))
        patch.setenv("FLEET_HELM", helm)
        yield cache
