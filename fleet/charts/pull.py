"""Filling the chart cache: from each chart's repository (HTTP or OCI), or from a folder of archives.

Nothing here runs unless a user asks (``fleet charts pull``): planning and rendering read the
cache only. Every network call has a timeout; a repository that cannot be reached is one line
(:class:`RepositoryUnreachable`, exit 1), and an archive lands in the cache only whole and checked
(see :meth:`~fleet.charts.cache.ChartCache.store`).
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from fleet.charts.cache import ChartCache, archive_name
from fleet.charts.helm import helm_binary
from fleet.charts.index import RepositoryIndex, index_url, parse_index, repository_key
from fleet.charts.needs import ChartNeed, unpublished
from fleet.errors import InvalidInventory, OperationError, UserError
from fleet.http import describe, one_line, without_userinfo
from fleet.inventory.models import CHARTS, DEFAULT_REPOSITORIES

DEFAULT_TIMEOUT = 30.0
"""Seconds each request (or ``helm pull``) may take."""

Report = Callable[[str], None]


class RepositoryUnreachable(OperationError):
    """A chart repository did not answer, or answered with an error. Exit code 1."""


@dataclass
class PullResult:
    """What a pull did."""

    pulled: list[ChartNeed] = field(default_factory=list)
    cached: list[ChartNeed] = field(default_factory=list)
    indexes: list[str] = field(default_factory=list)
    """The repositories whose index was fetched (or imported) into the cache."""
    imported: list[tuple[str, str]] = field(default_factory=list)
    """``--from``: the (chart, version) archives copied in."""
    missing: list[ChartNeed] = field(default_factory=list)
    """``--from``: what the inventory needs that the folder did not have."""


def _open(url: str, timeout: float) -> IO[bytes]:
    request = urllib.request.Request(url, headers={"User-Agent": "fleet"})
    shown = without_userinfo(url)
    try:
        response: IO[bytes] = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        raise RepositoryUnreachable(f"{shown}: HTTP {error.code} {one_line(str(error.reason))}") from None
    except urllib.error.URLError as error:
        raise RepositoryUnreachable(f"cannot reach {shown}: {describe(error.reason)}") from None
    except (TimeoutError, OSError) as error:
        raise RepositoryUnreachable(f"cannot reach {shown}: {describe(error)}") from None
    return response


def fetch_index(repository: str, *, timeout: float = DEFAULT_TIMEOUT) -> RepositoryIndex:
    """Download and read an HTTP repository's ``index.yaml`` (fleet's charts only)."""
    url = index_url(repository)
    with _open(url, timeout) as response:
        try:
            data = response.read()
        except (TimeoutError, OSError) as error:
            raise RepositoryUnreachable(f"cannot read {without_userinfo(url)}: {describe(error)}") from None
    return parse_index(data, repository, set(CHARTS.values()))


def _download(url: str, cache: ChartCache, need: ChartNeed, digest: str | None, timeout: float) -> Path:
    with cache.partial(archive_name(need.chart, need.version)) as (handle, tmp):
        with _open(url, timeout) as response:
            try:
                shutil.copyfileobj(response, handle)
            except (TimeoutError, OSError) as error:
                raise RepositoryUnreachable(
                    f"cannot download {without_userinfo(url)}: {describe(error)}; nothing was stored"
                ) from None
        handle.flush()
        os.fsync(handle.fileno())
        handle.close()
        return cache.store(need.chart, need.version, tmp, digest=digest)


def pull_oci(need: ChartNeed, cache: ChartCache, *, timeout: float = DEFAULT_TIMEOUT) -> Path:
    """``helm pull oci://…/<chart> --version V`` into a private folder of the cache, then into place."""
    reference = f"{need.repository.rstrip('/')}/{need.chart}"
    folder = cache.temporary_folder()
    try:
        command = [
            helm_binary(),
            "pull",
            reference,
            "--version",
            need.version,
            "--destination",
            str(folder),
        ]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise RepositoryUnreachable(f"helm pull {reference}: timed out after {timeout:g}s") from None
        if done.returncode != 0:
            detail = one_line(done.stderr.strip().removeprefix("Error: ")) or f"exit {done.returncode}"
            raise RepositoryUnreachable(f"helm pull {reference} --version {need.version}: {detail}")
        pulled = folder / archive_name(need.chart, need.version)
        if not pulled.is_file():
            raise RepositoryUnreachable(f"helm pull {reference}: left no {pulled.name}")
        return cache.store(need.chart, need.version, pulled)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def pull(
    needs: Iterable[ChartNeed],
    cache: ChartCache,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    refresh: bool = False,
    report: Report = lambda line: None,
) -> PullResult:
    """Download every chart version in ``needs`` that the cache lacks.

    Indexes come first, for every HTTP repository something is missing from (``refresh``: every
    one ``needs`` names); a version that a repository does not publish stops the pull before any
    archive is downloaded (:class:`InvalidInventory`, exit 2, naming where the inventory asks for it).
    """
    result = PullResult()
    wanted = list(needs)
    missing: list[ChartNeed] = []
    for need in wanted:
        (result.cached if cache.archive(need.chart, need.version) else missing).append(need)
    indexes: dict[str, RepositoryIndex] = {}
    asked = wanted if refresh else missing
    for repository in dict.fromkeys(n.repository for n in asked if not n.repository.startswith("oci://")):
        report(f"fetching the index of {without_userinfo(repository)}")
        indexes[repository] = fetch_index(repository, timeout=timeout)
        cache.write_index(indexes[repository])
        result.indexes.append(repository)
    known = cache.indexes()
    problems = [
        line
        for need in asked
        if need.repository in indexes
        for line in unpublished(need, indexes[need.repository], known)
    ]
    if problems:
        raise InvalidInventory(problems)
    for number, need in enumerate(missing, 1):
        report(f"[{number}/{len(missing)}] pulling {need.label} from {without_userinfo(need.repository)}")
        if need.repository.startswith("oci://"):
            pull_oci(need, cache, timeout=timeout)
        else:
            index = indexes[need.repository]
            entry = index.entry(need.chart, need.version)
            assert entry is not None  # checked above
            _download(index.archive_url(entry), cache, need, entry.digest, timeout)
        result.pulled.append(need)
    return result


