"""The malformed-input corpus (tests/support/malformed.py), every case through a real ``fleet``
process: counts how many end in one line, exit 2, nothing written. By hand; the tests run every
case in-process and a sample as processes.

    .venv/bin/python bench/malformed.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "support"))

if TYPE_CHECKING:
    # This script's own module name is the corpus's (``malformed``), so mypy, which checks
    # bench/ as top-level modules, knows the corpus by its path from the repository's root.
    from tests.support.inventories import copy_example
    from tests.support.malformed import CASES, snapshot, verdict
else:
    from inventories import copy_example
    from malformed import CASES, snapshot, verdict

FLEET = Path(sys.executable).parent / "fleet"


def main() -> int:
    failures: list[str] = []
    started = time.monotonic()
    for case in CASES:
        with tempfile.TemporaryDirectory() as directory:
            root = copy_example(Path(directory) / "inv")
            case.make(root)
            before = snapshot(root)
            done = subprocess.run(
                [str(FLEET), *case.argv(root)],
                capture_output=True,
                text=True,
                env={**os.environ, **case.env},
                timeout=120,
            )
            problem = verdict(case, done.returncode, done.stdout + done.stderr, before, root)
        if problem is not None:
            failures.append(f"{case.name} (point {case.finding}): {problem}")
    kept = len(CASES) - len(failures)
    print(
        f"{kept}/{len(CASES)} malformed inputs ({100 * kept / len(CASES):.0f}%): one line, exit 2, "
        f"nothing written ({time.monotonic() - started:.0f}s)"
    )
    for failure in failures:
        print(f"  {failure}")
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
