"""The local chart cache: chart archives as ``helm pull`` leaves them, one folder for all.

Layout (one flat folder, so an air-gapped site can fill it by copying files)::

    <root>/<chart>-<version>.tgz      chart archives
    <root>/index/<key>.json           what each repository publishes (fleet's charts only; see
                                      :mod:`fleet.charts.index`)

Every file lands by rename from a temporary file beside it, checked first (a chart archive's
``Chart.yaml`` names the chart and version of its file name, its digest matches the index's), so
a reader never sees a half-written or mislabelled archive.

The root is ``FLEET_CHART_CACHE`` when set, else ``fleet/charts`` under the user's cache
directory (``XDG_CACHE_HOME``, default ``~/.cache``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import yaml

from fleet.charts.index import RepositoryIndex, repository_key
from fleet.errors import OperationError, UserError

_ARCHIVE = re.compile(
    r"^(?P<chart>[a-z0-9]([-a-z0-9]*[a-z0-9])?)-(?P<version>v?\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?)\.tgz$"
)


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

    def archives(self) -> dict[tuple[str, str], Path]:
        """Every cached archive, by ``(chart, version)`` (from the file names)."""
        if not self.root.is_dir():
            return {}
        found: dict[tuple[str, str], Path] = {}
        for path in sorted(self.root.iterdir()):
            parsed = parse_archive_name(path.name)
            if parsed is not None and path.is_file():
                found[parsed] = path
        return found

    def _unwritable(self, error: OSError) -> OperationError:
        return OperationError(
            f"cannot write to the chart cache {self.root}: {error.strerror or error}; "
            "set FLEET_CHART_CACHE to a writable folder"
        )

    def _temporary(self, folder: Path, prefix: str) -> tuple[int, str]:
        """A new temporary file in ``folder`` (made if needed); an unwritable cache is one line."""
        try:
            folder.mkdir(parents=True, exist_ok=True)
            return tempfile.mkstemp(prefix=prefix, dir=folder)
        except OSError as error:
            raise self._unwritable(error) from None

    def temporary_folder(self) -> Path:
        """A new hidden folder in the cache, for tools that write whole files (``helm pull``)."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            return Path(tempfile.mkdtemp(prefix=".pull-", dir=self.root))
        except OSError as error:
            raise self._unwritable(error) from None

    @contextlib.contextmanager
    def partial(self, name: str) -> Iterator[tuple[IO[bytes], Path]]:
        """A temporary file in the cache (``.<name>.partial-…``), removed unless it was renamed."""
        fd, tmp = self._temporary(self.root, f".{name}.partial-")
        try:
            with os.fdopen(fd, "wb") as handle:
                yield handle, Path(tmp)
        finally:
            Path(tmp).unlink(missing_ok=True)

    def store(self, chart: str, version: str, partial: Path, *, digest: str | None = None) -> Path:
        """Move the finished download ``partial`` into place as ``chart`` at ``version``, after
        checking it is that chart's archive (and has ``digest``, when given)."""
        if digest is not None:
            actual = sha256_file(partial)
            if actual != digest.lower().removeprefix("sha256:"):
                raise OperationError(
                    f"{archive_name(chart, version)}: digest {actual} differs from the index's {digest}; "
                    "nothing was stored"
                )
        name, found = chart_metadata(partial, shown=archive_name(chart, version))
        if (name, found) != (chart, version):
            raise UserError(
                f"{archive_name(chart, version)}: the archive holds {name} {found}, "
                f"not {chart} {version}; nothing was stored"
            )
        os.chmod(partial, 0o644)
        target = self.root / archive_name(chart, version)
        os.replace(partial, target)
        return target

    def import_archive(self, source: Path) -> tuple[str, str, Path]:
        """Copy a ``<chart>-<version>.tgz`` file into the cache; returns its chart, version and path."""
        parsed = parse_archive_name(source.name)
        if parsed is None:
            raise UserError(f"{source}: not named <chart>-<version>.tgz")
        chart, version = parsed
        with self.partial(source.name) as (handle, tmp), source.open("rb") as original:
            shutil.copyfileobj(original, handle)
            handle.flush()
            os.fsync(handle.fileno())
            handle.close()
            return chart, version, self.store(chart, version, tmp)

    def index_path(self, repository: str) -> Path:
        """Where ``repository``'s index is cached."""
        return self.index_dir / f"{repository_key(repository)}.json"

    def read_index(self, repository: str) -> RepositoryIndex | None:
        """``repository``'s cached index, or None when none is cached."""
        path = self.index_path(repository)
        if not path.is_file():
            return None
        try:
            return RepositoryIndex.from_json(json.loads(path.read_text(encoding="utf-8")))
        except (ValueError, KeyError, AttributeError) as error:
            raise UserError(f"{path}: unreadable cached index ({error}); delete it and pull again") from None

    def indexes(self) -> list[RepositoryIndex]:
        """Every cached index."""
        if not self.index_dir.is_dir():
            return []
        found = []
        for path in sorted(self.index_dir.glob("*.json")):
            try:
                found.append(RepositoryIndex.from_json(json.loads(path.read_text(encoding="utf-8"))))
            except (ValueError, KeyError, AttributeError) as error:
                raise UserError(f"{path}: unreadable cached index ({error}); delete it") from None
        return found

    def write_index(self, index: RepositoryIndex) -> Path:
        """Cache ``index`` (atomically)."""
        path = self.index_path(index.repository)
        fd, tmp = self._temporary(path.parent, f".{path.name}.partial-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(index.dumps())
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        finally:
            Path(tmp).unlink(missing_ok=True)
        return path


def parse_archive_name(name: str) -> tuple[str, str] | None:
    """``(chart, version)`` of an archive file name like ``mimir-distributed-6.0.0.tgz``."""
    match = _ARCHIVE.match(name)
    return (match.group("chart"), match.group("version")) if match else None


def chart_metadata(path: Path, *, shown: str | None = None) -> tuple[str, str]:
    """``(name, version)`` from the ``Chart.yaml`` at the top of a chart archive.

    Raises UserError (naming the file, or ``shown``) when ``path`` is not a gzipped chart archive.
    """
    shown = shown or str(path)
    try:
        with tarfile.open(path, "r:gz") as archive:
            for member in archive:
                parts = member.name.split("/")
                if len(parts) == 2 and parts[1] == "Chart.yaml" and member.isfile():
                    handle = archive.extractfile(member)
                    if handle is None:
                        break
                    chart = yaml.load(handle.read(), Loader=yaml.BaseLoader)  # versions stay text
                    if isinstance(chart, dict) and chart.get("name") and chart.get("version"):
                        return str(chart["name"]), str(chart["version"])
                    break
    except (tarfile.TarError, OSError, EOFError, yaml.YAMLError) as error:
        raise UserError(f"{shown}: not a chart archive ({error}); nothing was stored") from None
    raise UserError(f"{shown}: not a chart archive (no <chart>/Chart.yaml with a name and version)")


def sha256_file(path: Path) -> str:
    """The SHA-256 of a file, hex (what a Helm index's ``digest`` holds)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
