"""The local chart cache: chart archives as ``helm pull`` leaves them, one folder for all.

Layout (one flat folder, so an air-gapped site can fill it by copying files)::

    <root>/<chart>-<version>.tgz      chart archives
    <root>/index/                     cached repository indexes

The root is ``FLEET_CHART_CACHE`` when set, else ``fleet/charts`` under the user's cache
directory (``XDG_CACHE_HOME``, default ``~/.cache``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def default_cache_dir(environ: os._Environ[str] | dict[str, str] | None = None) -> Path:
    """``FLEET_CHART_CACHE``, else ``$XDG_CACHE_HOME/fleet/charts`` (``~/.cache`` by default)."""
    env = os.environ if environ is None else environ
    explicit = env.get("FLEET_CHART_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "fleet" / "charts"


def archive_name(chart: str, version: str) -> str:
    """The file name ``helm pull`` gives a chart archive."""
    return f"{chart}-{version}.tgz"


@dataclass(frozen=True)
class ChartCache:
    """Chart archives under ``root``."""

    root: Path

    def archive(self, chart: str, version: str) -> Path | None:
        """The cached archive of ``chart`` at ``version``, or None when it is not cached."""
        path = self.root / archive_name(chart, version)
        return path if path.is_file() else None

    @property
    def index_dir(self) -> Path:
        """Where cached repository indexes live."""
        return self.root / "index"
