"""The chart archives a real deploy installs from: the chart cache's, when it holds them.

``fleet render`` and ``fleet verify`` expand the chart archives of the cache; a deploy that let the
Pulumi provider's Helm download each chart from its repository could install something else than
what was verified (a re-published version, a different mirror), and could not run where the
repositories are out of reach. So the Pulumi engine hands each program the cached archive of every
chart version its stack installs (``helm.v4.Chart``'s ``chart`` is then that file's path): the
file ``fleet verify`` expanded, accepted by the same rule (its own ``Chart.yaml`` names the chart
and version of its file name; ``fleet charts pull`` checked its digest against the repository's
index when it stored it). Each deploy records the SHA-256 of every archive it installed in its
attempt's summary, so the journal says which bytes went out.

A cached archive that is not the chart version it is named after fails the stack: it is never
replaced by a download behind the user's back. A chart that is not cached at all installs from
its repository, as before the cache existed, unless ``FLEET_CHARTS_OFFLINE`` is set: then it fails
the stack, naming the pull command.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from fleet.charts.cache import ChartCache, archive_name, chart_metadata, sha256_file
from fleet.errors import OperationError, UserError
from fleet.http import without_userinfo


class CachedChartMismatch(OperationError):
    """A cached archive is not the chart version it is named after."""


class ChartNotCachedOffline(OperationError):
    """A chart version a stack installs is not cached, and ``FLEET_CHARTS_OFFLINE`` forbids the
    repository."""


@dataclass(frozen=True)
class ChartInstall:
    """One chart a stack installs."""

    component: str
    chart: str
    version: str
    repository: str


@dataclass(frozen=True)
class ChartOrigin:
    """Where a deploy takes one chart from: a cached archive (with its SHA-256), or the repository."""

    install: ChartInstall
    archive: Path | None = None
    sha256: str | None = None

    def describe(self) -> str:
        """``mimir-distributed-6.0.0.tgz sha256:…`` or ``mimir-distributed 6.0.0 from <repository>``."""
        if self.archive is not None:
            return f"{self.archive.name} sha256:{self.sha256}"
        return f"{self.install.chart} {self.install.version} from {without_userinfo(self.install.repository)}"


def checked_archive(cache: ChartCache, chart: str, version: str) -> Path | None:
    """The cached archive of ``chart`` at ``version``, or None when the cache does not hold it.
    Raises CachedChartMismatch when the archive is not that chart version."""
    archive = cache.archive(chart, version)
    if archive is None:
        return None
    fix = f"delete {archive} and run `fleet charts pull`"
    try:
        found = chart_metadata(archive)
    except UserError as error:
        raise CachedChartMismatch(f"{error.message.removesuffix('; nothing was stored')}; {fix}") from None
    if found != (chart, version):
        raise CachedChartMismatch(
            f"{archive}: the archive holds {found[0]} {found[1]}, not {chart} {version}; {fix}"
        )
    return archive


def chart_origins(cache: ChartCache, charts: Iterable[ChartInstall], *, offline: bool) -> list[ChartOrigin]:
    """Where each of ``charts`` comes from: its checked cached archive, else its repository.
    ``offline``: every chart must be cached (ChartNotCachedOffline otherwise). Raises
    CachedChartMismatch."""
    origins = []
    for install in charts:
        archive = checked_archive(cache, install.chart, install.version)
        if archive is not None:
            origins.append(ChartOrigin(install, archive.resolve(), sha256_file(archive)))
        elif offline:
            raise ChartNotCachedOffline(
                f"chart {install.chart} {install.version} ({archive_name(install.chart, install.version)}) "
                f"is not in the chart cache {cache.root} and FLEET_CHARTS_OFFLINE forbids its repository; "
                "run `fleet charts pull` (or `fleet charts pull --from DIR`) where the stacks run"
            )
        else:
            origins.append(ChartOrigin(install))
    return origins


def local_archives(origins: Iterable[ChartOrigin]) -> dict[str, str]:
    """Per component, the absolute path of the archive to install it from (what the programs
    take); components that come from their repository are left out."""
    return {o.install.component: str(o.archive) for o in origins if o.archive is not None}
