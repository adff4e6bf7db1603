"""``fleet credentials rotate``: new central passwords for workloads, with no rejected write."""

from __future__ import annotations

import typer

from fleet.cli.app import HelpGroup, app, state
from fleet.cli.confirm import YES_OPTION, confirm
from fleet.cli.help import examples
from fleet.cli.output import console

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
    ),
)
def credentials_rotate(
    ctx: typer.Context,
    names: list[str] = typer.Argument(
        None, metavar="NAME", help="The workloads whose passwords to rotate", show_default=False
    ),
    select_all: bool = typer.Option(False, "--all", help="Rotate every workload's password"),
    yes: bool = YES_OPTION,
) -> None:
    """Give workloads new central passwords in three recorded phases: the control room accepts
    the new next to the old, the workloads switch in waves, the control room drops the old.
    A rotation that stopped (a crash, a failed wave) continues where it stopped when this is run
    again (with or without names)."""
    from fleet.cli.driving import drive_shown, finish, preflight
    from fleet.journal import RolloutKind, RolloutStatus
    from fleet.journal.connect import open_journal
    from fleet.rollout.coordinator import start_rollout
    from fleet.rollout.rotation import next_step, plan_phase, rotation_names, start_rotation
    from fleet.rollout.view import plan_table

    st = state(ctx)
    inventory = st.inventory()
    out = console()
    engine = st.settings.rollout_engine
    preflight(st, engine)
    journal, locks = open_journal(st.settings)
    with journal:
        step = next_step(journal)
        if step is None:
            wanted = rotation_names(inventory, names or [], select_all)
            plan = plan_phase(inventory, "accept", wanted, None, engine)
            out.print(f"Rotating the credentials of {', '.join(wanted)}: phase 1/3 accept", markup=False)
            out.print(plan_table(plan))
            confirm(f"Rotate the central passwords of {len(wanted)} workload(s)?", yes=yes)
            rollout = start_rollout(journal, locks, plan, kind=RolloutKind.ROTATE)
            start_rotation(journal, rollout)
            detail = drive_shown(st, journal, locks, rollout.id, inventory=inventory)
            if detail.rollout.status is not RolloutStatus.SUCCEEDED:
                finish(detail)
        else:
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
