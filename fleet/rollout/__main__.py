"""The detached coordinator: ``python -m fleet.rollout [--after-pid PID] ROLLOUT_ID``.

``fleet rollout --detach`` records and locks the rollout, starts this in a new session, hands its
stack locks over to it (``--lock-token``: this process holds them from then on, so there is no
moment when nobody does) and exits; this waits for that CLI process to be gone, then drives the
rollout with the hooks its record calls for (an upgrade keeps its health gates and maintenance
window). Settings come from the environment (``FLEET_*``).
"""

from __future__ import annotations

import argparse
import sys
import time

from rich.console import Console

from fleet.errors import FleetError, UserError, report_lines
from fleet.journal.connect import open_journal
from fleet.journal.locks import adopt_process_token, pid_is_alive
from fleet.logs import configure_logging, level_for
from fleet.rollout.driver import drive, exit_code
from fleet.rollout.view import RolloutView, summary_lines
from fleet.settings import Settings

PARENT_EXIT_TIMEOUT = 60.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fleet.rollout", description=__doc__)
    parser.add_argument("rollout_id")
    parser.add_argument("--after-pid", type=int, default=None, help="wait for this process to exit first")
    parser.add_argument("--lock-token", default=None, help="the holder token the locks were handed to")
    args = parser.parse_args(argv)
    if args.lock_token:
        adopt_process_token(args.lock_token)
    if args.after_pid is not None:
        deadline = time.monotonic() + PARENT_EXIT_TIMEOUT
        while pid_is_alive(args.after_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
    console = Console(width=200)
    try:
        # Read as the CLI reads them: a bad FLEET_* value is one line and exit 2, not a traceback.
        settings = Settings.from_environment()
        try:
            configure_logging(level_for(settings.log_level))
        except ValueError as error:
            raise UserError(f"FLEET_LOG_LEVEL: {error}") from None
        journal, locks = open_journal(settings)
        with journal:
            detail = drive(settings, journal, locks, args.rollout_id, on_update=RolloutView(console).update)
    except FleetError as error:
        for line in report_lines(error):
            print(line, file=sys.stderr)
        return error.exit_code
    for line in summary_lines(detail):
        console.print(line, markup=False, highlight=False)
    return exit_code(detail.rollout.status)


if __name__ == "__main__":
    sys.exit(main())
