"""``python -m fleet``: the ``fleet`` command, for when the console script is not on PATH
(and for the processes fleet spawns itself, which run with the same interpreter)."""

from fleet.cli.main import run

if __name__ == "__main__":
    run()
