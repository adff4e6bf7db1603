"""How a rollout looks: the plan before it runs, a live view while it runs, a summary after.

Everything is drawn from journal records (:class:`~fleet.journal.RolloutDetail`), so ``fleet
rollout watch`` in another terminal shows exactly what the coordinator's own terminal shows.
On a terminal the live view redraws in place; piped, it prints one line per stack change.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from fleet.inventory.durations import format_duration
from fleet.journal import (
    GateRecord,
    Journal,
    RolloutDetail,
    StackState,
    StackStatus,
    WaveRecord,
    WaveStatus,
    utc_now,
)
from fleet.rollout.plan import RolloutPlan

_STYLE = {
    "succeeded": "green",
    "failed": "red",
    "running": "yellow",
    "skipped": "dim",
    "cancelled": "magenta",
    "pending": "dim",
    "halted": "red",
    "paused": "yellow",
    "cancelling": "magenta",
}


def plan_table(plan: RolloutPlan) -> RenderableType:
    """The plan as people read it before confirming: the waves, then what changed per stack and
    which selected stacks are skipped because nothing changed since their last deploy."""
    policy = plan.policy
    mode = "dry run (render engine)" if plan.dry_run else f"{plan.action.value} with the {plan.engine} engine"
    header = Text(
        f"Rollout plan: {len(plan.stacks)} stacks in {len(plan.waves)} waves, {mode}\n"
        f"policy: canary {policy.canary}, wave size {policy.wave_size}, max parallel {policy.max_parallel}, "
        f"failure budget {policy.failure_budget}, bake time {policy.bake_time}, "
        f"canary bake {policy.canary_bake_time}"
    )
    table = Table(show_header=True, header_style="bold", box=None)
    table.add_column("wave")
    table.add_column("stacks")
    for wave in plan.waves:
        names = ", ".join(wave.stacks)
        if wave.name == "controlroom" and plan.controlroom_reason:
            names += f"  ({plan.controlroom_reason})"
        table.add_row(wave.name, names)
    return Group(header, table, *change_lines(plan))


def change_lines(plan: RolloutPlan) -> list[Text]:
    """``changed``/``unchanged`` lines: stacks grouped by why they run (changed fields, never
    deployed, forced) and the unchanged ones, skipped unless ``--force``."""
    planned = set(plan.stacks)
    groups: dict[str, list[str]] = {}
    for change in plan.changes:
        if change.stack not in planned or change.stack == "controlroom":
            continue  # the control room's reason is on its wave's line
        why = change.reason if change.changed else "unchanged, run with --force"
        groups.setdefault(why, []).append(change.stack)
    lines = [Text(f"{', '.join(stacks)}: {why}") for why, stacks in groups.items()]
    if plan.unchanged:
        skipped = ", ".join(plan.unchanged)
        lines.append(Text(f"unchanged since their last deploy, skipped (--force runs them): {skipped}"))
    return lines


def gate_text(gate: GateRecord) -> str:
    """A health gate's verdict in a few words: ``passed (…)``, ``failed: silent: a, b`` or
    ``skipped: dry run (…)``."""
    if gate_skipped(gate):
        return gate.reason
    if gate.passed:
        return f"passed ({gate.reason})" if gate.reason else "passed"
    return f"failed: {gate.reason}" if gate.reason else "failed"


def gate_skipped(gate: GateRecord) -> bool:
    """True when the gate did not look (a dry run, gates disabled): it passed without checking."""
    return gate.reason.startswith("skipped")


def gate_summary(gate: GateRecord) -> str:
    """The verdict in as few words as a table cell allows: ``passed``, ``failed: silent: a, b``,
    ``skipped: dry run``."""
    if gate_skipped(gate):
        return gate.reason.split(" (", 1)[0]
    return "passed" if gate.passed else gate_text(gate)


def gate_line(wave: WaveRecord) -> str | None:
    """``gate after canary: …`` once the wave's gate has a verdict, else None."""
    return None if wave.gate is None else f"gate after {wave.name}: {gate_text(wave.gate)}"


def without_stack_name(stack: str, error: str | None) -> str:
    """``error`` without a leading ``<stack>: `` (or ``organization/<project>/<stack>: ``, as
    Pulumi names it): wherever an error is shown, the stack's name is already next to it."""
    if not error:
        return ""  # most stacks: no pattern to compile (10,000 of them overflowed re's cache)
    pattern = re.compile(rf"^(?:stack )?(?:\S+/)?{re.escape(stack)}: ")
    text = error or ""
    while (match := pattern.match(text)) is not None:
        text = text[match.end() :]
    return text


