"""Verifying a render: every proof over every stack, and one report per stack.

By default the inventory is rendered now, by the same RenderEngine as ``fleet render``, into a
private temporary directory that is gone when the command ends: the real passwords are only in this
process's memory, never printed, and the redacted plans are also searched for them. With
``--render-dir`` (or ``--rendered``) an existing render is read instead; what its redacted values
hide cannot be proven, and the command says so (``SKIP``) without failing.

Each report has one line per invariant: the data path's (1-5, :mod:`fleet.verify.dataflow`) and
the rendered objects' (named, :mod:`fleet.verify.objects`).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fleet.engines.render import PLAN_FILE
from fleet.errors import UserError
from fleet.inventory.models import CONTROLROOM
from fleet.verify.dataflow import Violation
from fleet.verify.plans import check_no_secret_leak, check_plan_set, verify_plans
from fleet.verify.rendered import verify_objects

if TYPE_CHECKING:
    from fleet.engines.base import EventSink
    from fleet.engines.render import Plan
    from fleet.inventory.loader import Inventory


@dataclass
class StackReport:
    """What verification found for one stack: the invariants it proves, the broken ones, and
    those a redaction hid."""

    stack: str
    failures: list[Violation] = field(default_factory=list)
    not_proven: list[Violation] = field(default_factory=list)
    invariants: list[int | str] = field(default_factory=list)
    """Every invariant checked on this stack, in report order."""
    notes: dict[str, str] = field(default_factory=dict)
    """What a passing invariant relied on, by invariant (printed after its PASS line)."""

    @property
    def status(self) -> str:
        if self.failures:
            return "fail"
        return "skip" if self.not_proven else "pass"

    def lines(self) -> list[str]:
        """One ``PASS <stack>: invariant <name>`` line per invariant that holds, and one
        ``FAIL``/``SKIP`` line per violation of those that do not."""
        checked = list(self.invariants)
        for violation in [*self.failures, *self.not_proven]:
            if violation.invariant not in checked:
                checked.append(violation.invariant)
        lines: list[str] = []
        for invariant in checked:
            failed = [v for v in self.failures if v.invariant == invariant]
            hidden = [v for v in self.not_proven if v.invariant == invariant]
            if not failed and not hidden:
                note = self.notes.get(str(invariant))
                lines.append(f"PASS {self.stack}: invariant {invariant}" + (f" ({note})" if note else ""))
            lines += [_line("FAIL", self.stack, v) for v in failed]
            lines += [_line("SKIP", self.stack, v) for v in hidden]
        return lines

    def as_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "status": self.status,
            "invariants": [str(i) for i in self.invariants],
            "violations": [_violation_json(v) for v in self.failures],
            "not_proven": [_violation_json(v) for v in self.not_proven],
            "notes": dict(self.notes),
        }


def _line(word: str, stack: str, violation: Violation) -> str:
    return f"{word} {stack}: invariant {violation.invariant} ({violation.component}): {violation.message}"


def _violation_json(violation: Violation) -> dict[str, Any]:
    return {
        "invariant": violation.invariant,
        "component": violation.component,
        "message": violation.message,
    }


def build_reports(
    plans: Mapping[str, dict[str, Any]],
    workloads: Mapping[str, str],
    stack_order: tuple[str, ...],
    leaks: list[tuple[str, Violation]] | None = None,
    objects: Mapping[str, Mapping[str, list[Violation]]] | None = None,
    notes: Mapping[str, Mapping[str, str]] | None = None,
) -> list[StackReport]:
    """One report per inventory stack and per stray plan, in ``stack_order`` then by name.

    ``workloads`` maps each inventory workload to its central push URL; ``leaks`` are the
    results of :func:`fleet.verify.plans.check_no_secret_leak`, added to their stacks;
    ``objects`` the object proofs (:func:`fleet.verify.rendered.verify_objects`) by stack and
    invariant; ``notes`` what passing proofs relied on, by stack and invariant.
    """
    results = verify_plans(plans, workloads)
    for stack, violations in check_plan_set(plans, workloads).items():
        results.setdefault(stack, []).extend(violations)
    for stack, violation in leaks or ():
        results.setdefault(stack, []).append(violation)
    ordered = [s for s in stack_order if s in results] + sorted(set(results) - set(stack_order))
    reports = []
    for stack in ordered:
        report = StackReport(stack, notes=dict((notes or {}).get(stack, {})))
        if stack == CONTROLROOM:
            report.invariants.append(5)
        elif stack in workloads:
            report.invariants += [1, 2, 3, 4]
        for violation in results[stack]:
            (report.not_proven if violation.redacted else report.failures).append(violation)
        for invariant, violations in (objects or {}).get(stack, {}).items():
            report.invariants.append(invariant)
            report.failures += violations
        reports.append(report)
    return reports


def read_render(render_dir: Path) -> dict[str, dict[str, Any]]:
    """Every ``<render_dir>/<stack>/plan.json``, by stack (the directory's name)."""
    if not render_dir.is_dir():
        raise UserError(f"{render_dir}: no such render directory; run `fleet render` first")
    plans: dict[str, dict[str, Any]] = {}
    for plan_file in sorted(render_dir.glob(f"*/{PLAN_FILE}")):
        try:
            plan = json.loads(plan_file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise UserError(f"{plan_file}: not a readable plan ({exc})") from None
        if not isinstance(plan, dict):
            raise UserError(f"{plan_file}: not a plan (expected a JSON object)")
        plans[plan_file.parent.name] = plan
    return plans


def render_and_verify(
    inventory: Inventory,
    *,
    charts: bool = True,
    events: EventSink | None = None,
    on_rendered: Callable[[str, Plan], None] | None = None,
) -> list[StackReport]:
    """Render every stack into a private temporary directory and verify the result.

    The invariants are proven on the redacted plans, except the htpasswd (invariant 5), which is
    read from a second, unredacted render of the control room kept in memory; the redacted plans
    are then searched for the real passwords. Both renders share the control room's random
    values, and the directory (mode 0700) is deleted before this returns. With ``charts``, every
    chart is rendered with Helm and the object proofs run too (:mod:`fleet.verify.rendered`).
    ``on_rendered`` hears of each stack of the first render (for progress).
    """
    from fleet.engines.render import render_all, render_secrets

    shown: dict[str, dict[str, Any]] = {}

    def keep(stack: str, plan: Plan) -> None:
        shown[stack] = plan.to_json()

    with tempfile.TemporaryDirectory(prefix="fleet-verify-") as tmp:
        out = Path(tmp)
        render_all(inventory, None, out, show_secrets=False, events=events, on_rendered=on_rendered)
        redacted = read_render(out)
        secrets = render_secrets(out)
        # The same inventory again: its unset receiver secrets were warned about above.
        render_all(
            inventory, [CONTROLROOM], out, show_secrets=True, on_rendered=keep, warn_unset_secrets=False
        )
    plans = {**redacted, CONTROLROOM: shown[CONTROLROOM]}
    leaks = check_no_secret_leak(redacted, secrets)
    notes: dict[str, dict[str, str]] = {}
    objects = verify_objects(inventory, redacted, events=events, notes=notes) if charts else None
    return build_reports(plans, _central_urls(inventory), inventory.stacks(), leaks, objects, notes)


def verify_render(
    inventory: Inventory, render_dir: Path, *, charts: bool = True, events: EventSink | None = None
) -> list[StackReport]:
    """Verify an existing render; what its redacted values hide is reported as not proven."""
    plans = read_render(render_dir)
    notes: dict[str, dict[str, str]] = {}
    objects = verify_objects(inventory, plans, events=events, notes=notes) if charts else None
    return build_reports(plans, _central_urls(inventory), inventory.stacks(), objects=objects, notes=notes)


def _central_urls(inventory: Inventory) -> dict[str, str]:
    return {name: inventory.workload_stack(name).push_url for name in inventory.names}
