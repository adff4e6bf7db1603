"""Proof ``values``: every value path fleet sets is read by the chart, so a renamed or removed key
can never be silently ignored (``gateway.enabledNonEnterprise`` on mimir-distributed 6.x was).

A path is read when the chart's own ``values.yaml`` (or a subchart's) declares it, down to a map
the chart takes whole (an empty map, a list, a scalar: ``podLabels: {}``, ``structuredConfig:
{}``). A path the chart does not declare is put to the real chart: rendered without it, and with
its value changed; when neither changes a single rendered object, nothing reads it.
"""

from __future__ import annotations

import copy
import tarfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from fleet.charts.expand import ExpandedChart
from fleet.charts.helm import load_yaml, template
from fleet.errors import OperationError
from fleet.verify.dataflow import Violation

__all__ = ["chart_defaults", "check_values", "undeclared_paths"]

_defaults: dict[Path, dict[str, Any]] = {}


def chart_defaults(archive: Path) -> dict[str, Any]:
    """The chart's ``values.yaml``, with each bundled subchart's defaults under its name
    (unless the parent already declares that key)."""
    known = _defaults.get(archive)
    if known is not None:
        return known
    parent: dict[str, Any] = {}
    subcharts: dict[str, dict[str, Any]] = {}
    with tarfile.open(archive, "r:gz") as bundle:
        for member in bundle.getmembers():
            parts = member.name.split("/")
            if parts[-1] != "values.yaml" or not member.isfile():
                continue
            handle = bundle.extractfile(member)
            if handle is None:
                continue
            document = load_yaml(handle.read().decode("utf-8")) or {}
            if len(parts) == 2:
                parent = dict(document)
            elif len(parts) == 4 and parts[1] == "charts":
                subcharts[parts[2]] = dict(document)
    for name, values in subcharts.items():
        parent.setdefault(name, values)
    _defaults[archive] = parent
    return parent


def undeclared_paths(values: Any, defaults: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """The paths of ``values`` whose last key the chart's defaults do not declare."""
    if not isinstance(values, Mapping) or not isinstance(defaults, Mapping) or not defaults:
        return
    for key, value in values.items():
        if key in defaults:
            yield from undeclared_paths(value, defaults[key], (*path, str(key)))
        else:
            yield (*path, str(key))


def _without(values: Mapping[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    changed = copy.deepcopy(dict(values))
    node: Any = changed
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return changed


def _changed(values: Mapping[str, Any], path: tuple[str, ...]) -> dict[str, Any] | None:
    """``values`` with the value at ``path`` changed (None when it has no obvious other value)."""
    changed = copy.deepcopy(dict(values))
    node: Any = changed
    for key in path[:-1]:
        node = node[key]
    value = node[path[-1]]
    if isinstance(value, bool):
        node[path[-1]] = not value
    elif isinstance(value, int | float):
        node[path[-1]] = value + 1
    elif isinstance(value, str):
        node[path[-1]] = value + "-changed"
    else:
        return None
    return changed


def check_values(chart: ExpandedChart, kube_version: str) -> list[Violation]:
    """Every value path ``chart``'s values set is read by the chart (see the module's doc)."""
    defaults = chart_defaults(chart.archive)
    violations: list[Violation] = []

    def render(values: Mapping[str, Any]) -> list[Any]:
        return [
            item.manifest
            for item in template(
                chart.archive,
                release=chart.release,
                namespace=chart.namespace,
                values=values,
                kube_version=kube_version,
            )
        ]

    suspects = list(undeclared_paths(chart.values, defaults))
    if not suspects:
        return violations
    baseline = render(chart.values)
    for path in suspects:
        variants = [_without(chart.values, path), _changed(chart.values, path)]
        read = False
        for variant in variants:
            if variant is None:
                continue
            try:
                if render(variant) != baseline:
                    read = True
            except OperationError:  # the chart refuses the variant: it reads the value
                read = True
            if read:
                break
        if not read:
            violations.append(
                Violation(
                    "values",
                    f"{chart.resource} ({chart.chart} {chart.version})",
                    f"{'.'.join(path)} is not read by the chart: its values.yaml does not declare it "
                    "and the rendered objects are the same without it",
                )
            )
    return violations
