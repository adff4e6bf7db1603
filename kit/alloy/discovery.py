"""Alloy's Kubernetes pod discovery and relabel rules, as writer blocks: what the workload's Alloy
and the hub's collector both find their scrape targets with."""

from __future__ import annotations

from collections.abc import Sequence

from kit.alloy.syntax import Block, Item
from kit.alloy.writer import attr, ref

__all__ = ["copy_label", "match", "rule", "selected_pods"]


def rule(*items: Item) -> Block:
    """One ``rule`` block of a ``discovery.relabel``."""
    return Block("rule", None, tuple(items))


def copy_label(source: str, target: str) -> Block:
    """A rule copying label ``source`` to ``target``."""
    return rule(attr("source_labels", [source]), attr("target_label", target))


def match(label: str, regex: str, action: str = "keep") -> Block:
    """A rule keeping (or, with ``action="drop"``, dropping) the targets whose ``label`` matches."""
    return rule(attr("source_labels", [label]), attr("regex", regex), attr("action", action))


def selected_pods(
    name: str, rules: Sequence[Block], *, namespaces: Sequence[str] = (), selector: str | None = None
) -> list[Block]:
    """``discovery.kubernetes`` ``name`` of the pods in ``namespaces`` (every namespace when
    empty) that ``selector`` matches (every pod when None), and ``discovery.relabel`` ``name``
    applying ``rules`` to them."""
    scope: list[Item] = [attr("role", "pod")]
    if namespaces:
        scope.append(Block("namespaces", None, (attr("names", list(namespaces)),)))
    if selector is not None:
        scope.append(Block("selectors", None, (attr("role", "pod"), attr("label", selector))))
    return [
        Block("discovery.kubernetes", name, tuple(scope)),
        Block(
            "discovery.relabel", name, (attr("targets", ref(f"discovery.kubernetes.{name}.targets")), *rules)
        ),
    ]
