"""Every chart test runs the Helm that ``make test`` installs (or FLEET_HELM, or PATH's)."""

from __future__ import annotations

import pytest
from charts import helm_path


@pytest.fixture(autouse=True)
def _helm(monkeypatch: pytest.MonkeyPatch) -> None:
    helm = helm_path()
    if helm is not None:
        monkeypatch.setenv("FLEET_HELM", helm)
