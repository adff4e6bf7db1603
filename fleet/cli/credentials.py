"""``fleet credentials rotate``: new central passwords for workloads, with no rejected write."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from fleet.cli.app import HelpGroup, app, state
from fleet.cli.confirm import YES_OPTION, confirm
from fleet.cli.help import examples
from fleet.cli.output import OUTPUT_OPTION, Output, console, emit
from fleet.errors import UserError

if TYPE_CHECKING:
    from rich.console import RenderableType

    from fleet.rollout.rotation import RotationPreview

credentials_app = typer.Typer(
    cls=HelpGroup,
    help="Rotate the workloads' central credentials.",
    epilog=examples("fleet credentials rotate payments-prod", "fleet credentials rotate --all"),
    no_args_is_help=True,
)
app.add_typer(credentials_app, name="credentials")


@credentials_app.command(
    "rotate",
    epilog=examples(
        "fleet credentials rotate payments-prod   # one workload (asks first)",
        "fleet credentials rotate --all --yes     # every workload; --yes without a terminal",
        "fleet credentials rotate                 # continue a rotation that stopped",
        "fleet credentials rotate --all --dry-run # the phases, waves and stacks; nothing changes",
    ),
)
def credentials_rotate(
    ctx: typer.Context,
    names: list[str] = typer.Argument(
        None, metavar="NAME", help="The workloads whose passwords to rotate", show_default=False
    ),
    select_all: bool = typer.Option(False, "--all", help="Rotate every workload's password"),
    yes: bool = YES_OPTION,
    dry_run: bool = typer.Option(
        False,
        "--dry-run",
        help="Show the phases, their waves and the stacks each would roll out; record and touch nothing",
    ),
    output: Output = OUTPUT_OPTION,
) -> None:
    """Give workloads new central passwords in three recorded phases: the control room accepts
    the new next to the old, the workloads switch in waves, the control room drops the old.
    A rotation that stopped (a crash, a failed wave) continues where it stopped when this is run
    again (with or without names)."""
    if dry_run:
        _show_rotation_plan(ctx, names or [], select_all, output)
        return
    if output is not Output.table:
        raise UserError("--output json|yaml goes with --dry-run (a rotation prints its progress)")
    from fleet.cli.driving import drive_shown, finish, preflight
    from fleet.journal import RolloutKind, RolloutStatus
    from fleet.journal.connect import planning_journal
    from fleet.rollout.coordinator import start_rollout
    from fleet.rollout.rotation import next_step, plan_phase, rotation_names, start_rotation
    from fleet.rollout.view import plan_table

    st = state(ctx)
    inventory = st.inventory()
    out = console()
    engine = st.settings.rollout_engine
    # Bad names are bad input, whatever the broker or the journal says (none: maybe a continuation).
    named = rotation_names(inventory, names or [], select_all) if names or select_all else None
    preflight(st, engine, instead="; or, to see its phases: --dry-run")
    # Without a journal yet there is no rotation to continue, and the journal is created only
    # once the first phase is confirmed: a "no" leaves nothing behind.
    with planning_journal(st.settings) as planning:
        step = next_step(planning.journal)
        if step is None:
            wanted = named if named is not None else rotation_names(inventory, [], select_all)
            plan = plan_phase(inventory, "accept", wanted, None, engine)
            out.print(f"Rotating the credentials of {', '.join(wanted)}: phase 1/3 accept", markup=False)
            out.print(plan_table(plan))
            confirm(f"Rotate the central passwords of {len(wanted)} workload(s)?", yes=yes)
            journal, locks = planning.record()
            rollout = start_rollout(journal, locks, plan, kind=RolloutKind.ROTATE)
            start_rotation(journal, rollout)
            detail = drive_shown(st, journal, locks, rollout.id, inventory=inventory)
            if detail.rollout.status is not RolloutStatus.SUCCEEDED:
                finish(detail)
        else:
            journal, locks = planning.record()  # the journal that holds the unfinished rotation
            out.print(
                f"Continuing the rotation {step.rotation_id} of {', '.join(step.names)} "
                f"(phase {step.phase}).",
                markup=False,
            )
        while (step := next_step(journal)) is not None:
            if step.rollout_id is None:
                assert step.phase is not None
                plan = plan_phase(inventory, step.phase, step.names, step.rotation_id, engine)
                out.print(f"Phase {step.phase} of rotation {step.rotation_id}", markup=False)
                out.print(plan_table(plan))
                rollout_id = start_rollout(journal, locks, plan, kind=RolloutKind.ROTATE).id
            else:
                rollout_id = step.rollout_id
            detail = drive_shown(st, journal, locks, rollout_id, inventory=inventory)
            if detail.rollout.status is not RolloutStatus.SUCCEEDED:
                finish(detail)
        out.print("Rotation done: only the new passwords authenticate.", markup=False)


def _show_rotation_plan(ctx: typer.Context, names: list[str], select_all: bool, output: Output) -> None:
    """``--dry-run``: what the command would do next, from the journal as it is; nothing is
    recorded (a journal that does not exist yet is not created) and no stack is touched."""
    from fleet.journal.connect import existing_journal
    from fleet.rollout.rotation import preview_rotation

    st = state(ctx)
    inventory = st.inventory()
    journal = existing_journal(st.settings)
    if journal is None:
        preview = preview_rotation(None, inventory, names, select_all)
    else:
        with journal:
            preview = preview_rotation(journal, inventory, names, select_all)
    emit({"dry_run": True, **preview.to_json()}, output, table=lambda: _rotation_table(preview))


def _rotation_table(preview: RotationPreview) -> RenderableType:
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    workloads = ", ".join(preview.names)
    if preview.rotation_id is None:
        head = f"Dry run: rotating the credentials of {workloads} would run {len(preview.phases)} phases"
    else:
        head = (
            f"Dry run: the unfinished rotation {preview.rotation_id} of {workloads} would continue "
            f"with {len(preview.phases)} phase{'s' if len(preview.phases) != 1 else ''}"
        )
    table = Table(show_header=True, header_style="bold", box=None)
    for column in ("phase", "wave", "stacks"):
        table.add_column(column)
    for phase in preview.phases:
        label = phase.label + (f" (resumes {phase.resumes})" if phase.resumes else "")
        for index, (wave, stacks) in enumerate(phase.waves):
            table.add_row(label if index == 0 else "", wave, ", ".join(stacks))
        if not phase.waves:
            table.add_row(label, "", "(nothing left to run)")
    return Group(Text(head), table, Text("Nothing was recorded and no stack was touched."))
