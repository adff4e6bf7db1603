"""What ``fleet version`` and ``fleet --version`` report: fleet's, Python's, the Pulumi SDK's and
Helm's versions, and the journal with its password masked. Imports nothing of the CLI (``app``
calls it from its ``--version`` callback)."""

from __future__ import annotations

import platform
import re
import subprocess
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fleet.settings import Settings

_PASSWORD_IN_URL = re.compile(r"(?P<head>://[^/:@]*:)[^@/]*@")


def mask_url(url: str) -> str:
    """``url`` with the password of its ``user:password@`` part replaced by ``***``."""
    return _PASSWORD_IN_URL.sub(r"\g<head>***@", url)


def helm_version() -> str:
    """The Helm binary fleet runs (FLEET_HELM, else ``helm`` on PATH, else the venv's; see
    :func:`fleet.charts.helm.helm_binary`) and its version, or ``not found``."""
    from fleet.charts.helm import helm_binary
    from fleet.errors import MissingTool

    try:
        binary = str(helm_binary())
    except MissingTool:
        return "not found (set FLEET_HELM or put helm on PATH)"
    try:
        done = subprocess.run(
            [binary, "version", "--short"], capture_output=True, text=True, timeout=10, check=False
        )
    except OSError as error:
        return f"{binary}: cannot run ({error.strerror or error})"
    except subprocess.TimeoutExpired:
        return f"{binary}: no answer to `helm version` in 10s"
    found = done.stdout.strip().splitlines()
    return f"{found[0]} ({binary})" if done.returncode == 0 and found else f"{binary}: `helm version` failed"


def _package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def version_info(settings: Settings) -> dict[str, str]:
    """fleet's, Python's, the Pulumi SDK's and Helm's versions, and the journal (password masked).

    Reads package metadata only: no Pulumi, SQLAlchemy or Celery import, nothing created on disk."""
    from fleet import __version__

    default = f"sqlite:///{(Path(settings.inventory) / '.fleet' / 'fleet.db').resolve()}"
    journal = settings.database_url or default
    return {
        "fleet": __version__,
        "python": f"{platform.python_version()} ({platform.python_implementation()})",
        "pulumi_sdk": _package_version("pulumi"),
        "helm": helm_version(),
        "journal": mask_url(journal),
    }


def version_lines(settings: Settings) -> list[str]:
    """:func:`version_info` as ``key: value`` lines."""
    return [f"{key}: {value}" for key, value in version_info(settings).items()]
