"""What an inventory needs from the chart cache: each chart version its stacks install, where the
inventory names it (``file:line``), and the repository it comes from (``spec.charts``)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from fleet.charts.cache import ChartCache
from fleet.charts.index import RepositoryIndex, published_elsewhere
from fleet.inventory.loader import FLEET_FILE, WORKLOADS_DIR, Inventory
from fleet.inventory.models import CHARTS, COMPONENTS, CONTROLROOM
from fleet.inventory.yamlfile import YamlSyntaxError, load_document
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
    places: tuple[str, ...]
    """Where the inventory names this version: ``fleet.yaml:17: spec.versions.grafana``."""

    @property
    def label(self) -> str:
        return f"{self.chart} {self.version}"


def _line(inventory: Inventory, relative: str, path: tuple[str, ...]) -> int:
    try:
        return load_document(inventory.root / relative).line_of(path)
    except (OSError, YamlSyntaxError):
        return 1


def chart_needs(inventory: Inventory, stacks: Collection[str] | None = None) -> list[ChartNeed]:
    """The chart versions ``stacks`` install (default: every stack, and the whole version set),
    in component order, then by version."""
    wanted = inventory.stacks() if stacks is None else tuple(stacks)
    users: dict[tuple[str, str], list[str]] = {}
    places: dict[tuple[str, str], list[str]] = {}
    fleet_set = inventory.fleet.spec.versions.model_dump()
    if stacks is None:
        for component in COMPONENTS:
            users.setdefault((component, fleet_set[component]), [])
    for stack in wanted:
        for component, version in desired_versions(inventory, stack).items():
            users.setdefault((component, version), []).append(stack)
    for component, version in users:
        if version == fleet_set[component]:
            line = _line(inventory, FLEET_FILE, ("spec", "versions", component))
            places.setdefault((component, version), []).append(
                f"{FLEET_FILE}:{line}: spec.versions.{component}"
            )
    for stack in wanted:
        if stack == CONTROLROOM:
            continue
        for component, version in pinned_components(inventory, stack).items():
            if (component, version) in users:
                relative = f"{WORKLOADS_DIR}/{stack}.yaml"
                line = _line(inventory, relative, ("spec", "versions", component))
                places.setdefault((component, version), []).append(
                    f"{relative}:{line}: spec.versions.{component}"
                )
    charts = inventory.fleet.spec.charts
    needs = [
        ChartNeed(
            component=component,
            chart=CHARTS[component],
            version=version,
            repository=charts.repository(component),
            stacks=tuple(stack_users),
            places=tuple(places.get((component, version), ())),
        )
        for (component, version), stack_users in users.items()
    ]
    return sorted(needs, key=lambda need: (COMPONENTS.index(need.component), need.version))


def unpublished(need: ChartNeed, index: RepositoryIndex, known: Collection[RepositoryIndex]) -> list[str]:
    """One problem line per place that names ``need`` when ``index`` (its repository's) does not
    publish it; names the repositories among ``known`` that do."""
    if index.entry(need.chart, need.version) is not None:
        return []
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
    message = f"{need.chart} {need.version} is not published in {need.repository}{hint}"
    return [f"{place}: {message}" for place in need.places] or [f"{FLEET_FILE}:1: spec.charts: {message}"]


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
