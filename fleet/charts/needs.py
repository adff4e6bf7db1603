"""What an inventory needs from the chart cache: each chart version its stacks install, where the
inventory names it (``file:line``), and the repository it comes from (``spec.charts``)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from fleet.charts.cache import ChartCache
from fleet.charts.index import RepositoryIndex, published_elsewhere
from fleet.inventory.loader import FLEET_FILE, WORKLOADS_DIR, Inventory
from fleet.inventory.models import CHARTS, COMPONENTS, CONTROLROOM, Workload
from fleet.inventory.yamlfile import Document, DocumentError, load_document
from fleet.upgrade.skew import desired_versions, pinned_components


@dataclass(frozen=True)
class ChartNeed:
    """One chart version the inventory installs."""

    component: str
    chart: str
    version: str
    repository: str
    stacks: tuple[str, ...]
    """The stacks that install it (empty for a version-set entry no stack uses today)."""
    root: Path
    sources: tuple[tuple[str, tuple[str, ...]], ...]
    """The files (relative to ``root``) and keys that name this version."""

    @cached_property
    def places(self) -> tuple[str, ...]:
        """Where the inventory names this version: ``fleet.yaml:17: spec.versions.grafana``.

        Computed when asked (a problem to report): finding a line parses the file with the full
        loader, and a version pinned by 10,000 workloads is named in 10,000 files.
        """
        return tuple(
            f"{relative}:{_line(self.root, relative, path)}: {'.'.join(path)}"
            for relative, path in self.sources
        )

    @property
    def label(self) -> str:
        return f"{self.chart} {self.version}"


def _line(root: Path, relative: str, path: tuple[str, ...]) -> int:
    try:
        return load_document(root / relative).line_of(path)
    except (OSError, DocumentError):
        return 1


def chart_needs(inventory: Inventory, stacks: Collection[str] | None = None) -> list[ChartNeed]:
    """The chart versions ``stacks`` install (default: every stack, and the whole version set),
    in component order, then by version."""
    wanted = inventory.stacks() if stacks is None else tuple(stacks)
    users: dict[tuple[str, str], list[str]] = {}
    places: dict[tuple[str, str], list[tuple[str, tuple[str, ...]]]] = {}
    fleet_set = inventory.fleet.spec.versions.model_dump()
    if stacks is None:
        for component in COMPONENTS:
            users.setdefault((component, fleet_set[component]), [])
    for stack in wanted:
        for component, version in desired_versions(inventory, stack).items():
            users.setdefault((component, version), []).append(stack)
    for component, version in users:
        if version == fleet_set[component]:
            places.setdefault((component, version), []).append((FLEET_FILE, ("spec", "versions", component)))
    for stack in wanted:
        if stack == CONTROLROOM:
            continue
        for component, version in pinned_components(inventory, stack).items():
            if (component, version) in users:
                relative = f"{WORKLOADS_DIR}/{stack}.yaml"
                places.setdefault((component, version), []).append(
                    (relative, ("spec", "versions", component))
                )
    charts = inventory.fleet.spec.charts
    needs = [
        ChartNeed(
            component=component,
            chart=CHARTS[component],
            version=version,
            repository=charts.repository(component),
            stacks=tuple(stack_users),
            root=inventory.root,
            sources=tuple(places.get((component, version), ())),
        )
        for (component, version), stack_users in users.items()
    ]
    return sorted(needs, key=lambda need: (COMPONENTS.index(need.component), need.version))


def unpublished(need: ChartNeed, index: RepositoryIndex, known: Collection[RepositoryIndex]) -> list[str]:
    """One problem line per place that names ``need`` when ``index`` (its repository's) does not
    publish it; names the repositories among ``known`` that do."""
    message = unpublished_message(need, index, known)
    if message is None:
        return []
    return [f"{place}: {message}" for place in need.places] or [f"{FLEET_FILE}:1: spec.charts: {message}"]


def unpublished_message(
    need: ChartNeed, index: RepositoryIndex, known: Collection[RepositoryIndex]
) -> str | None:
    """Why ``need`` cannot be installed from its repository (whose index is ``index``), with the
    fix, or None when the repository publishes it."""
    if index.entry(need.chart, need.version) is not None:
        return None
    elsewhere = sorted(published_elsewhere(known, need.chart, need.version, besides=need.repository))
    newest = index.versions(need.chart)[:3]
    if elsewhere:
        hint = (
            f"; it is published in {', '.join(elsewhere)}: "
            f"set spec.charts.{need.component}.repository in {FLEET_FILE}"
        )
    elif newest:
        hint = f"; its newest there: {', '.join(newest)}"
    else:
        hint = f"; it publishes no {need.chart} chart at all"
    return f"{need.chart} {need.version} is not published in {need.repository}{hint}"


def unpublished_problems(inventory: Inventory, cache: ChartCache) -> list[str]:
    """Every chart version the inventory names that its repository's cached index does not
    publish (repositories without a cached index are not checked: nothing is fetched)."""
    known = cache.indexes()
    problems: list[str] = []
    for need in chart_needs(inventory):
        index = cache.read_index(need.repository)
        if index is not None:
            problems.extend(unpublished(need, index, known))
    return problems


def onboarding_problems(
    inventory: Inventory, workload: Workload, where: str, doc: Document, cache: ChartCache
) -> list[str]:
    """What keeps ``workload`` (read from ``where``, parsed as ``doc``) from joining ``inventory``
    as far as charts go: every version the inventory already names that its repository does not
    publish (as ``fleet validate`` reports them), then the workload's own pins that are not.
    Repositories without a cached index are not checked: nothing is fetched."""
    problems = unpublished_problems(inventory, cache)
    known = cache.indexes()
    charts = inventory.fleet.spec.charts
    for component, version in workload.spec.versions.pinned().items():
        repository = charts.repository(component)
        index = cache.read_index(repository)
        if index is None:
            continue
        need = ChartNeed(
            component, CHARTS[component], version, repository, (workload.name,), inventory.root, ()
        )
        message = unpublished_message(need, index, known)
        if message is not None:
            line = doc.line_of(("spec", "versions", component))
            problems.append(f"{where}:{line}: spec.versions.{component}: {message}")
    return problems