def stack_error(state: StackState) -> str:
    """A stack's last error as shown next to its name (see :func:`without_stack_name`)."""
    return without_stack_name(state.stack, state.error)


def _elapsed(state: StackState, now: datetime) -> str:
    attempt = state.last_attempt
    if attempt is None:
        return ""
    end = attempt.finished_at or now
    return format_duration((end - attempt.started_at).total_seconds())


def rollout_table(
    detail: RolloutDetail, now: datetime | None = None, *, collapse: bool = True, width: int | None = None
) -> RenderableType:
    """The rollout's waves and every stack's state, with elapsed times.

    Each wave is a header line (``wave 2: failed (3 succeeded, 1 failed)``) with its stacks
    indented under it, in columns as wide as the longest name, so names and the id are never cut
    and errors wrap in what is left of ``width``. With ``collapse`` (the live view), finished
    waves show only their failed stacks, runs of succeeded or pending waves share one line, and
    skipped gates are left out: the running and failed stacks stay on screen however many
    stacks the rollout has."""
    now = now or utc_now()
    rollout = detail.rollout
    started = rollout.started_at or rollout.created_at
    elapsed = format_duration(((rollout.finished_at or now) - started).total_seconds())
    status = rollout.status.value
    dry = " (dry run)" if rollout.dry_run else ""
    title = Text.assemble(f"rollout {rollout.id}  ", (status, _STYLE.get(status, "")), f"  {elapsed}{dry}")
    if rollout.halt_reason:
        title.append(f"\n{rollout.halt_reason}")
    longest = max((len(name) for wave in detail.waves for name in wave.stacks), default=5)
    parts: list[RenderableType] = [title]
    quiet: list[WaveRecord] = []  # a run of waves that need no more than one line together

    def flush() -> None:
        if quiet:
            parts.append(_waves_line(quiet, detail))
            quiet.clear()

    for wave in detail.waves:
        states = [detail.stack(name) for name in wave.stacks]
        shown = states
        if collapse:
            shown = [s for s in states if s.status in (StackStatus.FAILED, StackStatus.RUNNING)]
            gate_quiet = wave.gate is None or gate_skipped(wave.gate)
            if not shown and gate_quiet and wave.status in (WaveStatus.SUCCEEDED, WaveStatus.PENDING):
                if quiet and quiet[-1].status is not wave.status:
                    flush()
                quiet.append(wave)
                continue
        flush()
        parts.append(_waves_line([wave], detail))
        if shown:
            parts.append(_stack_rows(shown, now, longest, width))
        if wave.gate is not None and not (collapse and gate_skipped(wave.gate)):
            style = "dim" if gate_skipped(wave.gate) else "green" if wave.gate.passed else "red"
            parts.append(Text(f"  gate: {gate_text(wave.gate)}", style))
    flush()
    return Group(*parts)


def _waves_line(waves: list[WaveRecord], detail: RolloutDetail) -> Text:
    """``wave 2: failed (3 succeeded, 1 failed)``, or for a run of waves ``waves 3-7: succeeded
    (20 succeeded)``."""
    status = waves[0].status.value
    names = waves[0].name if len(waves) == 1 else f"{waves[0].name} to {waves[-1].name}"
    counts = Counter(detail.stack(name).status.value for wave in waves for name in wave.stacks)
    if waves[0].status is WaveStatus.PENDING:
        total = sum(counts.values())
        detail_text = f"{total} stack{'s' if total != 1 else ''}"
    else:
        detail_text = ", ".join(f"{count} {name}" for name, count in counts.items())
    return Text.assemble(f"{names}: ", (status, _STYLE.get(status, "")), f" ({detail_text})")


def _stack_rows(states: list[StackState], now: datetime, longest: int, width: int | None) -> Table:
    table = Table(show_header=False, box=None, pad_edge=False, padding=(0, 2, 0, 0), width=width)
    table.add_column("indent", width=0, no_wrap=True)
    table.add_column("stack", no_wrap=True, min_width=longest)
    table.add_column("state", no_wrap=True, min_width=9)
    table.add_column("time", no_wrap=True, min_width=4)
    table.add_column("error", overflow="fold", ratio=1)
    for state in states:
        table.add_row(
            "",
            state.stack,
            Text(state.status.value, _STYLE.get(state.status.value, "")),
            _elapsed(state, now),
            stack_error(state) if state.status is StackStatus.FAILED else "",
        )
    return table


