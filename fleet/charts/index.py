"""A Helm repository's index: which chart versions it publishes, where each archive is, its digest.

A repository's ``index.yaml`` lists every version of every chart it holds (Grafana's is 4 MB).
fleet reads only the charts it installs (:data:`~fleet.inventory.models.CHARTS`) and keeps that
part in the chart cache as JSON (``index/<key>.json``), so ``fleet validate`` can answer "does the
repository publish this version?" offline and instantly.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from fleet.errors import UserError

# Every scalar as the string it is written as: a digest of digits or a version like 1.10 stays text.
_LOADER: type[yaml.BaseLoader] = getattr(yaml, "CBaseLoader", yaml.BaseLoader)
_CHART_KEY = re.compile(r"^  (?P<name>[^\s\"'#-][^:#]*?|\"[^\"]+\"|'[^']+'):\s*$")


@dataclass(frozen=True)
class ChartEntry:
    """One chart version in an index: the archive's URLs (absolute or relative) and SHA-256."""

    version: str
    urls: tuple[str, ...]
    digest: str | None = None


@dataclass(frozen=True)
class RepositoryIndex:
    """The chart versions a repository publishes, for the charts fleet asked about."""

    repository: str
    entries: Mapping[str, Mapping[str, ChartEntry]] = field(default_factory=dict)
    generated: str | None = None
    """The index's own ``generated`` timestamp, when it has one."""

    def versions(self, chart: str) -> list[str]:
        """The published versions of ``chart`` (index order: newest first, as helm writes them)."""
        return list(self.entries.get(chart, {}))

    def entry(self, chart: str, version: str) -> ChartEntry | None:
        """``chart`` at ``version``, or None when the repository does not publish it."""
        return self.entries.get(chart, {}).get(version)

    def archive_url(self, entry: ChartEntry) -> str:
        """The absolute URL of ``entry``'s archive (an index may list it relative to itself)."""
        if not entry.urls:
            raise UserError(f"{self.repository}: the index lists no URL for version {entry.version}")
        return urllib.parse.urljoin(self.repository.rstrip("/") + "/", entry.urls[0])

    def to_json(self) -> dict[str, Any]:
        return {
            "repository": self.repository,
            "generated": self.generated,
            "entries": {
                chart: {
                    version: {"urls": list(entry.urls), "digest": entry.digest}
                    for version, entry in versions.items()
                }
                for chart, versions in self.entries.items()
            },
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RepositoryIndex:
        entries = {
            chart: {
                version: ChartEntry(version, tuple(item.get("urls") or ()), item.get("digest"))
                for version, item in versions.items()
            }
            for chart, versions in data.get("entries", {}).items()
        }
        return cls(repository=data["repository"], entries=entries, generated=data.get("generated"))

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=1, sort_keys=False) + "\n"


def repository_key(repository: str) -> str:
    """A file name for ``repository``: its host and path, ``/`` as ``_``
    (``https://grafana.github.io/helm-charts`` -> ``grafana.github.io_helm-charts``)."""
    parts = urllib.parse.urlsplit(repository.rstrip("/"))
    host = parts.netloc.rpartition("@")[2]
    raw = host + parts.path
    return re.sub(r"[^A-Za-z0-9._-]", "_", raw.replace("/", "_")) or "repository"


def index_url(repository: str) -> str:
    """Where an HTTP repository's ``index.yaml`` is."""
    return repository.rstrip("/") + "/index.yaml"


def _wanted_blocks(text: str, charts: Collection[str]) -> str | None:
    """The ``entries`` of ``charts`` only, when the index has the layout ``helm repo index`` writes
    (top-level keys at column 0, one chart key per line at column 2); None otherwise.

    Parsing only these keeps reading Grafana's 4 MB index to a fraction of a second.
    """
    kept = ["entries:\n"]
    in_entries = False
    keep = False
    seen_entries = False
    for line in text.splitlines(keepends=True):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line.startswith(" "):
            in_entries = line.rstrip() == "entries:"
            seen_entries = seen_entries or in_entries
            keep = False
            continue
        if not in_entries:
            continue
        match = _CHART_KEY.match(line)
        if match:
            keep = match.group("name").strip("\"'") in charts
        if keep:
            kept.append(line)
    return "".join(kept) if seen_entries else None


def _generated(text: str) -> str | None:
    match = re.search(r"^generated:\s*\"?([^\"\n]+)\"?\s*$", text, re.MULTILINE)
    return match.group(1) if match else None


def parse_index(data: bytes, repository: str, charts: Collection[str]) -> RepositoryIndex:
    """The versions of ``charts`` that an ``index.yaml`` (``data``) publishes.

    Raises UserError (one line, naming the repository) when ``data`` is not a Helm index.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{index_url(repository)}: not a Helm repository index (not UTF-8 text)") from None
    subset = _wanted_blocks(text, charts)
    try:
        document = yaml.load(subset if subset is not None else text, Loader=_LOADER)
    except yaml.YAMLError as error:
        problem = str(error).splitlines()[0]
        raise UserError(f"{index_url(repository)}: not a Helm repository index ({problem})") from None
    raw = document.get("entries") if isinstance(document, dict) else None
    if not isinstance(document, dict) or (subset is None and not isinstance(raw, dict)):
        raise UserError(f"{index_url(repository)}: not a Helm repository index (no entries)")
    entries: dict[str, dict[str, ChartEntry]] = {}
    for chart, versions in (raw or {}).items():
        if chart not in charts or not isinstance(versions, list):
            continue
        found: dict[str, ChartEntry] = {}
        for item in versions:
            if not isinstance(item, dict) or "version" not in item:
                continue
            version = str(item["version"])
            urls = tuple(str(url) for url in item.get("urls") or ())
            digest = str(item.get("digest") or "").strip()
            found.setdefault(
                version, ChartEntry(version, urls, digest if digest not in ("", "null", "~") else None)
            )
        entries[str(chart)] = found
    generated = document.get("generated") if isinstance(document, dict) else None
    return RepositoryIndex(
        repository=repository.rstrip("/"),
        entries=entries,
        generated=str(generated) if generated else _generated(text),
    )


def published_elsewhere(
    indexes: Collection[RepositoryIndex], chart: str, version: str, *, besides: str
) -> Iterator[str]:
    """The repositories among ``indexes`` (other than ``besides``) that publish ``chart`` at ``version``."""
    for index in indexes:
        if index.repository != besides.rstrip("/") and index.entry(chart, version) is not None:
            yield index.repository