def _snapshot(folder: Path, repository: str) -> RepositoryIndex | None:
    """``repository``'s index among the files of ``folder``, if it has one."""
    key = repository_key(repository)
    cached = folder / f"{key}.json"
    if cached.is_file():
        try:
            return RepositoryIndex.from_json(json.loads(cached.read_text(encoding="utf-8")))
        except (ValueError, KeyError, AttributeError) as error:
            raise UserError(f"{cached}: not a fleet index ({error})") from None
    for suffix, decode in ((".yaml", bytes), (".yaml.gz", gzip.decompress)):
        path = folder / f"{key}{suffix}"
        if path.is_file():
            try:
                data = decode(path.read_bytes())
            except (OSError, EOFError) as error:
                raise UserError(f"{path}: unreadable ({error})") from None
            return parse_index(data, repository, set(CHARTS.values()))
    return None


def import_from(
    directory: Path,
    cache: ChartCache,
    needs: Collection[ChartNeed],
    *,
    report: Report = lambda line: None,
) -> PullResult:
    """Copy every ``<chart>-<version>.tgz`` in ``directory`` into the cache (each checked to hold
    that chart and version), and the index snapshots in ``directory/index`` of the repositories
    the inventory uses (``<key>.yaml``, ``<key>.yaml.gz`` or a fleet cache's ``<key>.json``)."""
    if not directory.is_dir():
        raise UserError(f"--from {directory}: no such directory")
    result = PullResult()
    for path in sorted(directory.glob("*.tgz")):
        chart, version, _stored = cache.import_archive(path)
        report(f"imported {chart} {version}")
        result.imported.append((chart, version))
    repositories = dict.fromkeys([*(n.repository for n in needs), *DEFAULT_REPOSITORIES.values()])
    for repository in repositories:
        index = _snapshot(directory / "index", repository)
        if index is not None:
            cache.write_index(index)
            report(f"imported the index of {without_userinfo(repository)}")
            result.indexes.append(repository)
    for need in needs:
        if cache.archive(need.chart, need.version) is None:
            result.missing.append(need)
        else:
            result.cached.append(need)
    return result