def summary_lines(detail: RolloutDetail) -> list[str]:
    """The final summary: the outcome, counts and each failed stack's error."""
    rollout = detail.rollout
    counts = ", ".join(f"{count} {status.value}" for status, count in detail.counts.items() if count)
    lines = [f"rollout {rollout.id} {rollout.status.value}: {counts or 'no stacks'}"]
    if rollout.halt_reason:
        lines.append(f"  reason: {rollout.halt_reason}")
    for state in detail.stacks:
        if state.status is StackStatus.FAILED:
            lines.append(f"  {state.stack}: {stack_error(state)}")
    lines.extend(f"  {line}" for wave in detail.waves if (line := gate_line(wave)) is not None)
    return lines


def wave_line(wave: WaveRecord) -> str:
    label = wave.name if wave.name.startswith("wave") else f"{wave.name} wave"
    return f"{label}: {wave.status.value}"


OutputTail = Callable[[StackState], Sequence[str]]
"""Returns the last lines of a stack's latest attempt output (from the journal)."""

TAIL_LINES = 10
"""How many lines of a failed stack's engine output the live view shows (``fleet logs``: all)."""


def journal_tail(journal: Journal, lines: int = TAIL_LINES) -> OutputTail:
    """An :data:`OutputTail` reading the journal: the last ``lines`` of the newest attempt."""

    def tail(state: StackState) -> Sequence[str]:
        found = journal.attempt_outputs(state.rollout_id, state.stack)
        return found[-1].output.splitlines()[-lines:] if found else []

    return tail


class RolloutView:
    """Shows a rollout as it progresses; feed it every new journal view with :meth:`update`.

    With ``output_tail``, a failed stack's last lines of engine output are shown under it.
    """

    def __init__(self, console: Console, output_tail: OutputTail | None = None) -> None:
        self.console = console
        self.output_tail = output_tail
        self._live: Live | None = None
        self._seen: dict[str, str] = {}
        self._tails: dict[tuple[str, int], Sequence[str]] = {}

    def _tail(self, state: StackState) -> Sequence[str]:
        attempt = state.last_attempt
        if self.output_tail is None or attempt is None or state.status is not StackStatus.FAILED:
            return ()
        key = (state.stack, attempt.number)
        if key not in self._tails:
            self._tails[key] = tuple(self.output_tail(state))
        return self._tails[key]

    @contextmanager
    def showing(self) -> Iterator[RolloutView]:
        """Live redrawing on a terminal, plain change lines otherwise."""
        if not self.console.is_terminal:
            yield self
            return
        with Live(console=self.console, refresh_per_second=4, transient=False) as live:
            self._live = live
            try:
                yield self
            finally:
                self._live = None

    def update(self, detail: RolloutDetail) -> None:
        if self._live is not None:
            tails = [
                Text(
                    f"{state.stack} output (last lines; all: fleet logs {state.rollout_id} {state.stack}):\n"
                    + "\n".join(f"  {line}" for line in tail),
                    style="dim",
                )
                for state in detail.stacks
                if (tail := self._tail(state))
            ]
            self._live.update(Group(rollout_table(detail), *tails))
            return
        # In journal order: a wave, its stacks, its gate; the next wave.
        for wave in detail.waves:
            if wave.status is not WaveStatus.PENDING or f"wave {wave.index}" in self._seen:
                self._print_change(f"wave {wave.index}", wave_line(wave))
            for name in wave.stacks:
                state = detail.stack(name)
                if state.status is StackStatus.PENDING and state.stack not in self._seen:
                    continue  # the plan was shown already: print only what happens
                line = f"{state.stack}: {state.status.value}"
                if state.status is StackStatus.FAILED and state.error:
                    line += f" ({stack_error(state)})"
                if self._print_change(state.stack, line):
                    for output_line in self._tail(state):
                        self.console.print(f"  | {output_line}", highlight=False, markup=False)
            gate = gate_line(wave)
            if gate is not None:
                self._print_change(f"gate {wave.index}", gate)

    def _print_change(self, key: str, line: str) -> bool:
        if self._seen.get(key) == line:
            return False
        self._seen[key] = line
        self.console.print(line, highlight=False, markup=False)
        return True
