"""The ``fleet`` command: the app (:mod:`fleet.cli.app`) with every command group registered.

Each command module adds its commands to the app when imported, in the order ``fleet --help``
lists them. Importing one is cheap (no Pulumi, no Celery, no SQLAlchemy): each imports what it
needs when it runs, so ``fleet --help`` stays fast.
"""

from __future__ import annotations

import importlib
import sys

from fleet import forkserver
from fleet.cli.app import app, run_as_process

COMMAND_MODULES = (
    "inventory",  # init, validate, schema
    "workload",  # workload add|list
    "render",
    "verify",
    "charts",  # charts pull|list
    "rollout",  # rollout [start]|watch|resume|cancel
    "status",  # status, history
    "logs",
    "worker",
    "upgrade",  # upgrade plan|apply|run
    "versions",
    "beat",
    "drift",
    "version",  # version, completion
    "credentials",  # credentials rotate
)

for _module in COMMAND_MODULES:
    importlib.import_module(f"fleet.cli.{_module}")


def run() -> None:
    """Console-script entry point."""
    run_as_process()
    forkserver.preload([__name__])  # a pool's processes run the `fleet` script again: cheap then
    sys.exit(app(prog_name="fleet", standalone_mode=True))
