"""Verifying a render: every proof over every stack, and one report per stack.

By default the inventory is rendered now, by the same RenderEngine as ``fleet render``, into a
private temporary directory that is gone when the command ends: the real passwords are only in this
process's memory, never printed, and the redacted plans are also searched for them. With
``--render-dir`` (or ``--rendered``) an existing render is read instead; what its redacted values
hide cannot be proven, and the command says so (``SKIP``) without failing.
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

if TYPE_CHECKING:
    from fleet.engines.render import Plan
    from fleet.inventory.loader import Inventory


@dataclass
class StackReport:
    """What verification found for one stack: broken invariants, and those a redaction hid."""

    stack: str
    failures: list[Violation] = field(default_factory=list)
    not_proven: list[Violation] = field(default_factory=list)

    @property
    def status(self) -> str:
        if self.failures:
            return "fail"
        return "skip" if self.not_proven else "pass"

    def lines(self) -> list[str]:
        """``PASS <stack>``, or one ``FAIL``/``SKIP`` line per violation."""
        if self.status == "pass":
            return [f"PASS {self.stack}"]
        return [_line("FAIL", self.stack, v) for v in self.failures] + [
            _line("SKIP", self.stack, v) for v in self.not_proven
        ]

    def as_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "status": self.status,
            "violations": [_violation_json(v) for v in self.failures],
            "not_proven": [_violation_json(v) for v in self.not_proven],
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
) -> list[StackReport]:
    """One report per inventory stack and per stray plan, in ``stack_order`` then by name.

    ``workloads`` maps each inventory workload to its central push URL; ``leaks`` are the
    results of :func:`fleet.verify.plans.check_no_secret_leak`, added to their stacks.
    """
    results = verify_plans(plans, workloads)
    for stack, violations in check_plan_set(plans, workloads).items():
        results.setdefault(stack, []).extend(violations)
    for stack, violation in leaks or ():
        results.setdefault(stack, []).append(violation)
    ordered = [s for s in stack_order if s in results] + sorted(set(results) - set(stack_order))
    reports = []
    for stack in ordered:
        report = StackReport(stack)
        for violation in results[stack]:
            (report.not_proven if violation.redacted else report.failures).append(violation)
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
    inventory: Inventory, on_rendered: Callable[[str, Plan], None] | None = None
) -> list[StackReport]:
    """Render every stack into a private temporary directory and verify the result.

    The invariants are proven on the redacted plans, except the htpasswd (invariant 5), which is
    read from a second, unredacted render of the control room kept in memory; the redacted plans
    are then searched for the real passwords. Both renders share the control room's random
    values, and the directory (mode 0700) is deleted before this returns. ``on_rendered`` hears
    of each stack of the first render (for progress).
    """
    from fleet.engines.render import render_all, render_secrets

    shown: dict[str, dict[str, Any]] = {}

    def keep(stack: str, plan: Plan) -> None:
        shown[stack] = plan.to_json()

    with tempfile.TemporaryDirectory(prefix="fleet-verify-") as tmp:
        out = Path(tmp)
        render_all(inventory, None, out, show_secrets=False, on_rendered=on_rendered)
        redacted = read_render(out)
        secrets = render_secrets(out)
        render_all(inventory, [CONTROLROOM], out, show_secrets=True, on_rendered=keep)
    plans = {**redacted, CONTROLROOM: shown[CONTROLROOM]}
    leaks = check_no_secret_leak(redacted, secrets)
    return build_reports(plans, _central_urls(inventory), inventory.stacks(), leaks)


def verify_render(inventory: Inventory, render_dir: Path) -> list[StackReport]:
    """Verify an existing render; what its redacted values hide is reported as not proven."""
    return build_reports(read_render(render_dir), _central_urls(inventory), inventory.stacks())


def _central_urls(inventory: Inventory) -> dict[str, str]:
    return {name: inventory.workload_stack(name).push_url for name in inventory.names}
